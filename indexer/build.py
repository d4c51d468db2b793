"""The indexing pipeline: read -> diff by content hash -> chunk -> embed -> write -> publish atomically."""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import numpy as np
from tqdm.auto import tqdm

from .articles import Article
from .chunking import TOKENIZER, Chunk, chunk_article
from .config import Settings
from .embedding import embed_passages, embedder_for, embedding_input, passage_format
from .sources import LoadWarning, iter_files, load_file, require_sources, source_list
from . import neardup
from .format import ModelMismatch
from .writer import IndexWriter

T = TypeVar("T")


@dataclass
class BuildSummary:
    """What a build did. `published` is the index folder when the build committed a new version, else None."""

    indexed: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    removed: int = 0
    reembedded: int = 0       # unchanged articles embedded again: the index was built with another embedding_input
    chunks: int = 0
    warnings: list[str] = field(default_factory=list)
    published: str | None = None
    index_version: int | None = None
    seconds: float = 0.0
    encode_seconds: float = 0.0

    @property
    def usable(self) -> int:
        return self.indexed + self.updated + self.unchanged

    def describe(self) -> str:
        again = f" ({self.reembedded} embedded again with titles changed)" if self.reembedded else ""
        head = (f"{self.indexed} indexed, {self.updated} updated, {self.unchanged} unchanged{again}, "
                f"{self.skipped} skipped, {self.removed} removed; {self.chunks} passages embedded")
        if self.chunks and self.encode_seconds:
            # the run's seconds include reading, the model's start and the publish: a small run's rate is not the
            # model's, so the encoders' time is said apart (summed over Ray's encoders: a rate per encoder)
            head += (f" in {self.encode_seconds:.1f}s of encoder time ({self.chunks / self.encode_seconds:.0f}/s per "
                     "encoder)")
        head += f"; {self.seconds:.1f}s in all"
        tail = f"published version {self.index_version} at {self.published}" if self.published else \
            "nothing changed; the published index is as it was"
        return f"{head}\n{tail}"


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Run a generator in a background thread, `depth` items ahead (overlaps chunking with encoding)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    failure: list[BaseException] = []
    stop = threading.Event()

    def work():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer
            failure.append(exc)
        finally:
            q.put(done)

    thread = threading.Thread(target=work, daemon=True, name="edsearch-chunker")
    thread.start()
    try:
        while (item := q.get()) is not done:
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()


def _batches(articles: Iterable[Article], size: int) -> Iterator[list[Article]]:
    batch: list[Article] = []
    for a in articles:
        batch.append(a)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _near_threshold(manifest: dict | None) -> float | None:
    return ((manifest or {}).get("near_duplicates") or {}).get("threshold")


def _near_duplicates(writer: IndexWriter, settings: Settings, previous: dict | None) -> dict:
    """Bring the near-duplicate groups up to date in the staged version; what the manifest records of them."""
    near = neardup.update(writer.db, settings.near_duplicate_threshold, _near_threshold(previous))
    return {"threshold": near.threshold, "shingle_words": neardup.SHINGLE_WORDS, "num_perm": neardup.NUM_PERM,
            "min_shingles": neardup.MIN_SHINGLES, "pairs": near.pairs, "groups": near.groups,
            "grouped_articles": near.grouped_articles}


