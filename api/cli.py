"""The `edsearch` command: index, watch, search, ask, serve, eval — thin over the libraries."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from argparse import SUPPRESS
from typing import Literal, get_args, get_origin

from indexer.config import Settings


def _request(model, args):
    """The request model from the parsed options (only those given: the model has the defaults)."""
    return model.parse({name: value for name, value in vars(args).items() if name in model.model_fields})


def cmd_index(args, settings: Settings) -> int:
    from indexer import build_index

    summary = build_index(args.sources, args.index, model=args.model, dtype=args.dtype, prune=args.prune,
                          settings=settings, progress=not args.quiet, engine=getattr(args, "engine", "local"),
                          ray_address=getattr(args, "ray_address", None))
    for w in summary.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(summary.describe())
    if summary.usable == 0 and not summary.removed:
        print("edsearch: error: nothing usable was indexed", file=sys.stderr)
        return 1
    return 0


def _print_applied(applied) -> None:
    """The filters a result was restricted by; dates read from the query's words on one line that says so."""
    for f in applied:
        if f.origin == "request":
            print(f"filter: {f.name} {f.value}")
    read = {f.name: f.value for f in applied if f.origin == "query"}
    if read:
        span = " to ".join(read[n] for n in ("from", "to") if n in read)
        span = span if len(read) == 2 else f"{'from' if 'from' in read else 'up to'} {span}"
        phrase = next(f.phrase for f in applied if f.origin == "query")
        print(f'dates: {span}, read from "{phrase}" in the query (--no-dates-from-query to search without it)')
    undated = next((f.undated_left_out for f in applied if f.undated_left_out), 0)
    if undated:
        print(f"note: the date filter leaves out {undated} undated article{'s' if undated != 1 else ''}")
    if applied:
        print()


def _print_hits(result) -> None:
    _print_applied(result.applied_filters)
    if not result.hits:
        print("No passages found" + (" with the filters above; leave them out to search the whole archive."
                                     if result.applied_filters else "."))
        return
    for hit in result.hits:
        print(f"[{hit.rank}] {hit.article.title}  (score {hit.score:.4f}; dense #{hit.ranks.dense or '-'}, "
              f"keyword #{hit.ranks.keyword or '-'}" + (f", answer #{hit.ranks.answer}" if hit.ranks.answer else "")
              + ")")
        print(textwrap.indent(textwrap.fill(hit.text.replace("\n\n", " ¶ "), 100), "    "))
        if hit.answer_span:
            # the sentence head's score among this passage's sentences, not ask's confidence that the archive answers
            print(textwrap.indent(textwrap.fill(f"answering sentence (sentence score {hit.answer_span.score:.2f}): "
                                                f"{hit.answer_span.text}", 100), "    > "))
        print(f"    — {hit.citation.label}; characters {hit.citation.char_start}–{hit.citation.char_end} "
              f"of article {hit.article.id}")
        if hit.citation.link:
            print(f"    {hit.citation.link}")
        if hit.duplicates:
            print(f"    also filed as: {', '.join(hit.duplicates)}")
        if hit.near_duplicates:
            print(f"    other versions: {', '.join(hit.near_duplicates)}")
        print()


def cmd_search(args, settings: Settings) -> int:
    from .request_models import SearchRequest
    from .retriever import Retriever

    result = _request(SearchRequest, args).run(Retriever(args.index, settings))
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        _print_hits(result)
    return 0


def _print_answer(ans) -> None:
    _print_applied(ans.applied_filters)
    if ans.found:
        print(textwrap.fill(ans.answer, 100))
        print(f"\n(confidence {ans.confidence:.2f}; {ans.mode})")
        if ans.removed_citations:
            print(f"removed citations to sources that were not given: "
                  f"{', '.join(f'[{n}]' for n in ans.removed_citations)}")
    else:
        print(ans.message or "No answer was found in the archive.")
    cited = {s.source for s in ans.sentences} if ans.found else set()
    if ans.sources:
        print("\nSources:" if ans.found else "\nClosest passages:")
    for n, hit in enumerate(ans.sources, 1):
        mark = "*" if n in cited else " "
        print(f"{mark}[{n}] {hit.citation.label} — {hit.article.title} (article {hit.article.id})")
    for s in ans.sentences if ans.found else []:
        print(f"    [{s.source}] para {s.paragraph}, characters {s.char_start}–{s.char_end}")


def cmd_ask(args, settings: Settings) -> int:
    from .request_models import AskRequest
    from .retriever import Retriever

    ans = _request(AskRequest, args).run(Retriever(args.index, settings))
    if args.json:
        print(ans.model_dump_json(indent=2))
    else:
        _print_answer(ans)
    return 0


def _watcher(args, settings: Settings, sources):
    from indexer.watch import Watcher

    return Watcher(sources, args.index, every=args.every, prune=args.prune, settings=settings)


