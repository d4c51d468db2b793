"""Near-duplicate collapse on real corpora: byte-identical pairs, extra near-identical pairs, pairs just below.

Loads each corpus through the indexer's own reader (so texts are cleaned exactly as stored), runs the index's
own near-duplicate step (indexer/neardup.update: MinHash signatures, LSH bands in SQLite, links at the
threshold) on an in-memory SQLite with the index schema, and prints:
  - articles, byte-identical pairs (same text_hash), near-identical pairs the LSH step links at the threshold
    that are not byte-identical, groups, and the time the step took;
  - pairs just below the threshold (estimated Jaccard in [threshold - band, threshold), all pairs compared
    by signature, no LSH) and how many of them the LSH step would have missed anyway;
  - a seeded random sample of the merged near-identical pairs and of the just-below pairs, with titles, the
    estimated and the exact Jaccard of the 5-word shingle sets, for checking by hand;
  - pairs at or above the threshold by exact comparison of signatures that LSH did not find (its misses).

    .venv/bin/python bench/near_duplicates.py [--threshold 0.5] [--sample 20] [--band 0.1] [--corpus PATH ...]"""
from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer import neardup  # noqa: E402
from indexer.config import Settings  # noqa: E402
from indexer.sources import LoadWarning, iter_articles  # noqa: E402
from indexer.format import SCHEMA  # noqa: E402

DEFAULT_CORPORA = [ROOT.parent / "shared" / "corpora" / "bbc-news" / "bbc.jsonl", ROOT / "seeds"]


def load(path: Path):
    arts = [a for a in iter_articles([path]) if not isinstance(a, LoadWarning)]
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA foreign_keys = ON")
    db.executescript(SCHEMA)
    db.executemany("INSERT INTO articles (id, title, text, paragraphs, source, content_hash, text_hash, indexed_at) "
                   "VALUES (?,?,?,'[]',?,?,?,'')",
                   [(a.id, a.title, a.text, a.source, a.content_hash, a.text_hash) for a in arts])
    return arts, db


def all_pairs_estimated(sigs: np.ndarray) -> np.ndarray:
    """n x n matrix of estimated Jaccard (share of equal MinHash values), in row blocks to bound memory."""
    n = len(sigs)
    out = np.zeros((n, n), dtype=np.float32)
    for i in range(0, n, 64):
        out[i:i + 64] = (sigs[i:i + 64, None, :] == sigs[None, :, :]).mean(axis=2)
    return out


def report(path: Path, threshold: float, band: float, sample: int, rng: random.Random) -> None:
    arts, db = load(path)
    by_id = {a.id: a for a in arts}
    t0 = time.perf_counter()
    stats = neardup.update(db, threshold)
    took = time.perf_counter() - t0
    linked = {(a, b): j for a, b, j in db.execute("SELECT a, b, jaccard FROM near_pairs")}
    ids = [a.id for a in arts]
    hashes: dict[str, list[str]] = {}
    for a in arts:
        hashes.setdefault(a.text_hash, []).append(a.id)
    identical = {tuple(sorted((m[i], m[j]))) for m in hashes.values() for i in range(len(m)) for j in range(i + 1, len(m))}
    near = {p: j for p, j in linked.items() if p not in identical}

    sigs = np.stack([np.frombuffer(db.execute("SELECT signature FROM article_minhash WHERE article_id = ?",
                                              (i,)).fetchone()[0], dtype="<u4") for i in ids])
    est = all_pairs_estimated(sigs)
    iu = np.triu_indices(len(ids), 1)
    vals = est[iu]
    def pairs_where(mask):
        return [tuple(sorted((ids[a], ids[b]))) for a, b in zip(iu[0][mask], iu[1][mask])]
    above = set(pairs_where(vals >= threshold)) - identical
    below = pairs_where((vals >= threshold - band) & (vals < threshold))
    below = [p for p in below if p not in identical]
    missed = above - set(near)

    print(f"\n== {path}  ({len(arts)} articles)")
    print(f"threshold {threshold} (estimated Jaccard of {neardup.SHINGLE_WORDS}-word shingle sets, "
          f"{neardup.NUM_PERM} permutations, LSH bands x rows = {neardup.lsh_params(threshold)})")
    print(f"byte-identical pairs: {len(identical)}")
    print(f"near-identical pairs merged (not byte-identical): {len(near)}")
    print(f"groups: {stats.groups} holding {stats.grouped_articles} articles; update took {took:.2f}s "
          f"for {stats.hashed} articles")
    print(f"pairs >= threshold by all-pairs signature comparison that LSH missed: {len(missed)}")
    print(f"pairs just below ({threshold - band:.2f} <= J < {threshold}): {len(below)}")
    hist = np.histogram(vals[vals >= 0.2], bins=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001])
    print("all pairs by estimated Jaccard: " + ", ".join(f"[{lo:.1f},{hi:.1f}): {n}" for n, lo, hi in
                                                          zip(hist[0], hist[1][:-1], hist[1][1:])))

    def show(title, pairs):
        chosen = sorted(rng.sample(sorted(pairs), min(sample, len(pairs))))
        print(f"\n-- {title} (sample of {len(chosen)} of {len(pairs)})")
        for a, b in chosen:
            j_est = float(est[ids.index(a), ids.index(b)])
            j_exact = neardup.exact_jaccard(by_id[a].text, by_id[b].text)
            print(f"  J~{j_est:.2f} exact {j_exact:.2f}  {a}: {by_id[a].title[:60]!r}  |  {b}: {by_id[b].title[:60]!r}")

    show("merged near-identical pairs", list(near))
    show("pairs just below the threshold", below)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threshold", type=float, default=Settings().near_duplicate_threshold)
    ap.add_argument("--band", type=float, default=0.1, help="width of the 'just below' band")
    ap.add_argument("--sample", type=int, default=20)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--corpus", nargs="+", type=Path, default=DEFAULT_CORPORA)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    for path in args.corpus:
        report(path, args.threshold, args.band, args.sample, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
