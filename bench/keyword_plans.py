"""Keyword search at scale on the development data: FTS5's exact BM25 against the two plans a large index uses.

Over SciFact train (809 claims) and the 120 answerable BBC questions of bench/ask_questions.jsonl (the indexes
bench/retrieval_eval.py builds under ~/.cache/edsearch/retrieval/, passages embedded alone), keyword and hybrid
nDCG@10 and Recall@100 for:
  * FTS5, exact any-term BM25: what these small indexes get;
  * keyword segments (Tantivy, indexer/keyword_segments.py): what an index above EDSEARCH_KEYWORD_ALL_TERMS_ABOVE
    gets for a query without filters or phrases, once per title weight of the sweep;
  * FTS5's word-subset plan over the newest passages: what such an index got before keyword segments, and what
    its filtered and phrase queries still get.
The two plans are forced on by treating the index as a large one (keyword_all_terms_above=0).

    PYTHONPATH=. .venv/bin/python bench/keyword_plans.py [--title-weights 0.1,0.3]
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from api import Retriever  # noqa: E402
from api.evaluation import article_run, score_run  # noqa: E402
from indexer import keyword_segments  # noqa: E402
from indexer.config import Settings  # noqa: E402
from retrieval_eval import SHARED, datasets, open_variant  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scifact", default=str(SHARED / "eval" / "scifact-dev"))
    ap.add_argument("--bbc", default=str(SHARED / "corpora" / "bbc-news" / "bbc.jsonl"))
    ap.add_argument("--questions", default=str(ROOT / "bench" / "ask_questions.jsonl"))
    ap.add_argument("--title-weights", default="0.05,0.1,0.2,0.3,0.5")
    args = ap.parse_args(argv)
    settings = Settings.from_env(embed_titles=False)
    large = dataclasses.replace(settings, keyword_all_terms_above=0)
    weights = [float(w) for w in args.title_weights.split(",")]
    print(f"{'set':<16}{'plan':<40}{'mode':<9}{'nDCG@10':>9}{'R@100':>8}")
    for ds in datasets(Path(args.scifact), "train", Path(args.bbc), Path(args.questions)):
        folder = open_variant(ds, titles=False).index_dir      # built or brought up to date (keyword segments)

        def row(plan: str, retriever: Retriever) -> None:
            for mode in ("keyword", "hybrid"):
                means, _ = score_run(ds.qrels, article_run(retriever, ds.queries, mode, progress=False))
                print(f"{ds.name:<16}{plan:<40}{mode:<9}{means['ndcg@10']:>9.4f}{means['recall@100']:>8.4f}",
                      flush=True)

        row("FTS5 exact BM25 (small index)", Retriever(folder, settings))
        default = keyword_segments.TITLE_WEIGHT
        for w in weights:
            keyword_segments.TITLE_WEIGHT = w
            row(f"keyword segments, title {w}" + (" (default)" if w == default else ""), Retriever(folder, large))
        keyword_segments.TITLE_WEIGHT = default
        subsets = Retriever(folder, large)
        subsets.reader.keyword_segments = None
        row("FTS5 word subsets, newest first", subsets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
