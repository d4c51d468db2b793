"""Scale benchmark: N synthetic passages (1M by default) with the vector index type the settings pick at that size.

Builds (in a child process, so its peak memory is reported apart from serving) an index folder with the project's
own IndexWriter: N synthetic 384-d unit vectors (a Gaussian mixture on a low-rank subspace, so ANN search is as
hard as on real embeddings) and a SQLite database with N synthetic passages in FTS5 (Zipf-distributed words that
include the words of the news queries, 5 passages per article). Then, in this process: recall@10 of the index
against exact search (synthetic queries from the same mixture; efSearch sweep for HNSW), and single-query latency
p50/p99 of Retriever.search in-process and over HTTP (a real `edsearch serve` on 127.0.0.1) for dense and hybrid,
the query embedded by the real model; where hybrid time goes (embed / ANN / FTS5 / hits); memory and disk.

    .venv/bin/python bench/scale.py [--n 1000000] [--dir DIR] [--rounds 2] [--no-http] [--rebuild]

The vector index type and its parameters come from the settings (EDSEARCH_VECTOR_INDEX, EDSEARCH_HNSW_THRESHOLD,
EDSEARCH_HNSW_EF_SEARCH, ...; see docs/scale.md)."""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

DIM = 384
PASSAGES_PER_ARTICLE = 5
WORDS_PER_PASSAGE = 80
CHUNK = 50_000


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Mixture:
    """Deterministic clustered unit vectors: 2000 centres + noise on a 64-d subspace + small isotropic noise."""

    def __init__(self, seed: int = 7):
        rng = np.random.default_rng(seed)
        self.basis = np.linalg.qr(rng.standard_normal((DIM, 64)))[0].T.astype(np.float32) * np.sqrt(DIM / 64)
        self.centres = rng.standard_normal((2000, DIM)).astype(np.float32)

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        x = self.centres[rng.integers(0, len(self.centres), n)]
        x += (rng.standard_normal((n, 64), dtype=np.float32) * 0.9) @ self.basis
        x += rng.standard_normal((n, DIM), dtype=np.float32) * 0.3
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x


def vocabulary(queries: list[str]) -> list[str]:
    rng = np.random.default_rng(3)
    words = list(dict.fromkeys(w.lower() for q in queries for w in q.split() if w.isalpha()))
    syll = ["ka", "lo", "mi", "ten", "ra", "sor", "vel", "un", "dri", "po", "est", "mar", "the", "in", "ber"]
    synth = {"".join(rng.choice(syll, rng.integers(2, 4))) for _ in range(40_000)}
    synth = sorted(synth - set(words))
    rng.shuffle(synth)
    # the query words sit at ranks 30..~400 of the Zipf law: common in a news archive, as real words are
    vocab = synth[:30]
    for i, w in enumerate(words):
        vocab.append(w)
        vocab.extend(synth[30 + 2 * i:32 + 2 * i])
    return vocab + synth[32 + 2 * len(words):]