def cmd_timeline(args, settings: Settings) -> int:
    from .request_models import TimelineRequest
    from .retriever import Retriever

    tl = _request(TimelineRequest, args).run(Retriever(args.index, settings))
    if args.json:
        print(tl.model_dump_json(indent=2))
        return 0
    _print_applied(tl.applied_filters)
    if not tl.buckets:
        print("No dated articles match." + (f" ({tl.undated} undated)" if tl.undated else ""))
        return 0
    top, width = max(b.count for b in tl.buckets), 50
    for b in tl.buckets:
        bar = "█" * round(width * b.count / top) if b.count else ""
        print(f"{b.period:>7}  {bar} {b.count}" if b.count else f"{b.period:>7}  ·")
    print(f"\n{tl.matched} matching articles by {tl.interval}" + (f"; {tl.undated} undated" if tl.undated else "")
          + f" (the {tl.limit} most relevant that contain a query word are counted)")
    return 0


def cmd_serve(args, settings: Settings) -> int:
    from .server import serve

    if not args.watch and (args.prune or args.every != "60s"):
        raise ValueError("--every and --prune apply to --watch SOURCE...; add it or leave them out")
    watcher = _watcher(args, settings, args.watch) if args.watch else None
    serve(args.index, args.host, args.port, settings, watch=watcher)
    return 0


def cmd_watch(args, settings: Settings) -> int:
    from indexer.watch import stop_on_signals

    watcher = _watcher(args, settings, args.sources)
    print(f"edsearch: watching {', '.join(args.sources)} every {watcher.every:g}s into {watcher.index_dir}; "
          "Ctrl-C stops it between builds", file=sys.stderr)

    def notify(message: str) -> None:   # from the signal handler: a raw write, never a buffered stream's
        os.write(sys.stderr.fileno(), f"edsearch: {message}\n".encode())

    with stop_on_signals(watcher, notify):
        watcher.run()
    print("edsearch: watch stopped; the index holds the last build it published", file=sys.stderr)
    return 0


def cmd_mcp(args, settings: Settings) -> int:
    from .mcp_server import serve_mcp

    serve_mcp(args.index, settings, args.host, args.port)
    return 0


def cmd_optimize(args, settings: Settings) -> int:
    from indexer.reader import IndexReader
    from indexer.writer import optimize

    index = args.index or settings.index
    changed = optimize(index, settings)
    reader = IndexReader(index)
    segments = reader.manifest["vectors"]["segments"]
    print(f"{'optimized' if changed else 'already optimized'}: version {reader.version}, {len(segments)} vector "
          f"segment{'s' if len(segments) != 1 else ''}, {reader.manifest['counts']['chunks']} passages")
    return 0


def cmd_eval(args, settings: Settings) -> int:
    from .evaluation import evaluate_beir, format_table

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    report = evaluate_beir(args.beir_dir, args.split, args.index, k=args.k, modes=modes, settings=settings,
                           progress=not args.quiet)
    if args.json:
        print(format_table(report), file=sys.stderr)
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_table(report))
    return 0


def with_request(sp: argparse.ArgumentParser, model, positional: str, skip: set[str] = frozenset()):
    """The request model's fields as options: the query as a positional argument, each other field as --NAME
    (its HTTP name, _ as -) with the model's description and default as help; --no-NAME for a field that is on
    by default. Options not given are left out, so the model's defaults and checks apply."""
    sp.add_argument("q", metavar=positional, help=model.model_fields["q"].description)
    for name, field in model.model_fields.items():
        if name == "q" or name in skip:
            continue
        flag = (field.alias or name).replace("_", "-")
        kind = field.annotation
        if type(None) in get_args(kind):                   # X | None: an option of type X, left out for None
            kind = next(a for a in get_args(kind) if a is not type(None))
        options = dict(dest=name, default=SUPPRESS, help=field.description)
        if kind is bool:
            if field.default:                               # the flag turns off what the description turns on
                options["help"] += " (on by default; this flag turns it off)"
            sp.add_argument(f"--no-{flag}" if field.default else f"--{flag}",
                            action="store_false" if field.default else "store_true", **options)
            continue
        if get_origin(kind) is list:
            options.update(action="append", metavar=flag.upper(), help=f"{field.description} (repeatable)")
        elif get_origin(kind) is Literal:
            options.update(choices=get_args(kind))
        else:
            options.update(type=kind, metavar=flag.upper())
        if field.get_default(call_default_factory=True) not in (None, []):
            options["help"] += f" (default: {field.default})"
        sp.add_argument(f"--{flag}", **options)
    sp.add_argument("--json", action="store_true", help="print the JSON the HTTP API returns")
    return sp


