"""Should the date words that became a filter still be searched for? What "in 2004" does to a ranking.

Over the BBC News index (articles from 2004-2005, which mention those years often), for the 50 news queries of
bench/latency.py, compares the top 10 articles of the query as typed with the top 10 of the query plus a date
phrase searched as words (dates_from_query=false, so no filter: the BBC articles carry no dates). It prints the
mean overlap of the two top 10s and how many of the extra articles the date words brought in mention the year.
With a date filter in place the filter does the dating; words that still pull the ranking towards articles that
merely mention the year change which passages are shown for no benefit (docs/time.md).

    .venv/bin/python bench/date_words.py [--index DIR] [--phrase "in 2004"] [--mode hybrid]"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.latency import DEFAULT_CORPUS, QUERIES  # noqa: E402

DEFAULT_INDEX = Path("~/.cache/edsearch/bench/bbc-index").expanduser()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, default=DEFAULT_INDEX)
    ap.add_argument("--phrase", default="in 2004")
    ap.add_argument("--mode", default="hybrid")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()

    from api import Retriever
    from indexer import build_index

    build_index([DEFAULT_CORPUS], args.index, progress=False)     # a no-op when the index is up to date
    r = Retriever(args.index)
    year = "".join(ch for ch in args.phrase if ch.isdigit())
    overlaps, brought, brought_with_year, base_with_year, n_base = [], 0, 0, 0, 0
    for q in QUERIES:
        base = {h.article.id for h in r.search(q, k=args.k, mode=args.mode, dates_from_query=False).hits}
        dated = r.search(f"{q} {args.phrase}", k=args.k, mode=args.mode, dates_from_query=False)
        ids = {h.article.id for h in dated.hits}
        overlaps.append(len(base & ids) / max(1, len(base)))
        extra = ids - base
        texts = r.reader.articles(extra | base, with_text=True)
        brought += len(extra)
        brought_with_year += sum(year in texts[a]["text"] for a in extra)
        base_with_year += sum(year in texts[a]["text"] for a in base)
        n_base += len(base)
    n = len(QUERIES)
    print(f"{n} queries, mode {args.mode}, top {args.k}; date words searched as text: {args.phrase!r}")
    print(f"mean overlap of the articles in the top {args.k} with those of the query as typed: {statistics.mean(overlaps):.2f} "
          f"(min {min(overlaps):.2f}); queries with a changed top {args.k}: "
          f"{sum(o < 1 for o in overlaps)}/{n}")
    print(f"articles the date words brought in: {brought} ({brought / n:.1f} a query), of which mention "
          f"{year!r}: {brought_with_year} ({brought_with_year / max(1, brought):.0%}); "
          f"share mentioning {year!r} among the articles of the plain top {args.k}: {base_with_year / n_base:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