def build_index(
    sources: Iterable[str | Path] | str | Path,
    index_dir: str | Path | None = None,
    *,
    model: str | None = None,
    dtype: str | None = None,
    prune: bool = False,
    settings: Settings | None = None,
    progress: bool = True,
    batch_articles: int = 64,
    on_batch: Callable[[int], None] | None = None,
    engine: str = "local",
    ray_address: str | None = None,
) -> BuildSummary:
    """Index the articles under `sources` into `index_dir` (incremental; atomic publish).

    Raises ModelMismatch when the index was built with another model, IndexBusy when another build holds
    the folder, and IndexStoreError when it cannot be written; the published index is untouched then.

    `engine` picks who chunks and embeds the pending articles: "local" (a prefetch thread, this process) or
    "ray" (a Ray Data pipeline on the cluster at `ray_address`, or a local Ray instance; indexer/ray_engine.py).
    Reading, the diff by content hash, the writes and the publish are this same code for both."""
    if engine not in ("local", "ray"):
        raise ValueError(f"unknown engine {engine!r}; use local or ray")
    if engine == "ray":
        from .ray_engine import import_ray

        import_ray()   # a missing Ray fails before anything is read or locked
    sources = source_list(sources)
    require_sources(sources)            # before the index is locked or created
    settings = settings or Settings.from_env()
    index_dir = Path(index_dir or settings.index)
    started = time.perf_counter()
    summary = BuildSummary()
    files = list(iter_files(sources))
    run_files = {str(f.resolve()) for item in files if not isinstance(item, LoadWarning) for f in [item[0]]}

    with IndexWriter(index_dir, settings=settings) as writer:
        previous = writer.previous_manifest
        prev_model = previous["model"]["name"] if previous else None
        model_name = model or prev_model or settings.model
        if prev_model and model_name != prev_model:
            raise ModelMismatch(f"the index at {index_dir} was built with model {prev_model!r}, not {model_name!r}; "
                                f"use --model {prev_model!r} or build into a new --index folder")
        existing = writer.existing()
        wanted_input = passage_format(settings.embed_titles)
        # Vectors computed from other input (an index built before titles were embedded, or with
        # EDSEARCH_EMBED_TITLES changed) would not compare with new ones: every kept article is embedded again.
        reembed = previous is not None and embedding_input(previous) != wanted_input
        seen: dict[str, str] = {}
        failed_files: set[str] = set()
        pending: list[Article] = []
        to_replace: set[str] = set()

        bar = tqdm(total=len(files), unit="file", desc="reading", disable=not progress, leave=False)
        for item in files:
            bar.update(1)
            if isinstance(item, LoadWarning):
                summary.skipped += 1
                summary.warnings.append(str(item))
                continue
            path, root = item
            for rec in load_file(path, root):
                if isinstance(rec, LoadWarning):
                    summary.warnings.append(str(rec))
                    if not rec.kept:
                        summary.skipped += 1
                    if rec.whole_file:
                        failed_files.add(str(path.resolve()))
                    continue
                if rec.id in seen:
                    summary.skipped += 1
                    summary.warnings.append(f"{rec.source}: article id {rec.id!r} was already read from {seen[rec.id]};"
                                            " not merged, skipped (give each article a distinct id)")
                    continue
                seen[rec.id] = rec.source
                if rec.id in existing:
                    old_hash, old_source = existing[rec.id]
                    if old_source != rec.source and old_source not in run_files and Path(old_source).exists():
                        summary.skipped += 1
                        summary.warnings.append(f"{rec.source}: article id {rec.id!r} is already indexed from "
                                                f"{old_source}; not merged, skipped (give it a distinct id)")
                        continue
                    if old_hash == rec.content_hash:
                        summary.unchanged += 1
                        if old_source != rec.source:
                            writer.db.execute("UPDATE articles SET source = ? WHERE id = ?", (rec.source, rec.id))
                        continue
                    to_replace.add(rec.id)
                    summary.updated += 1
                else:
                    summary.indexed += 1
                pending.append(rec)
        bar.close()

        removals = set()
        if prune:
            for art_id, (_, source) in existing.items():
                if art_id in seen or source in failed_files:
                    continue
                if source in run_files or not Path(source).exists():
                    removals.add(art_id)
        summary.removed = len(removals)
        if reembed:
            again = [i for i in existing if i not in to_replace and i not in removals]
            pending.extend(writer.stored_articles(again))
            to_replace.update(again)
            summary.reembedded = len(again)

        near_stale = previous is not None and _near_threshold(previous) != settings.near_duplicate_threshold
        if not pending and not removals and not near_stale:
            summary.seconds = time.perf_counter() - started
            return summary
        if not pending and not removals:
            # No article changed, but the index has no near-duplicate groups yet (built before them) or has them
            # at another threshold: compute them and publish; nothing is embedded.
            kept = {k: previous[k] for k in ("model", "tokenizer", "embedding_input", "chunking", "sources")
                    if k in previous}
            summary.index_version = writer.publish({**kept, "near_duplicates": _near_duplicates(writer, settings,
                                                                                             previous)})
            summary.published = str(index_dir)
            summary.seconds = time.perf_counter() - started
            return summary

        embedder = embedder_for(settings, model_name, dtype)
        if previous and previous["model"]["dim"] != embedder.dim:
            raise ModelMismatch(f"model {model_name!r} gives {embedder.dim}-d vectors but the index holds "
                                f"{previous['model']['dim']}-d; build into a new --index folder")
        writer.init_vectors(embedder.dim)
        writer.remove_articles(removals | to_replace)
        limit = embedder.max_tokens

        def chunked(batch: list[Article]) -> list[tuple[Article, list[Chunk]]]:
            return [(a, chunk_article(a, settings.chunk_tokens, settings.chunk_overlap, limit,
                                      embedder.count_tokens)) for a in batch]

        def local_stage() -> Iterator[tuple[list[tuple[Article, list[Chunk]]], np.ndarray]]:
            for batch in prefetch(map(chunked, _batches(pending, batch_articles))):
                texts = [c.text for _, chunks in batch for c in chunks]
                titles = [a.title for a, chunks in batch for _ in chunks] if settings.embed_titles else None
                t0 = time.perf_counter()
                vectors = embed_passages(embedder, texts, titles)
                summary.encode_seconds += time.perf_counter() - t0
                yield batch, vectors

        timings: dict = {}
        if engine == "ray":
            from .ray_engine import chunk_and_embed

            stage = chunk_and_embed(pending, model=model_name, dtype=embedder.dtype, batch_size=embedder.batch_size,
                                    backend=embedder.backend, cache_dir=settings.cache_dir,
                                    chunk_tokens=settings.chunk_tokens, chunk_overlap=settings.chunk_overlap,
                                    limit=limit, dim=embedder.dim, address=ray_address or settings.ray_address or None,
                                    embed_actors=settings.ray_embed_actors or None,
                                    embed_cpus=settings.ray_embed_cpus, embed_titles=settings.embed_titles,
                                    batch_articles=batch_articles, timings=timings, verbose=progress)
        else:
            stage = local_stage()

        bar = tqdm(total=len(pending), unit="article", desc="embedding", disable=not progress)
        for batch, vectors in stage:
            texts = [c.text for _, chunks in batch for c in chunks]
            writer.add_articles(batch, vectors)
            summary.chunks += len(texts)
            bar.update(len(batch))
            bar.set_postfix(passages=summary.chunks)
            if on_batch:
                on_batch(summary.chunks)
        bar.close()
        summary.encode_seconds += timings.get("encode_seconds", 0.0)

        counts = writer.counts()
        if counts["articles"] == 0:
            summary.warnings.append("nothing left to index; the published index was kept as it was")
            summary.seconds = time.perf_counter() - started
            return summary
        summary.index_version = writer.publish({
            "model": {"name": model_name, "dim": embedder.dim, "dtype": embedder.dtype, "backend": embedder.backend,
                      "max_tokens": embedder.max_tokens, "normalized": True},
            "tokenizer": TOKENIZER,
            "embedding_input": wanted_input,
            "chunking": {"target_tokens": settings.chunk_tokens, "overlap_tokens": settings.chunk_overlap,
                         "max_model_tokens": limit},
            "sources": sorted({str(Path(s)) for s in sources}),
            "near_duplicates": _near_duplicates(writer, settings, previous),
        })
    summary.published = str(index_dir)
    summary.seconds = time.perf_counter() - started
    return summary
