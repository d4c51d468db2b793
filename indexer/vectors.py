"""Vector indexes keyed by chunk id: exact (flat), HNSW and IVF-PQ behind one small interface.

Every type offers add / remove / search(query, k, allowed) / save / load and len() = live vectors. An index's
vectors live in immutable segments (indexer/writer.py), each of one type by its size (`segment_kind`): exact
search while small, HNSW from `hnsw_threshold` vectors (20k by default), IVF-PQ only when asked for
(`vector_index=ivfpq`, or `ivfpq_threshold` > 0); `SegmentedVectors` searches them together. See docs/scale.md.

- flat:  IndexIDMap2(IndexFlatIP); removal is native.
- hnsw:  IndexHNSWSQ with fp16 storage (half the memory of IndexHNSWFlat, same recall; `hnsw_storage=fp32`
         for IndexHNSWFlat) over positions 0..n-1, with `labels` (position -> chunk id, `<file>.ids.npy`) and
         tombstones (dead positions, `<file>.tombstones.npy`): FAISS HNSW cannot remove, so a removed or
         replaced vector is marked dead and skipped at search time through an IDSelectorBitmap (combined with the
         filter's allowed ids). A segment is rewritten by a merge once dead vectors exceed `compact_fraction`.
         Selective filters (few allowed ids) are answered exactly from the stored vectors.
- ivfpq: IndexIVFPQ keyed by chunk id (removal is native); filtered searches that come back short are re-run
         over every list. Lossy (product quantization): recall is lower than HNSW's; for memory, not accuracy.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

KINDS = ("flat", "hnsw", "ivfpq")
EMPTY = (np.zeros(0, np.float32), np.zeros(0, np.int64))


@dataclass(frozen=True)
class VectorPolicy:
    """Which index type a build publishes, and its parameters (from Settings; see indexer/config.py)."""

    kind: str = "auto"                # auto | flat | hnsw | ivfpq
    hnsw_threshold: int = 20_000      # auto: a segment this big or bigger is hnsw, a smaller one flat
    ivfpq_threshold: int = 0          # auto: -> ivfpq above this many (0 = never)
    hnsw_m: int = 32
    hnsw_ef_construction: int = 128
    hnsw_ef_search: int = 256
    hnsw_storage: str = "fp16"        # fp16 (IndexHNSWSQ) | fp32 (IndexHNSWFlat)
    ivf_nlist: int = 0                # 0 = 4 * sqrt(n)
    ivf_nprobe: int = 32
    pq_m: int = 48                    # sub-quantizers (must divide dim)
    compact_fraction: float = 0.2     # a segment is rewritten once this share of its vectors are tombstones

    @classmethod
    def from_settings(cls, settings) -> "VectorPolicy":
        if settings is None:
            return cls()
        kind = (getattr(settings, "vector_index", "auto") or "auto").lower()
        if kind not in ("auto", *KINDS):
            raise ValueError(f"unknown vector index type {kind!r}; use auto, flat, hnsw or ivfpq")
        names = {f: getattr(settings, f) for f in ("hnsw_threshold", "ivfpq_threshold", "hnsw_m",
                                                    "hnsw_ef_construction", "hnsw_ef_search", "hnsw_storage",
                                                    "ivf_nlist", "ivf_nprobe", "pq_m", "compact_fraction")
                 if hasattr(settings, f)}
        if not names.get("hnsw_ef_search"):
            names.pop("hnsw_ef_search", None)       # 0: a new index saves the default
        return cls(kind=kind, **names)


def _f32(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float32)


def _i64(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(list(x) if not isinstance(x, np.ndarray) else x, dtype=np.int64))


def sorted_ids(ids) -> np.ndarray:
    """Chunk ids sorted, without repeats: checked in one pass when they already are (np.unique hashes, 4x slower
    than sorting for 250,000 ids, and a filter's ids reach every segment)."""
    ids = _i64(ids)
    if len(ids) > 1 and not np.all(ids[1:] > ids[:-1]):
        ids = np.sort(ids)
        ids = ids[np.r_[True, ids[1:] != ids[:-1]]]
    return ids


def _exact(vectors: np.ndarray, labels: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = vectors.astype(np.float32, copy=False) @ query.reshape(-1).astype(np.float32)
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    top = top[np.argsort(-scores[top], kind="stable")]
    return scores[top].astype(np.float32), labels[top].astype(np.int64)


def _sidecars(path: Path) -> tuple[Path, Path, Path]:
    path = Path(path)
    return path.with_name(path.name + ".ids.npy"), path.with_name(path.name + ".tombstones.npy"), \
        path.with_name(path.name + ".json")


class VectorIndex:
    """Inner-product search over unit vectors (cosine), keyed by int64 chunk ids.

    `VectorIndex(dim)` makes an empty exact index (the type every new index starts as); `VectorIndex.load`
    opens any type."""

    kind = "flat"

    def __new__(cls, *args, **kwargs):
        return super().__new__(FlatIndex if cls is VectorIndex else cls)

    # -- the interface --
    def __len__(self) -> int:
        raise NotImplementedError

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        raise NotImplementedError

    def remove(self, ids) -> int:
        raise NotImplementedError

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for one query vector; `allowed` restricts to those chunk ids."""
        raise NotImplementedError

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 vectors) of the live vectors, to rebuild as another type."""
        raise NotImplementedError

    def save(self, path: Path) -> list[Path]:
        """Write the index at `path` (and sidecar files beside it); returns every file written."""
        faiss.write_index(self.index, str(path))
        return [Path(path)]

    def params(self) -> dict:
        return {}

    def describe(self) -> dict:
        """What the manifest records under "vectors"."""
        return {"type": self.kind, "metric": "inner_product", "live": len(self), "params": self.params()}

    @staticmethod
    def load(path: Path) -> "VectorIndex":
        index = faiss.read_index(str(path))
        meta_path = _sidecars(path)[2]
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        kind = meta.get("type")
        if kind == "hnsw" or (kind is None and isinstance(index, faiss.IndexHNSW)):
            return HNSWIndex.from_files(index, path, meta)
        if kind == "ivfpq" or (kind is None and isinstance(index, faiss.IndexIVF)):
            return IVFPQIndex(index.d, index=index, nprobe=meta.get("params", {}).get("nprobe", 32))
        return FlatIndex(index.d, index)

    @staticmethod
    def build(kind: str, dim: int, ids: np.ndarray, vectors: np.ndarray,
              policy: VectorPolicy | None = None) -> "VectorIndex":
        """A new index of `kind` holding these vectors."""
        policy = policy or VectorPolicy()
        if kind == "flat":
            out: VectorIndex = FlatIndex(dim)
        elif kind == "hnsw":
            out = HNSWIndex(dim, m=policy.hnsw_m, ef_construction=policy.hnsw_ef_construction,
                            ef_search=policy.hnsw_ef_search, storage=policy.hnsw_storage)
        elif kind == "ivfpq":
            out = IVFPQIndex.trained(dim, vectors, nlist=policy.ivf_nlist, nprobe=policy.ivf_nprobe, pq_m=policy.pq_m)
        else:
            raise ValueError(f"unknown vector index type {kind!r}; use flat, hnsw or ivfpq")
        out.add(ids, vectors)
        return out


class _NativeIds:
    """For FAISS indexes that take ids and remove them natively (IDMap2 over flat, IVF-PQ)."""

    index: faiss.Index

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(_f32(vectors), _i64(ids))

    def remove(self, ids) -> int:
        ids = _i64(ids)
        return int(self.index.remove_ids(faiss.IDSelectorBatch(ids))) if len(ids) else 0


class FlatIndex(_NativeIds, VectorIndex):
    """Exact search: IndexIDMap2(IndexFlatIP); removal is native."""

    kind = "flat"

    def __init__(self, dim: int, index: faiss.Index | None = None):
        self.dim = dim
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def search(self, query, k, allowed=None):
        k = min(k, len(self) if allowed is None else min(len(self), len(allowed)))
        if k <= 0:
            return EMPTY
        q = _f32(query.reshape(1, -1))
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(_i64(allowed)))
        scores, ids = self.index.search(q, k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def export(self):
        n = len(self)
        ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
        flat = faiss.downcast_index(self.index.index)
        vectors = faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim).copy() if n else \
            np.zeros((0, self.dim), np.float32)
        return ids, vectors

    def save(self, path):
        for side in _sidecars(path):   # a flat index has none; drop any left by another type
            side.unlink(missing_ok=True)
        return super().save(path)


class HNSWIndex(VectorIndex):
    """Approximate search with HNSW over positions, tombstones for removals (see the module doc)."""

    kind = "hnsw"
    EXACT_BELOW = 20_000        # allowed ids: at most this many -> exact search over them
    EXACT_FRACTION = 0.02       # ... or at most this fraction of the index

    def __init__(self, dim: int, m: int = 32, ef_construction: int = 128, ef_search: int = 256,
                 index: faiss.Index | None = None, labels: np.ndarray | None = None, dead: np.ndarray | None = None,
                 storage: str = "fp16"):
        self.dim = dim
        if index is None:
            if storage not in ("fp16", "fp32"):
                raise ValueError(f"unknown HNSW storage {storage!r}; use fp16 or fp32")
            index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, m, faiss.METRIC_INNER_PRODUCT) \
                if storage == "fp16" else faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = ef_construction
        self.index = index
        self.m = int(index.hnsw.nb_neighbors(1))
        self.ef_construction = int(index.hnsw.efConstruction)
        self.ef_search = ef_search
        self.labels = labels if labels is not None else np.zeros(0, np.int64)
        self.dead = dead if dead is not None else np.zeros(0, bool)
        self._n_dead = int(self.dead.sum())
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None   # (sorted live labels, their positions)
        self._live_sel = None

    @classmethod
    def from_files(cls, index, path, meta) -> "HNSWIndex":
        ids_path, dead_path, _ = _sidecars(path)
        labels = np.load(ids_path) if ids_path.exists() else np.arange(index.ntotal, dtype=np.int64)
        dead = np.zeros(index.ntotal, bool)
        if dead_path.exists():
            dead[np.load(dead_path)] = True
        if len(labels) != index.ntotal:
            raise ValueError(f"{ids_path} holds {len(labels)} ids for {index.ntotal} vectors")
        p = meta.get("params", {})
        return cls(index.d, ef_search=int(p.get("ef_search", 256)), index=index, labels=labels, dead=dead)

    def __len__(self) -> int:
        return int(self.index.ntotal) - self._n_dead

    def _changed(self) -> None:
        self._lookup = None
        self._live_sel = None

    def _positions(self, ids: np.ndarray, presorted: bool = False) -> np.ndarray:
        """Live positions holding these chunk ids (ids not present are ignored); `presorted`: the ids are sorted,
        and only those within this segment's range are looked up."""
        if self._lookup is None:
            live = np.flatnonzero(~self.dead)
            order = np.argsort(self.labels[live], kind="stable")
            self._lookup = (self.labels[live][order], live[order])
        keys, pos = self._lookup
        if not len(keys) or not len(ids):
            return np.zeros(0, np.int64)
        if presorted:
            ids = ids[np.searchsorted(ids, keys[0]):np.searchsorted(ids, keys[-1], side="right")]
        at = np.clip(np.searchsorted(keys, ids), 0, len(keys) - 1)
        return pos[at[keys[at] == ids]]

    def add(self, ids, vectors):
        ids = _i64(ids)
        if not len(ids):
            return
        self.remove(ids)      # re-adding an id replaces its vector (the old one becomes a tombstone)
        self.index.add(_f32(vectors))
        self.labels = np.concatenate([self.labels, ids])
        self.dead = np.concatenate([self.dead, np.zeros(len(ids), bool)])
        self._changed()

    def remove(self, ids) -> int:
        pos = self._positions(_i64(ids))
        if not len(pos):
            return 0
        self.dead[pos] = True
        self._n_dead += len(pos)
        self._changed()
        return len(pos)

    @property
    def storage(self) -> str:
        return "fp16" if isinstance(self.index, faiss.IndexHNSWSQ) else "fp32"

    def _stored(self) -> np.ndarray:
        """Zero-copy view of the stored vectors, float16 or float32 (valid until the next add)."""
        n = self.index.ntotal
        storage = faiss.downcast_index(self.index.storage)
        if isinstance(storage, faiss.IndexScalarQuantizer):      # QT_fp16 codes are plain IEEE halves
            return faiss.rev_swig_ptr(storage.codes.data(), n * self.dim * 2).view(np.float16).reshape(n, self.dim)
        return faiss.rev_swig_ptr(storage.get_xb(), n * self.dim).reshape(n, self.dim)

    def _bitmap(self, positions: np.ndarray):
        mask = np.zeros(self.index.ntotal, bool)
        mask[positions] = True
        bits = np.packbits(mask, bitorder="little")
        return faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits)), bits

    def search(self, query, k, allowed=None):
        q = _f32(query.reshape(1, -1))
        live = len(self)
        if allowed is not None:
            positions = self._positions(sorted_ids(allowed), presorted=True)
            k = min(k, len(positions))
            if k <= 0:
                return EMPTY
            if len(positions) <= max(self.EXACT_BELOW, self.EXACT_FRACTION * live):
                return _exact(self._stored()[positions], self.labels[positions], q, k)
            sel, keep = self._bitmap(positions)
        else:
            k = min(k, live)
            if k <= 0:
                return EMPTY
            positions, sel, keep = None, None, None
            if self._n_dead:
                if self._live_sel is None:
                    self._live_sel = self._bitmap(np.flatnonzero(~self.dead))
                sel, keep = self._live_sel
        params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, k))
        if sel is not None:
            params.sel = sel
        scores, pos = self.index.search(q, k, params=params)
        found = pos[0] >= 0
        scores, pos = scores[0][found], pos[0][found]
        if len(pos) < k:     # the graph walk met too few allowed vectors: answer exactly
            if positions is None:
                positions = np.flatnonzero(~self.dead)
            return _exact(self._stored()[positions], self.labels[positions], q, k)
        del keep
        return scores, self.labels[pos]

    def export(self):
        live = np.flatnonzero(~self.dead)
        return self.labels[live].copy(), self._stored()[live].astype(np.float32)

    def params(self) -> dict:
        return {"m": self.m, "ef_construction": self.ef_construction, "ef_search": self.ef_search,
                "storage": self.storage, "tombstones": self._n_dead, "total": int(self.index.ntotal)}

    def save(self, path):
        path = Path(path)
        ids_path, dead_path, meta_path = _sidecars(path)
        faiss.write_index(self.index, str(path))
        np.save(ids_path, self.labels)
        np.save(dead_path, np.flatnonzero(self.dead).astype(np.int64))
        meta_path.write_text(json.dumps({"type": self.kind, "params": self.params()}) + "\n")
        return [path, ids_path, dead_path, meta_path]


