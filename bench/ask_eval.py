"""How often the cited sources of `ask`'s answers include a relevant document (SciFact, BEIR layout).

For every query with relevance judgements in the split, `Retriever.ask(query, k)` (extractive) is run over an
index of the corpus. A query counts as a hit when the sources cited by the answer's sentences include a relevant
document. Printed: the hit rate over all queries (declined queries count as misses), over answered queries only,
the found (answered) rate, and the hit rate the best sentence would have without abstention.

    .venv/bin/python bench/ask_eval.py [--data ../shared/eval/scifact-dev] [--index /tmp/ask-scifact-index]
        [--split train] [--k 5] [--limit N] [--json]

The data is read in place (never copied into the project); the index is built on first use.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from api.answer import DEFAULT_K, Answerer, threshold  # noqa: E402
from api.evaluation import load_beir  # noqa: E402
from bench.answer_eval import open_index  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "eval" / "scifact-dev"))
    ap.add_argument("--index", default="/tmp/ask-scifact-index")
    ap.add_argument("--split", default="train")
    ap.add_argument("--k", type=int, default=DEFAULT_K)
    ap.add_argument("--limit", type=int, help="only the first N queries (by id)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    beir = load_beir(args.data, args.split)
    claims = {qid: (text, {d for d, rel in beir.qrels[qid].items() if rel > 0}) for qid, text in beir.queries.items()}
    retriever = open_index(Path(args.index), beir.corpus)
    answerer = Answerer(retriever)
    ids = sorted(claims)[: args.limit] if args.limit else sorted(claims)
    n = found = hit = hit_answered = hit_any = 0
    t0 = time.perf_counter()
    for qid in ids:
        text, rels = claims[qid]
        p = answerer.prepare(text, args.k)
        hits, ranked, conf = p.hits, p.ranked, p.confidence
        chosen = answerer.select(ranked)
        cited = {hits[c.source - 1].article.id for c in chosen}
        ok = bool(cited & rels)
        answered = conf >= threshold() and bool(chosen)
        n += 1
        hit_any += ok
        if answered:
            found += 1
            hit += ok
            hit_answered += ok
    secs = time.perf_counter() - t0
    out = {"dataset": args.data, "split": args.split, "queries": n, "k": args.k, "threshold": threshold(),
           "cited_relevant_rate": hit / n, "found_rate": found / n,
           "cited_relevant_rate_answered": hit_answered / found if found else None,
           "cited_relevant_rate_no_abstention": hit_any / n, "seconds_per_query": secs / n}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"SciFact {args.split}: {n} queries, k={args.k}, threshold {threshold()}")
        print(f"  cited sources include a relevant document: {hit / n:.3f} of all queries "
              f"(declined count as misses)")
        print(f"  ... of answered queries:                 {out['cited_relevant_rate_answered'] or 0:.3f}")
        print(f"  found (answered) rate:                    {found / n:.3f}")
        print(f"  without abstention (best sentences):      {hit_any / n:.3f}")
        print(f"  {secs / n * 1000:.0f} ms per query")
    return 0


if __name__ == "__main__":
    sys.exit(main())