def build(args) -> dict:
    """Child process: write the index folder; returns build stats."""
    from indexer.config import Settings
    from indexer.store import IndexWriter
    from indexer.vectors import VectorIndex, VectorPolicy, choose_kind
    from latency import QUERIES

    settings = Settings.from_env()
    policy = VectorPolicy.from_settings(settings)
    kind = choose_kind(policy, args.n, None)
    mix = Mixture()
    vocab = np.array(vocabulary(QUERIES))
    probs = 1.0 / (np.arange(len(vocab)) + 10.0)
    probs /= probs.sum()
    stats: dict = {"n": args.n, "type": kind}
    t_all = time.perf_counter()
    with IndexWriter(args.dir, vector_policy=policy) as writer:
        if writer.previous is not None:
            raise SystemExit(f"{args.dir} already holds an index; pass --rebuild")
        db = writer.db
        t_vec = 0.0
        t0 = time.perf_counter()
        if kind == "ivfpq":   # train on a sample first
            vi = VectorIndex.build("ivfpq", DIM, np.zeros(0, np.int64), mix.sample(100_000, 10**6), policy)
        else:
            vi = VectorIndex.build(kind, DIM, np.zeros(0, np.int64), np.zeros((0, DIM), np.float32), policy)
        t_vec += time.perf_counter() - t0
        t_db = 0.0
        now = "2025-01-01T00:00:00+00:00"
        for start in range(0, args.n, CHUNK):
            n = min(CHUNK, args.n - start)
            ids = np.arange(start + 1, start + n + 1, dtype=np.int64)
            t0 = time.perf_counter()
            vi.add(ids, mix.sample(n, seed=start))
            t_vec += time.perf_counter() - t0
            t0 = time.perf_counter()
            rng = np.random.default_rng(start + 1)
            words = vocab[rng.choice(len(vocab), size=(n, WORDS_PER_PASSAGE), p=probs)]
            texts = [" ".join(row) for row in words]
            arts, chunks, fts = [], [], []
            for a0 in range(0, n, PASSAGES_PER_ARTICLE):
                art_no = (start + a0) // PASSAGES_PER_ARTICLE
                aid = f"a{art_no:07d}"
                body, paras, pos = [], [], 0
                for j in range(a0, min(a0 + PASSAGES_PER_ARTICLE, n)):
                    t = texts[j]
                    paras.append([pos, pos + len(t)])
                    cid = start + j + 1
                    chunks.append((cid, aid, j - a0, pos, pos + len(t), j - a0 + 1, j - a0 + 1, WORDS_PER_PASSAGE, t))
                    body.append(t)
                    pos += len(t) + 2
                title = " ".join(texts[a0].split()[:6]).title()
                fts.extend((c[0], c[8], title) for c in chunks[len(chunks) - len(paras):])
                arts.append((aid, title, "\n\n".join(body), f"Desk {art_no % 50}",
                             f"20{10 + art_no % 15:02d}-{1 + art_no % 12:02d}-{1 + art_no % 28:02d}",
                             f"https://example.org/{aid}", ["news", "business", "sport", "culture"][art_no % 4],
                             "Synthetic Times", json.dumps(["synthetic"]), json.dumps(paras), "synthetic.jsonl",
                             f"h{art_no}", f"t{art_no}", now))
            db.executemany("INSERT INTO articles (id, title, text, author, published, url, section, publication, "
                           "tags, paragraphs, source, content_hash, text_hash, indexed_at) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", arts)
            db.executemany("INSERT INTO chunks (id, article_id, ordinal, char_start, char_end, para_start, para_end,"
                           " n_tokens, text) VALUES (?,?,?,?,?,?,?,?,?)", chunks)
            db.executemany("INSERT INTO chunks_fts (rowid, text, title) VALUES (?,?,?)", fts)
            t_db += time.perf_counter() - t0
            print(f"  {start + n:>9} passages: vectors {t_vec:7.1f}s, sqlite+fts5 {t_db:7.1f}s, "
                  f"rss {rss_mb():6.0f} MB", flush=True)
        writer.vectors = vi
        t0 = time.perf_counter()
        writer.publish({
            "model": {"name": settings.model, "dim": DIM, "dtype": "float32", "max_tokens": 256, "normalized": True},
            "tokenizer": "cl100k_base", "chunking": {"target_tokens": 200, "overlap_tokens": 40, "max_model_tokens": 256},
            "sources": ["synthetic"], "synthetic": True})
        stats["publish_s"] = time.perf_counter() - t0
    stats.update(vectors_s=t_vec, sqlite_fts_s=t_db, total_s=time.perf_counter() - t_all,
                 peak_rss_mb=peak_rss_mb(), params=vi.params())
    return stats


def disk_usage(version: Path) -> dict[str, float]:
    return {p.name: p.stat().st_size / 2**20 for p in sorted(version.iterdir()) if p.is_file()}