class IVFPQIndex(_NativeIds, VectorIndex):
    """IndexIVFPQ keyed by chunk id: compressed (about dim/8 bytes a vector), removal is native."""

    kind = "ivfpq"

    def __init__(self, dim: int, index: faiss.Index, nprobe: int = 32):
        self.dim = dim
        self.index = index
        self.nprobe = nprobe

    @classmethod
    def trained(cls, dim: int, vectors: np.ndarray, nlist: int = 0, nprobe: int = 32, pq_m: int = 48) -> "IVFPQIndex":
        n = len(vectors)
        if n < 1000:
            raise ValueError(f"ivfpq needs at least 1000 vectors to train on, got {n}; use flat or hnsw")
        nlist = nlist or int(min(max(16, 4 * np.sqrt(n)), n // 39))
        if dim % pq_m:
            pq_m = next(m for m in (48, 32, 24, 16, 12, 8, 4, 2, 1) if dim % m == 0)
        nbits = 8 if n >= 256 * 39 else 6
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFPQ(quantizer, dim, nlist, pq_m, nbits, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = vectors if n <= 100_000 else vectors[np.sort(rng.choice(n, 100_000, replace=False))]
        index.train(_f32(sample))
        return cls(dim, index, nprobe)

    def search(self, query, k, allowed=None):
        k = min(k, len(self) if allowed is None else min(len(self), len(allowed)))
        if k <= 0:
            return EMPTY
        q = _f32(query.reshape(1, -1))
        sel = faiss.IDSelectorBatch(_i64(allowed)) if allowed is not None else None
        for nprobe in (self.nprobe, self.index.nlist):
            params = faiss.SearchParametersIVF(nprobe=min(nprobe, self.index.nlist))
            if sel is not None:
                params.sel = sel
            scores, ids = self.index.search(q, k, params=params)
            keep = ids[0] >= 0
            if keep.sum() >= k or nprobe >= self.index.nlist:
                break
        return scores[0][keep], ids[0][keep]

    def export(self):
        raise ValueError("ivfpq vectors are compressed and cannot be exported exactly")

    def params(self) -> dict:
        pq = self.index.pq
        return {"nlist": int(self.index.nlist), "nprobe": self.nprobe, "pq_m": int(pq.M), "nbits": int(pq.nbits)}

    def save(self, path):
        path = Path(path)
        ids_path, dead_path, meta_path = _sidecars(path)
        ids_path.unlink(missing_ok=True)
        dead_path.unlink(missing_ok=True)
        faiss.write_index(self.index, str(path))
        meta_path.write_text(json.dumps({"type": self.kind, "params": self.params()}) + "\n")
        return [path, meta_path]


def segment_kind(policy: VectorPolicy, live: int) -> str:
    """The type a new segment of `live` vectors is written as: HNSW from `hnsw_threshold` vectors under `auto`
    (exact search below: small segments are searched faster than a graph is built); IVF-PQ needs 1000 vectors to
    train on, so a smaller segment of an IVF-PQ index is exact."""
    if policy.kind != "auto":
        kind = policy.kind
    elif policy.ivfpq_threshold and live >= policy.ivfpq_threshold:
        kind = "ivfpq"
    else:
        kind = "hnsw" if live >= policy.hnsw_threshold else "flat"
    return "flat" if kind == "ivfpq" and live < 1000 else kind


class SegmentedVectors:
    """Search over the live vector segments of one commit: each segment's top k (its tombstones applied when it
    was loaded), merged by score. Over flat segments this is the top k a single merged index gives.

    HNSW segments share the search depth by size: each searches with ef_search x its share of the HNSW vectors,
    at least MIN_EF, so 20 segments cost a few times what one merged graph costs instead of 20 times it (recall
    and times in docs/scale.md). Each segment is first asked for its best FIRST_K only; a segment whose FIRST_K-th
    score still reaches the k-th best score found is asked again for k (over flat segments still exactly the
    merged top k: a segment not asked again has nothing better than the k-th score below its FIRST_K). Most
    queries' top k spread over the segments, so most segments are searched at the shallow depth only. The calling
    thread and a pool thread per other core take the segments in turn (FAISS releases the GIL)."""

    MIN_EF = 24     # 20 graphs of 50,000: recall@10 0.992 against 0.997 at 32, a fifth less work (docs/scale.md)
    FIRST_K = 16

    def __init__(self, dim: int, segments: list[tuple[int, VectorIndex]]):
        self.dim = dim
        self.segments = segments
        self._ef_search = next((v.ef_search for _, v in segments if v.kind == "hnsw"), None)
        self._share()

    def _share(self) -> None:
        graphs = [v for _, v in self.segments if v.kind == "hnsw"]
        total = sum(len(v) for v in graphs) or 1
        for v in graphs:
            v.ef_search = max(self.MIN_EF, round(self._ef_search * len(v) / total))

    def __len__(self) -> int:
        return sum(len(v) for _, v in self.segments)

    @property
    def ef_search(self) -> int | None:
        """The search depth of the whole index (what one merged HNSW graph would search with)."""
        return self._ef_search

    @ef_search.setter
    def ef_search(self, value: int) -> None:
        self._ef_search = value
        self._share()

    def export(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, float32 vectors) of the live vectors of every segment."""
        parts = [v.export() for _, v in self.segments]
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, self.dim), np.float32)
        return np.concatenate([i for i, _ in parts]), np.concatenate([v for _, v in parts])

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        live = [v for _, v in self.segments if len(v)]
        if not live:
            return EMPTY
        if len(live) == 1:
            return live[0].search(query, k, allowed)
        first = min(k, self.FIRST_K)
        if allowed is not None:
            allowed = sorted_ids(allowed)           # once, not in every segment
        found = _each(live, lambda v: v.search(query, first, allowed))
        scores = np.concatenate([s for s, _ in found])
        if first < k and len(scores):
            kth = np.sort(scores)[::-1][:k][-1]
            again = [i for i, (s, _) in enumerate(found) if len(s) == first and s[-1] >= kth]
            for i, deeper in zip(again, _each([live[i] for i in again], lambda v: v.search(query, k, allowed))):
                found[i] = deeper
        scores = np.concatenate([s for s, _ in found])
        ids = np.concatenate([i for _, i in found])
        order = np.lexsort((ids, -scores))[:k]         # best score first, ties by chunk id
        return scores[order], ids[order]


def _each(segments: list, search) -> list:
    """search(segment) for each segment: the calling thread and CORES - 1 pool threads take the next segment
    until none is left, so a thread slowed by other work (hybrid search's keyword leg) takes fewer (one task per
    segment costs more in hand-offs than it gains)."""
    out: list = [None] * len(segments)
    todo = iter(range(len(segments)))      # next() on it is atomic under the GIL

    def work() -> None:
        for i in todo:
            out[i] = search(segments[i])

    helpers = [_SEARCH_POOL.submit(work) for _ in range(min(len(segments), CORES) - 1)]
    work()
    for helper in helpers:
        helper.result()
    return out


CORES = os.cpu_count() or 2
_SEARCH_POOL = ThreadPoolExecutor(max_workers=CORES, thread_name_prefix="edsearch-segments")
