"""Scale benchmark: N synthetic passages (1M by default) written as S segments (20), searched, updated, merged.

Builds (in a child process, so its peak memory is reported apart from serving) an index folder with the project's
own IndexWriter, in S builds of N/S passages each with merging off, so S vector segments are live: synthetic 384-d
unit vectors (a Gaussian mixture on a low-rank subspace, so ANN search is as hard as on real embeddings), synthetic
passages of Zipf-distributed words (including the words of the news queries) in FTS5, 5 passages per article, and
random MinHash signatures with their LSH bands (so the near-duplicate tables are as big as a real archive's).
Then, in this process:
  1. with S segments live: recall@10 of the dense leg against exact search, single-query latency p50/p99 of
     Retriever.search in-process (and over HTTP) for dense and hybrid, where hybrid time goes, hybrid search with
     a filter (a section, a year, an author), memory, disk;
  2. updates (bench/update_cost.py): add 100 real articles through build_index (the real model; its load and the
     embedding timed apart), build again with nothing changed, delete the 100, then `optimize` (a full merge);
  3. after the full merge: the same searches, and the updates again under the default merge policy;
  4. disk: the folder against a fully merged index.

    .venv/bin/python bench/scale.py [--n 1000000] [--segments 20] [--dir DIR] [--rounds 2] [--no-http] [--rebuild]

The vector index type per segment and its parameters come from the settings (EDSEARCH_HNSW_THRESHOLD,
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
    """Child process: write the index folder as args.segments builds; returns build stats."""
    import dataclasses

    from indexer import neardup
    from indexer.articles import Article
    from indexer.chunking import TOKENIZER, Chunk
    from indexer.config import Settings
    from indexer.embedding import passage_format
    from indexer.writer import IndexWriter
    from latency import QUERIES

    settings = dataclasses.replace(Settings.from_env(), segments_per_tier=0)
    mix = Mixture()
    vocab = np.array(vocabulary(QUERIES))
    probs = 1.0 / (np.arange(len(vocab)) + 10.0)
    probs /= probs.sum()
    bands, rows = neardup.lsh_params(settings.near_duplicate_threshold)
    per = -(-args.n // args.segments)
    stats: dict = {"n": args.n, "segments": args.segments, "builds": []}
    source = str(Path(__file__).resolve())       # a file that exists: a prune never takes these for gone
    t_all = time.perf_counter()
    for start in range(0, args.n, per):
        n = min(per, args.n - start)
        t0 = time.perf_counter()
        rng = np.random.default_rng(start + 1)
        words = vocab[rng.choice(len(vocab), size=(n, WORDS_PER_PASSAGE), p=probs)]
        texts = [" ".join(row) for row in words]
        vectors = mix.sample(n, seed=start)
        batch = []
        for a0 in range(0, n, PASSAGES_PER_ARTICLE):
            art_no = (start + a0) // PASSAGES_PER_ARTICLE
            body = texts[a0:a0 + PASSAGES_PER_ARTICLE]
            art = Article(id=f"a{art_no:07d}", title=" ".join(body[0].split()[:6]).title(), text="\n\n".join(body),
                          author=f"Desk {art_no % 50}",
                          published=f"20{10 + art_no % 15:02d}-{1 + art_no % 12:02d}-{1 + art_no % 28:02d}",
                          url=f"https://example.org/a{art_no:07d}", section=["news", "business", "sport",
                                                                             "culture"][art_no % 4],
                          tags=["synthetic"], publication="Synthetic Times", source=source)
            chunks, pos = [], 0
            for j, t in enumerate(body):
                chunks.append(Chunk(article_id=art.id, ordinal=j, char_start=pos, char_end=pos + len(t),
                                    para_start=j + 1, para_end=j + 1, text=t, n_tokens=WORDS_PER_PASSAGE))
                pos += len(t) + 2
            batch.append((art, chunks))
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        with IndexWriter(args.dir, settings=settings) as writer:
            writer.init_vectors(DIM)
            for i in range(0, len(batch), 2000):
                part = batch[i:i + 2000]
                rows_in = sum(len(c) for _, c in part)
                first = sum(len(c) for _, c in batch[:i])
                writer.add_articles(part, vectors[first:first + rows_in])
            t_rows = time.perf_counter() - t0
            t1 = time.perf_counter()
            # random signatures: the tables a real archive has, at their size (hashing 200k synthetic texts
            # would only slow the benchmark down)
            sigs = rng.integers(0, 2**32, size=(len(batch), neardup.NUM_PERM), dtype=np.uint32)
            writer.db.executemany("INSERT INTO article_minhash (article_id, signature, shingles) VALUES (?, ?, ?)",
                                  [(a.id, sig.astype("<u4").tobytes(), 396) for (a, _), sig in zip(batch, sigs)])
            writer.db.executemany("INSERT OR IGNORE INTO minhash_bands (key, article_id) VALUES (?, ?)",
                                  [(key, a.id) for (a, _), sig in zip(batch, sigs)
                                   for key in neardup.band_keys(sig.astype("<u4"), bands, rows)])
            t_near = time.perf_counter() - t1
            t1 = time.perf_counter()
            writer.publish({
                "model": {"name": settings.model, "dim": DIM, "dtype": "float32", "max_tokens": 256,
                          "normalized": True},
                "tokenizer": TOKENIZER, "embedding_input": passage_format(False),
                "chunking": {"target_tokens": 200, "overlap_tokens": 40, "max_model_tokens": 256},
                "sources": ["synthetic"], "synthetic": True,
                "near_duplicates": {"threshold": settings.near_duplicate_threshold}})
            t_publish = time.perf_counter() - t1     # the segment (HNSW graph or flat) is built and written here
        stats["builds"].append({"passages": n, "generate_s": t_gen, "rows_fts_s": t_rows, "minhash_s": t_near,
                                "segment_and_commit_s": t_publish})
        print(f"  {start + n:>9} passages: rows+fts5 {t_rows:6.1f}s, minhash {t_near:5.1f}s, segment+commit "
              f"{t_publish:6.1f}s, rss {rss_mb():6.0f} MB", flush=True)
    stats.update(total_s=time.perf_counter() - t_all, peak_rss_mb=peak_rss_mb())
    return stats


def disk_usage(index: Path, manifest: dict) -> dict[str, float]:
    """MB by part: the database (with its log), the segments `manifest` names (vectors, keyword segments),
    retired segment files."""
    from indexer.format import segment_file

    named = {seg["file"] for seg in manifest["vectors"]["segments"]}
    out = {"database": 0.0, "vector segments": 0.0, "keyword segments": 0.0, "retired segment files": 0.0,
           "other": 0.0}
    for p in index.rglob("*"):
        if not p.is_file():
            continue
        parts = p.relative_to(index).parts          # segments/seg-000007.keywords/<Tantivy's files>
        part = ("database" if p.name.startswith("edsearch.db") else "other" if len(parts) == 1 else
                "retired segment files" if segment_file(parts[1]) not in named else
                "keyword segments" if len(parts) > 2 else "vector segments")
        out[part] += p.stat().st_size / 2**20
    return out


def recall(reader, n_queries: int, ef_values: list[int], per: int) -> list[tuple[str, float, float]]:
    """recall@10 of the dense leg against exact search, for synthetic queries near the data."""
    vi = reader.vectors
    mix = Mixture()
    q = mix.sample(n_queries, seed=10**7)
    # exact top-10, segment by segment, over the float vectors (regenerated as the build made them: chunk ids
    # are handed out in order from 1)
    n = len(vi)
    best_s = np.full((n_queries, 10), -np.inf, np.float32)
    best_i = np.zeros((n_queries, 10), np.int64)
    for start in range(0, n, per):
        x = mix.sample(min(per, n - start), seed=start)
        s = q @ x.T
        cs = np.concatenate([best_s, s], axis=1)
        ci = np.concatenate([best_i, np.arange(start + 1, start + 1 + len(x))[None, :].repeat(n_queries, 0)], axis=1)
        top = np.argpartition(-cs, 9, axis=1)[:, :10]
        best_s, best_i = np.take_along_axis(cs, top, 1), np.take_along_axis(ci, top, 1)
    rows = []
    settings_ef = vi.ef_search
    kinds = "+".join(sorted({v.kind for _, v in vi.segments}))
    for ef in (ef_values if settings_ef is not None else [None]):
        if ef is not None:
            vi.ef_search = ef
        t0 = time.perf_counter()
        r = np.mean([len(set(vi.search(qq, 10)[1].tolist()) & set(g.tolist())) / 10 for qq, g in zip(q, best_i)])
        ms = (time.perf_counter() - t0) / n_queries * 1000
        rows.append((kinds + (f" efSearch={ef}" + (" (default)" if ef == settings_ef else "") if ef is not None
                              else ""), float(r), ms))
    if settings_ef is not None:
        vi.ef_search = settings_ef
    return rows


def searches(index: Path, settings, args, per: int) -> dict:
    """Recall, latency (in-process and HTTP), the hybrid breakdown and memory over the index as it is now."""
    import httpx

    from api.retriever import Retriever
    from latency import QUERIES, ServerProcess, timed

    rss0 = rss_mb()
    t0 = time.perf_counter()
    retriever = Retriever(index, settings)
    open_s = time.perf_counter() - t0
    reader = retriever.reader
    retriever.embed_query("warm up the model")
    out = {"open_s": open_s, "rss_before": rss0, "rss_open": rss_mb(), "manifest": reader.manifest,
           "recall": recall(reader, args.recall_queries, [int(e) for e in args.ef.split(",")], per), "rows": []}
    for mode in ("dense", "hybrid"):
        def search(q, mode=mode):            # retrieval alone: a question's answer spans are the answer model's
            return retriever.search(q, 10, mode, answer_spans=False)
        timed(search, QUERIES[:10], 1)
        out["rows"].append(("in-process", mode, timed(search, QUERIES, args.rounds)))
    # Filtered hybrid search: a section (a quarter of the passages), a year (a fifteenth), an author (a fiftieth).
    from indexer.reader import Filters

    out["filtered"] = []
    for name, filters in (("section sport", Filters(section="sport")),
                          ("year 2014", Filters(published_from="2014-01-01", published_to="2014-12-31")),
                          ("author Desk 7", Filters(author="Desk 7"))):
        def search(q, filters=filters):
            return retriever.search(q, 10, "hybrid", filters=filters, answer_spans=False)
        timed(search, QUERIES[:3], 1)
        out["filtered"].append((name, timed(search, QUERIES[:20], 1)))

    # where the hybrid time goes (in the search itself the keyword leg runs beside embed + ann)
    parts: dict[str, list[float]] = {"embed": [], "ann": [], "keyword leg": [], "any-term keyword": [],
                                     "total": []}
    overlap: list[float] = []
    for q in QUERIES * args.rounds:
        t0 = time.perf_counter()
        v = retriever.embed_query(q)
        t1 = time.perf_counter()
        reader.vectors.search(v, 50)
        t2 = time.perf_counter()
        bounded = reader.keyword(q, 50, None, 10)                 # the plan at scale, as hybrid search runs it
        t3 = time.perf_counter()
        with reader.keyword_index() as kw:                        # what exact any-term matching would cost
            kw.all_terms_above = 10**12
            exact = kw.search(q, 10)
        t4 = time.perf_counter()
        if exact:
            overlap.append(len({c for c, _ in bounded[:10]} & {c for c, _ in exact}) / len(exact))
        retriever.search(q, 10, "hybrid", answer_spans=False)
        t5 = time.perf_counter()
        for name, dt_ in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            parts[name].append(dt_)
    out["parts"] = parts
    out["keyword_overlap"] = float(np.mean(overlap)) if overlap else float("nan")
    out["rss_query"] = rss_mb()
    out["server_rss"] = None
    if not args.no_http:
        with ServerProcess(index) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            for mode in ("dense", "hybrid"):
                def fetch(q, mode=mode):
                    client.get("/search", params={"q": q, "k": 10, "mode": mode}).raise_for_status()
                timed(fetch, QUERIES[:10], 1)
                out["rows"].append(("HTTP", mode, timed(fetch, QUERIES, args.rounds)))
            out["server_rss"] = rss_mb(server.proc.pid)
    out["disk"] = disk_usage(index, reader.manifest)
    reader.close()
    return out


def print_searches(title: str, r: dict, args) -> None:
    from latency import pct

    m = r["manifest"]
    kinds: dict[str, int] = {}
    for seg in m["vectors"]["segments"]:
        kinds[seg["type"]] = kinds.get(seg["type"], 0) + 1
    print(f"\n== {title}: {m['counts']['vectors']:,} passages ({m['counts']['articles']:,} articles), "
          f"{len(m['vectors']['segments'])} vector segments ({', '.join(f'{v} {k}' for k, v in kinds.items())}), "
          f"version {m['index_version']}")
    du = r["disk"]
    print(f"disk: {sum(du.values()):.0f} MB = " + ", ".join(f"{k} {v:.0f}" for k, v in du.items()))
    print(f"memory (RSS): before open {r['rss_before']:.0f} MB, index open + model {r['rss_open']:.0f} MB (open took "
          f"{r['open_s']:.1f}s), after queries {r['rss_query']:.0f} MB"
          + (f"; HTTP server {r['server_rss']:.0f} MB" if r["server_rss"] else ""))
    print(f"recall@10 of the dense leg vs exact ({args.recall_queries} synthetic queries):")
    for name, rec, ms in r["recall"]:
        print(f"  {name:<34} recall {rec:.4f}   {ms:.2f} ms/query")
    print(f"latency, 50 news queries x {args.rounds} rounds, k=10, per_article=2 (query embedded by "
          f"{m['model']['name']}):")
    print(f"  {'path':<12}{'mode':<8}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for path, mode, s in r["rows"]:
        print(f"  {path:<12}{mode:<8}{len(s):>5}{pct(s, 50):>9.1f}{pct(s, 99):>9.1f}{max(s) * 1000:>9.1f}")
    print("  hybrid in-process breakdown (p50 / p99 ms): " + ", ".join(
        f"{k} {pct(v, 50):.1f} / {pct(v, 99):.1f}" for k, v in r["parts"].items()))
    print(f"  keyword leg's top 10 against exact any-term BM25's: {r['keyword_overlap']:.3f} of it in common "
          "(mean over the queries)")
    print("  hybrid with a filter, 20 news queries (p50 / p90 ms): " + ", ".join(
        f"{name} {pct(v, 50):.0f} / {pct(v, 90):.0f}" for name, v in r["filtered"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="passages (default 1,000,000)")
    ap.add_argument("--segments", type=int, default=20, help="builds the passages are written in (default 20)")
    ap.add_argument("--dir", help="index folder (default ~/.cache/edsearch/bench/scale-N-S)")
    ap.add_argument("--rebuild", action="store_true", help="delete the folder and build again")
    ap.add_argument("--rounds", type=int, default=2, help="passes over the 50 queries per mode and path")
    ap.add_argument("--recall-queries", type=int, default=200)
    ap.add_argument("--ef", default="64,128,256,512", help="efSearch values for the HNSW recall sweep")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--skip-updates", action="store_true", help="only the searches over the S segments")
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.dir = Path(args.dir or Path(f"~/.cache/edsearch/bench/scale-{args.n}-{args.segments}").expanduser())
    per = -(-args.n // args.segments)

    if args.build_only:
        print("BUILD " + json.dumps(build(args)), flush=True)
        return 0

    import dataclasses
    import shutil

    import faiss

    from indexer.config import Settings
    from indexer.reader import published_version
    from update_cost import measure, report

    if args.rebuild and args.dir.exists():
        shutil.rmtree(args.dir)
    build_stats = None
    if published_version(args.dir) is None:
        print(f"building {args.n} synthetic passages into {args.dir} as {args.segments} segments ...", flush=True)
        proc = subprocess.run([sys.executable, __file__, "--build-only", "--n", str(args.n), "--segments",
                               str(args.segments), "--dir", str(args.dir)], stdout=subprocess.PIPE, text=True)
        sys.stdout.write("".join(l + "\n" for l in proc.stdout.splitlines() if not l.startswith("BUILD ")))
        if proc.returncode:
            return proc.returncode
        build_stats = json.loads(next(l for l in proc.stdout.splitlines() if l.startswith("BUILD "))[6:])

    settings = Settings.from_env()
    print(f"machine: {os.cpu_count()} cpus, faiss threads {faiss.omp_get_max_threads()}; "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    if build_stats:
        b = build_stats["builds"]
        print(f"build: {build_stats['total_s']:.0f}s for {len(b)} builds = rows+fts5 "
              f"{sum(x['rows_fts_s'] for x in b):.0f}s + minhash tables {sum(x['minhash_s'] for x in b):.0f}s + "
              f"segments and commits {sum(x['segment_and_commit_s'] for x in b):.0f}s (+ generating the data "
              f"{sum(x['generate_s'] for x in b):.0f}s); peak RSS {build_stats['peak_rss_mb']:.0f} MB")
    else:
        print("build: reused an existing folder (pass --rebuild to time the build)")
    first = searches(args.dir, settings, args, per)
    n_segments = len(first["manifest"]["vectors"]["segments"])
    print_searches(f"{n_segments} segment{'s' if n_segments > 1 else ''} live", first, args)
    if args.skip_updates:
        return 0
    # With segments of one size tier piling up (as built) the default policy would merge them in the first
    # build: the updates here run with merging off, so they cost what a build costs; then a full merge.
    print(f"\n== updates to the {n_segments} segment(s) with merging off:")
    report(measure(args.dir, 100, dataclasses.replace(settings, segments_per_tier=0), optimize_after=False),
           args.dir)
    from update_cost import step
    from indexer.writer import optimize

    row = step("optimize (merge all segments)", args.dir, lambda: optimize(args.dir, settings))
    print(f"  optimize: {row['seconds']:.0f} s, {row['written_mb']:.0f} MB written; folder {row['folder_mb_before']:.0f}"
          f" -> {row['folder_mb_after']:.0f} MB (the merged-away files stay for the grace time)")
    merged = searches(args.dir, settings, args, per)
    print_searches("after a full merge", merged, args)
    print(f"\n== updates on the merged index, default merge policy (segments_per_tier={settings.segments_per_tier}):")
    report(measure(args.dir, 100, settings, optimize_after=False), args.dir)
    live_then = sum(first["disk"][k] for k in ("database", "vector segments", "keyword segments"))
    live_now = sum(merged["disk"][k] for k in ("database", "vector segments", "keyword segments"))
    print(f"\ndisk: {live_then:.0f} MB with {n_segments} segment(s) (database and named segment files) against "
          f"{live_now:.0f} MB fully merged: {live_then / live_now:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