def recall(reader, n_queries: int, ef_values: list[int]) -> list[tuple[str, float, float]]:
    """recall@10 of reader.vectors against exact search, for synthetic queries near the data."""
    from indexer.vectors import HNSWIndex

    vi = reader.vectors
    mix = Mixture()
    q = mix.sample(n_queries, seed=10**7)
    # exact top-10, chunk by chunk, over the stored float vectors (regenerated the same way as the build)
    n = len(vi)
    best_s = np.full((n_queries, 10), -np.inf, np.float32)
    best_i = np.zeros((n_queries, 10), np.int64)
    for start in range(0, n, CHUNK):
        x = mix.sample(min(CHUNK, n - start), seed=start)
        s = q @ x.T
        cs = np.concatenate([best_s, s], axis=1)
        ci = np.concatenate([best_i, np.arange(start + 1, start + 1 + len(x))[None, :].repeat(n_queries, 0)], axis=1)
        top = np.argpartition(-cs, 9, axis=1)[:, :10]
        best_s, best_i = np.take_along_axis(cs, top, 1), np.take_along_axis(ci, top, 1)
    rows = []
    settings_ef = getattr(vi, "ef_search", None)
    for ef in (ef_values if isinstance(vi, HNSWIndex) else [None]):
        if ef is not None:
            vi.ef_search = ef
        t0 = time.perf_counter()
        r = np.mean([len(set(vi.search(qq, 10)[1].tolist()) & set(g.tolist())) / 10 for qq, g in zip(q, best_i)])
        ms = (time.perf_counter() - t0) / n_queries * 1000
        rows.append((f"{vi.kind}" + (f" efSearch={ef}" + (" (default)" if ef == settings_ef else "")
                                     if ef is not None else ""), float(r), ms))
    if settings_ef is not None:
        vi.ef_search = settings_ef
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="passages (default 1,000,000)")
    ap.add_argument("--dir", help="index folder (default ~/.cache/edsearch/bench/scale-N)")
    ap.add_argument("--rebuild", action="store_true", help="delete the folder and build again")
    ap.add_argument("--rounds", type=int, default=2, help="passes over the 50 queries per mode and path")
    ap.add_argument("--recall-queries", type=int, default=200)
    ap.add_argument("--ef", default="64,128,192,256,384,512", help="efSearch values for the HNSW recall sweep")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.dir = Path(args.dir or Path(f"~/.cache/edsearch/bench/scale-{args.n}").expanduser())

    if args.build_only:
        print("BUILD " + json.dumps(build(args)), flush=True)
        return 0

    import shutil

    if args.rebuild and args.dir.exists():
        shutil.rmtree(args.dir)
    build_stats = None
    if not (args.dir / "CURRENT").exists():
        print(f"building {args.n} synthetic passages into {args.dir} ...", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--build-only", "--n", str(args.n), "--dir", str(args.dir)],
                              stdout=subprocess.PIPE, text=True)
        sys.stdout.write("".join(l + "\n" for l in proc.stdout.splitlines() if not l.startswith("BUILD ")))
        if proc.returncode:
            return proc.returncode
        build_stats = json.loads(next(l for l in proc.stdout.splitlines() if l.startswith("BUILD "))[6:])

    import httpx
    import torch

    from api.retriever import Retriever
    from api import keyword
    from indexer.config import Settings
    from indexer.store import Filters
    from latency import QUERIES, ServerProcess, pct, timed

    settings = Settings.from_env()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    retriever = Retriever(args.dir, settings)
    open_s = time.perf_counter() - t0
    reader = retriever.reader
    retriever.embed_query("warm up the model")
    rss_open = rss_mb()

    recall_rows = recall(reader, args.recall_queries, [int(e) for e in args.ef.split(",")])

    rows = []
    for mode in ("dense", "hybrid"):
        def search(q, mode=mode):
            return retriever.search(q, 10, mode)
        timed(search, QUERIES[:10], 1)
        rows.append(("in-process", mode, timed(search, QUERIES, args.rounds)))

    # where the hybrid time goes (in the search itself the keyword leg runs beside embed + ann)
    parts: dict[str, list[float]] = {"embed": [], "ann": [], "keyword leg": [], "any-term keyword": [],
                                     "total": []}
    for q in QUERIES * args.rounds:
        t0 = time.perf_counter()
        v = retriever.embed_query(q)
        t1 = time.perf_counter()
        reader.vectors.search(v, 50)
        t2 = time.perf_counter()
        retriever._keyword(reader, q, 50, 10, Filters())          # all-terms first above the size threshold
        t3 = time.perf_counter()
        expr = keyword.fts_query(q)
        reader.keyword(expr, 50) if expr else None                # what any-term matching alone would cost
        t4 = time.perf_counter()
        retriever.search(q, 10, "hybrid")
        t5 = time.perf_counter()
        for name, dt_ in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            parts[name].append(dt_)
    rss_query = rss_mb()

    server_rss = None
    if not args.no_http:
        with ServerProcess(args.dir) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            for mode in ("dense", "hybrid"):
                def fetch(q, mode=mode):
                    client.get("/search", params={"q": q, "k": 10, "mode": mode}).raise_for_status()
                timed(fetch, QUERIES[:10], 1)
                rows.append(("HTTP", mode, timed(fetch, QUERIES, args.rounds)))
            server_rss = rss_mb(server.proc.pid)

    m = reader.manifest
    print()
    print(f"== edsearch scale benchmark: {m['counts']['vectors']:,} passages "
          f"({m['counts']['articles']:,} articles), vector index {m['vectors']['type']} {m['vectors'].get('params')}")
    print(f"machine: {os.cpu_count()} cpus, model {retriever.embedder.backend} {retriever.embedder.dtype}, "
          f"torch threads {torch.get_num_threads()}, "
          f"faiss threads {__import__('faiss').omp_get_max_threads()}")
    if build_stats:
        print(f"build: {build_stats['total_s']:.0f}s total = vectors {build_stats['vectors_s']:.0f}s + "
              f"sqlite/fts5 {build_stats['sqlite_fts_s']:.0f}s + publish {build_stats['publish_s']:.0f}s; "
              f"peak RSS {build_stats['peak_rss_mb']:.0f} MB")
    else:
        print("build: reused an existing folder (pass --rebuild to time the build)")
    du = disk_usage(reader.version_dir)
    print(f"disk: {sum(du.values()):.0f} MB = " + ", ".join(f"{k} {v:.0f}" for k, v in du.items()))
    print(f"memory (RSS): before open {rss0:.0f} MB, index open + model {rss_open:.0f} MB (open took {open_s:.1f}s),"
          f" after queries {rss_query:.0f} MB, peak {peak_rss_mb():.0f} MB"
          + (f"; HTTP server {server_rss:.0f} MB" if server_rss else ""))
    print(f"recall@10 vs exact ({args.recall_queries} synthetic queries):")
    for name, r, ms in recall_rows:
        print(f"  {name:<34} recall {r:.4f}   {ms:.2f} ms/query")
    print(f"latency, 50 news queries x {args.rounds} rounds, k=10, per_article=2 (query embedded by "
          f"{m['model']['name']}):")
    print(f"  {'path':<12}{'mode':<8}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for path, mode, s in rows:
        print(f"  {path:<12}{mode:<8}{len(s):>5}{pct(s, 50):>9.1f}{pct(s, 99):>9.1f}{max(s) * 1000:>9.1f}")
    print("  hybrid in-process breakdown (p50 / p99 ms): " + ", ".join(
        f"{k} {pct(v, 50):.1f} / {pct(v, 99):.1f}" for k, v in parts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