def _port(text: str) -> int:
    """--port: a TCP port, refused by argparse with a one-line message (uvicorn's bind would raise a traceback)."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number from 1 to 65535")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    from .request_models import AskRequest, SearchRequest, TimelineRequest

    p = argparse.ArgumentParser(prog="edsearch", description="Semantic search and cited Q&A over editorial archives.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_index(sp):
        sp.add_argument("--index", help="index folder (default: $EDSEARCH_INDEX or ./index)")
        return sp

    sp = with_index(sub.add_parser("index", help="index files and folders of articles"))
    sp.add_argument("sources", nargs="+", metavar="SOURCE",
                    help="files or folders (.txt .md .html .json .jsonl; .xml: WordPress exports, RSS and Atom)")
    sp.add_argument("--model", help="sentence-transformers model name or path (default: all-MiniLM-L6-v2)")
    sp.add_argument("--dtype", choices=["auto", "float32", "bfloat16"], help="encode precision (default: auto)")
    sp.add_argument("--prune", action="store_true", help="remove indexed articles whose source is gone")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.add_argument("--engine", choices=["local", "ray"], default="local",
                    help="who chunks and embeds: this process (local, default) or a Ray Data pipeline (ray; "
                         "needs pip install 'edsearch[ray]'; see docs/ray.md)")
    sp.add_argument("--ray-address", metavar="ADDRESS",
                    help="Ray cluster to run on with --engine ray, e.g. ray://head:10001 or auto "
                         "(default: $EDSEARCH_RAY_ADDRESS, else a local Ray instance)")
    sp.set_defaults(func=cmd_index)

    with_request(with_index(sub.add_parser("search", help="ranked passages with citations")), SearchRequest,
                 "query").set_defaults(func=cmd_search)
    with_request(with_index(sub.add_parser("timeline", help="matching articles per month or year, as a text "
                                           "histogram")), TimelineRequest, "query").set_defaults(func=cmd_timeline)

    sp = with_request(with_index(sub.add_parser("ask", help="a cited answer to a question, or 'not found'")),
                      AskRequest, "question", skip={"generate"})
    sp.add_argument("--extractive", dest="generate", action="store_const", const=False, default=SUPPRESS,
                    help="extractive answer even when EDSEARCH_LLM_URL is set")
    sp.set_defaults(func=cmd_ask)

    def with_watch_options(sp):
        sp.add_argument("--every", default="60s", metavar="INTERVAL",
                        help="time between checks for changes: 60s, 5m, 1h or seconds (default 60s)")
        sp.add_argument("--prune", action="store_true",
                        help="remove indexed articles whose file or feed entry is gone")
        return sp

    sp = with_index(sub.add_parser("serve", help="run the HTTP service and search page"))
    sp.add_argument("--host", help="bind address (default 127.0.0.1)")
    sp.add_argument("--port", type=_port, help="port (default 8000)")
    sp.add_argument("--watch", nargs="+", metavar="SOURCE",
                    help="also keep the index current from these files or folders (as edsearch watch does)")
    with_watch_options(sp)
    sp.set_defaults(func=cmd_serve)

    sp = with_index(sub.add_parser("mcp", help="serve the archive to AI assistants over the Model Context Protocol",
                                   description="MCP tools search, ask and get_article over stdio (the default, "
                                               "for a client that starts this command) or streamable HTTP at "
                                               "http://HOST:PORT/mcp when --port is given (then "
                                               "EDSEARCH_API_TOKEN, if set, is required as a bearer token)."))
    sp.add_argument("--host", help="bind address with --port (default 127.0.0.1)")
    sp.add_argument("--port", type=_port, help="serve streamable HTTP on this port instead of stdio")
    sp.set_defaults(func=cmd_mcp)

    sp = with_watch_options(with_index(sub.add_parser(
        "watch", help="keep an index current: re-index what changed and publish, until stopped (Ctrl-C)")))
    sp.add_argument("sources", nargs="+", metavar="SOURCE", help="files or folders, as for edsearch index")
    sp.set_defaults(func=cmd_watch)

    sp = with_index(sub.add_parser("optimize", help="merge the index's segments into one (and upgrade an index "
                                                    "written by an older edsearch)"))
    sp.set_defaults(func=cmd_optimize)

    sp = sub.add_parser("eval", help="retrieval metrics (nDCG@10, recall, MRR) on a BEIR folder")
    sp.add_argument("beir_dir", metavar="BEIR_DIR", help="folder with corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    sp.add_argument("--split", default="test", help="qrels split: train, dev or test (default: test)")
    sp.add_argument("--index", help="scratch index folder (default: a cache folder under ~/.cache/edsearch/eval)")
    sp.add_argument("--k", type=int, default=100, help="passages retrieved per query (1-100, default 100)")
    sp.add_argument("--modes", default="hybrid,dense,keyword",
                    help="comma-separated modes to evaluate: hybrid, dense, keyword (default: all three)")
    sp.add_argument("--json", action="store_true", help="print the report as JSON (the table goes to stderr)")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    sp.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    from indexer.embedding import ModelError
    from indexer.ray_engine import RayUnavailable
    from indexer.format import IndexStoreError

    from .answer_model import AnswerModelError
    from .llm import LLMError
    from .retriever import QueryError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("edsearch").setLevel(logging.INFO)
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
        return args.func(args, settings)
    except (IndexStoreError, QueryError, ModelError, ValueError, LLMError, RayUnavailable, AnswerModelError) as exc:
        print(f"edsearch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edsearch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:            # `edsearch search ... | head`: the reader left; stop quietly, as cat does
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error when Python flushes
        return 141


if __name__ == "__main__":
    sys.exit(main())
