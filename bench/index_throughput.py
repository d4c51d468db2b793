"""Indexing throughput on the BBC News corpus, in one run:

  (a) the whole pipeline (read files -> chunk -> embed -> write -> publish) into a fresh temporary index, in
      chunks/s, with the model already loaded (and warmed up) so load time is excluded;
  (b) the model's bare encode throughput on the same chunk texts (Embedder.encode, same batch size);
  (c) a second build over the same files, which must be a no-op (its wall time).

    .venv/bin/python bench/index_throughput.py [--dtype auto|float32|bfloat16] [--limit N]

The corpus is read in place from ../shared/corpora/bbc-news/bbc.jsonl (never copied)."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "bbc-news" / "bbc.jsonl"


def limit_articles(n: int) -> None:
    """Make the pipeline read only the first n articles (still from the original file, nothing copied)."""
    import indexer.build as build
    from indexer.articles import Article

    original = build.load_file
    seen = [0]

    def load_file(path, root):
        for rec in original(path, root):
            if isinstance(rec, Article):
                if seen[0] >= n:
                    return
                seen[0] += 1
            yield rec

    original_iter = build.iter_files

    def iter_files(paths):       # called once at the start of each build: every build reads the same n
        seen[0] = 0
        return original_iter(paths)

    build.load_file = load_file
    build.iter_files = iter_files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="file or folder of articles (default: BBC News)")
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    ap.add_argument("--limit", type=int, help="index only the first N articles (quick runs)")
    ap.add_argument("--batch-size", type=int, help="encode batch size (default: $EDSEARCH_BATCH_SIZE or 16)")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from indexer import build_index
    from indexer.config import Settings
    from indexer.embedding import embedder_for
    from indexer.reader import IndexReader

    corpus = Path(args.corpus)
    if not corpus.exists():
        ap.error(f"{corpus} not found")
    settings = Settings.from_env(batch_size=args.batch_size)
    if args.limit:
        limit_articles(args.limit)

    t0 = time.perf_counter()
    embedder = embedder_for(settings, dtype=args.dtype)   # the instance build_index reuses
    embedder.encode(["warm-up sentence for the encoder"] * 8)
    load_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="edsearch-bench-") as tmp:
        index = Path(tmp) / "index"
        first = build_index([corpus], index, dtype=args.dtype, settings=settings, progress=False)
        assert first.published, "the first build published nothing"
        reader = IndexReader(index)
        texts = [r[0] for r in reader.db.execute("SELECT text FROM chunks ORDER BY id")]
        tokens = sum(r[0] for r in reader.db.execute("SELECT n_tokens FROM chunks"))
        reader.close()
        del reader

        t0 = time.perf_counter()
        vecs = embedder.encode(texts)
        bare_s = time.perf_counter() - t0
        assert vecs.shape == (len(texts), embedder.dim) and np.isfinite(vecs).all()

        second = build_index([corpus], index, dtype=args.dtype, settings=settings, progress=False)
        assert second.published is None and second.chunks == 0, "the second build was not a no-op"

    unique = len(set(texts))
    rows = [
        ("(a) pipeline: read -> published index", first.chunks, first.seconds),
        ("    of which encode (inside the build)", first.chunks, first.encode_seconds),
        ("(b) bare Embedder.encode, same texts", len(texts), bare_s),
        ("(c) second build (no-op)", second.chunks, second.seconds),
    ]
    print(f"corpus {corpus}: {first.usable} articles, {first.chunks} chunks ({unique} distinct texts), "
          f"{tokens / max(1, len(texts)):.0f} cl100k tokens per chunk")
    print(f"model {embedder.name} backend={embedder.backend} dtype={embedder.dtype} (asked {args.dtype}) "
          f"batch={settings.batch_size} torch threads={torch.get_num_threads()}; load+warm-up {load_s:.1f}s (excluded)")
    print(f"{'stage':<40}{'chunks':>8}{'seconds':>10}{'chunks/s':>10}")
    print("-" * 68)
    for name, n, s in rows:
        rate = f"{n / s:10.1f}" if n and s else f"{'-':>10}"
        print(f"{name:<40}{n:>8}{s:>10.2f}{rate}")
    if bare_s and first.seconds:
        print(f"pipeline / bare encode throughput: {(first.chunks / first.seconds) / (len(texts) / bare_s):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
