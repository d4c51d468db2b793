"""The Ray engine of `build_index`: chunk and embed the pending articles as a Ray Data pipeline.

Only the "chunk + embed" stage runs on the cluster. Reading the files, the diff by content hash, the
IndexWriter's writes and the atomic publish stay in the driver and are the same code as the local engine
(indexer/build.py), so both engines write the same index format with the same incremental behaviour.

    ray.data.from_items(pending articles as dicts)
      -> map_batches(ChunkStage)   one tokenizer/model per actor; chunk spans as JSON
      -> map_batches(EmbedStage)   the model loaded once per actor; vectors as float32 bytes
      -> iter_batches in the driver, in article order -> writer.add_articles (ids assigned by the writer)

Ray is imported here lazily, only when engine="ray" is asked for.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Iterator

import numpy as np

from .articles import Article
from .chunking import Chunk

INSTALL_HINT = "pip install 'edsearch[ray]'"


class RayUnavailable(RuntimeError):
    """Ray (ray[data]) is not installed, or the cluster cannot be reached."""


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (ray without the [data] extra lacks it)
    except ImportError as exc:
        raise RayUnavailable(f"--engine ray needs Ray Data, which is not installed ({exc}); "
                             f"install it with `{INSTALL_HINT}`") from exc
    return ray


def _article_row(seq: int, a: Article) -> dict:
    """What the stages read of an article: its id and cleaned text (paragraphs derive from the text), and the
    title the embedder puts before each passage."""
    return {"seq": seq, "id": a.id, "text": a.text, "title": a.title}


class ChunkStage:
    """Chunks articles exactly as the local engine does (same token counter: the model's own tokenizer)."""

    def __init__(self, model: str, dtype: str, batch_size: int, backend: str, cache_dir: str | None,
                 target: int, overlap: int, limit: int):
        from .embedding import get_embedder

        self.embedder = get_embedder(model, dtype, batch_size, backend, cache_dir)
        self.target, self.overlap, self.limit = target, overlap, limit

    def __call__(self, batch: dict) -> dict:
        from .chunking import chunk_article

        spans = []
        for art_id, text in zip(batch["id"], batch["text"]):
            a = Article(id=str(art_id), title="", text=str(text))
            chunks = chunk_article(a, self.target, self.overlap, self.limit, self.embedder.count_tokens)
            spans.append(json.dumps([[c.ordinal, c.char_start, c.char_end, c.para_start, c.para_end, c.n_tokens]
                                     for c in chunks]))
        return {"seq": np.asarray(batch["seq"], dtype=np.int64), "text": batch["text"], "title": batch["title"],
                "chunks": np.asarray(spans, dtype=object)}


class EmbedStage:
    """Loads the model once per actor and encodes every passage of a batch of articles (as the local engine:
    indexer.embedding.embed_passages, with its article's title before each passage when `titles`)."""

    def __init__(self, model: str, dtype: str, batch_size: int, backend: str, cache_dir: str | None,
                 titles: bool = False):
        from .embedding import get_embedder

        self.embedder = get_embedder(model, dtype, batch_size, backend, cache_dir)
        self.titles = titles

    def __call__(self, batch: dict) -> dict:
        from .embedding import embed_passages

        texts, titles, counts = [], [], []
        for text, title, spans in zip(batch["text"], batch["title"], batch["chunks"]):
            rows = json.loads(spans)
            texts.extend(str(text)[s:e] for _, s, e, *_ in rows)
            titles.extend([str(title)] * len(rows))
            counts.append(len(rows))
        t0 = time.perf_counter()
        vectors = embed_passages(self.embedder, texts, titles if self.titles else None)
        seconds = time.perf_counter() - t0
        out, pos = [], 0
        for n in counts:
            out.append(np.ascontiguousarray(vectors[pos:pos + n], dtype=np.float32).tobytes())
            pos += n
        share = seconds / max(len(counts), 1)
        return {"seq": np.asarray(batch["seq"], dtype=np.int64), "chunks": batch["chunks"],
                "vectors": np.asarray(out, dtype=object), "encode_seconds": np.full(len(counts), share)}


def connect(address: str | None, num_cpus: int | None = None) -> bool:
    """Connect to the cluster at `address`, or start a local Ray instance. True when this call started it."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, num_cpus=None if address else num_cpus, include_dashboard=False,
                 ignore_reinit_error=True, log_to_driver=False, configure_logging=False)
    except Exception as exc:  # ConnectionError, RuntimeError...: the user needs the address in the message
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        raise RayUnavailable(f"cannot start or reach {where}: {exc.__class__.__name__}: {exc}") from exc
    return True


def chunk_and_embed(
    pending: list[Article],
    *,
    model: str,
    dtype: str,
    batch_size: int,
    chunk_tokens: int,
    chunk_overlap: int,
    limit: int,
    dim: int,
    backend: str = "auto",
    cache_dir: str | None = None,
    address: str | None = None,
    embed_titles: bool = False,
    batch_articles: int = 64,
    embed_actors: int | None = None,
    embed_cpus: float | None = None,
    timings: dict | None = None,
    verbose: bool = False,
) -> Iterator[tuple[list[tuple[Article, list[Chunk]]], np.ndarray]]:
    """Yield (batch of (article, chunks), vectors) in the order of `pending`, like the local engine.

    `dtype` and `backend` must be resolved ("float32" or "bfloat16"; "openvino" or "torch"), so every worker
    encodes as the manifest says.
    When this call starts a local Ray instance, it shuts it down at the end."""
    ray = import_ray()
    if not pending:          # only removals: nothing to embed, no cluster to start
        return
    if not verbose:
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    started_here = connect(address)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True        # results come back in article order
        ctx.enable_progress_bars = False
        cpus = float(ray.cluster_resources().get("CPU", 1))
        embed_cpus = embed_cpus or 1.0
        # one CPU (at least half of one) stays for the chunker; the rest encode
        embed_actors = embed_actors or max(1, int((cpus - 0.5) // embed_cpus))
        rows = [_article_row(i, a) for i, a in enumerate(pending)]
        ds = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // batch_articles)))
        ds = ds.map_batches(ChunkStage, batch_size=batch_articles, batch_format="numpy", num_cpus=0.5,
                            compute=ray.data.ActorPoolStrategy(size=1),
                            fn_constructor_args=(model, dtype, batch_size, backend, cache_dir,
                                                 chunk_tokens, chunk_overlap, limit))
        ds = ds.map_batches(EmbedStage, batch_size=batch_articles, batch_format="numpy",
                            compute=ray.data.ActorPoolStrategy(size=embed_actors), num_cpus=embed_cpus,
                            fn_constructor_args=(model, dtype, batch_size, backend, cache_dir, embed_titles))

        expected = 0
        waiting: dict[int, tuple[str, bytes, float]] = {}
        out_batch: list[tuple[Article, list[Chunk]]] = []
        out_vecs: list[np.ndarray] = []
        for result in ds.iter_batches(batch_size=batch_articles, batch_format="numpy", prefetch_batches=2):
            for seq, spans, vecs, secs in zip(result["seq"], result["chunks"], result["vectors"],
                                              result["encode_seconds"]):
                waiting[int(seq)] = (spans, vecs, float(secs))
            while expected in waiting:   # preserve_order already keeps them in order; this makes sure
                spans, vecs, secs = waiting.pop(expected)
                a = pending[expected]
                chunks = [Chunk(a.id, o, s, e, ps, pe, a.text[s:e], n) for o, s, e, ps, pe, n in json.loads(spans)]
                out_batch.append((a, chunks))
                out_vecs.append(np.frombuffer(vecs, dtype=np.float32).reshape(len(chunks), dim))
                if timings is not None:
                    timings["encode_seconds"] = timings.get("encode_seconds", 0.0) + secs
                expected += 1
                if len(out_batch) >= batch_articles:
                    yield out_batch, np.concatenate(out_vecs)
                    out_batch, out_vecs = [], []
        if out_batch:
            yield out_batch, np.concatenate(out_vecs)
        if expected != len(pending):
            raise RuntimeError(f"the Ray pipeline returned {expected} of {len(pending)} articles")
    finally:
        if started_here:
            ray.shutdown()
