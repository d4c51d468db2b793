"""VectorIndex: FAISS vectors keyed by chunk id, with exact search and id-filtered search."""
from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np


class VectorIndex:
    """Inner-product search over unit vectors (cosine), keyed by int64 chunk ids."""

    kind = "flat"

    def __init__(self, dim: int, index: faiss.Index | None = None):
        self.dim = dim
        self.index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                    np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids) -> int:
        ids = np.asarray(list(ids), dtype=np.int64)
        return int(self.index.remove_ids(faiss.IDSelectorBatch(ids))) if len(ids) else 0

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for one query vector; `allowed` restricts to those chunk ids (exactly)."""
        k = min(k, len(self) if allowed is None else min(len(self), len(allowed)))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        scores, ids = self.index.search(q, k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path) -> "VectorIndex":
        index = faiss.read_index(str(path))
        return cls(index.d, index)
