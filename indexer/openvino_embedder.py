"""OpenVINOEmbedder: the query side's embedder, without torch.

A sentence-transformers model that `Embedder` has converted to OpenVINO (and checked against PyTorch) is run here
with OpenVINO, the `tokenizers` library and numpy, tokenising, pooling and normalising as the model's own
sentence-transformers configuration says (modules.json, sentence_bert_config.json, the Pooling module's
config.json). It gives the vectors of the sentence-transformers path, without importing torch, transformers or
sentence-transformers: a search from a new process starts in about a second instead of eight (docs/startup.md).

Only what it can reproduce exactly is taken on: a model folder with a tokenizer.json, a Transformer, a mean, CLS
or max Pooling and an optional Normalize module. Anything else raises NotConverted and the caller uses `Embedder`.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from importlib import metadata
from pathlib import Path

import numpy as np

SMALL_BATCH = 8   # texts; at most this many are encoded on a single thread (queries)
# Token sequences are padded to a multiple of this. The CPU kernels (oneDNN, bf16 above all) are cached per input
# shape, so free-form lengths grow a server's memory with every new shape (measured in docs/reliability.md); the
# vectors are unchanged (pads are masked). A query-sized batch pads to a multiple of 8 only.
PAD_MULTIPLE = 32
PAD_MULTIPLE_SMALL = 8
VERIFIED = "edsearch.json"   # written beside the converted model once it has matched PyTorch on a probe input
_ST_MODULE = "sentence_transformers.models."


class NotConverted(LookupError):
    """No checked conversion of this model is cached, or the model is not one this runtime reproduces."""


def model_key(model_dir: str | Path) -> str:
    """The cache key of a model folder: its files' names, sizes and modification times, and the OpenVINO version
    (read without importing torch or the model)."""
    root = Path(model_dir)
    h = hashlib.sha256(metadata.version("openvino").encode())
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        st = path.stat()
        h.update(f"{path.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def cache_entry(model_dir: str | Path, cache_dir: str) -> Path:
    return Path(cache_dir).expanduser() / "openvino" / model_key(model_dir)


def mark_verified(folder: Path, names: list[str]) -> None:
    """Record that the converted model in `folder` matched PyTorch; written atomically, the last step."""
    tmp = folder / f".{VERIFIED}.tmp"
    tmp.write_text(json.dumps({"inputs": names}))
    os.replace(tmp, folder / VERIFIED)


def _pick_dtype(requested: str) -> str:
    from .model_files import cpu_has_bf16, normalise_dtype

    dtype = normalise_dtype(requested)
    return dtype if dtype != "auto" else ("bfloat16" if cpu_has_bf16() else "float32")


class _Pipeline:
    """What the model folder's sentence-transformers configuration says: tokenizer file, length, pooling."""

    def __init__(self, model_dir: Path):
        try:
            modules = json.loads((model_dir / "modules.json").read_text())
        except (OSError, ValueError) as exc:
            raise NotConverted(f"{model_dir} has no readable modules.json") from exc
        types = [m.get("type", "") for m in modules]
        if not (types and types[0] == _ST_MODULE + "Transformer" and len(types) >= 2
                and types[1] == _ST_MODULE + "Pooling"
                and all(t == _ST_MODULE + "Normalize" for t in types[2:])):
            raise NotConverted(f"modules {types} are not Transformer, Pooling[, Normalize]")
        self.normalize = len(types) > 2
        transformer = model_dir / modules[0].get("path", "")
        st_config = json.loads((transformer / "sentence_bert_config.json").read_text()) \
            if (transformer / "sentence_bert_config.json").exists() else {}
        if st_config.get("do_lower_case"):
            raise NotConverted("do_lower_case is done by sentence-transformers, not the tokenizer")
        self.max_tokens = int(st_config.get("max_seq_length") or 512)
        pooling = json.loads((model_dir / modules[1]["path"] / "config.json").read_text())
        modes = [m for m in ("cls_token", "mean_tokens", "max_tokens") if pooling.get(f"pooling_mode_{m}")]
        others = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v
                  and k[len("pooling_mode_"):] not in ("cls_token", "mean_tokens", "max_tokens")]
        if len(modes) != 1 or others or pooling.get("include_prompt") is False:
            raise NotConverted(f"pooling {pooling} is not one of CLS, mean or max")
        self.pooling = modes[0]
        self.dim = int(pooling["word_embedding_dimension"])
        if not (transformer / "tokenizer.json").exists():
            raise NotConverted(f"{transformer} has no tokenizer.json")
        self.tokenizer_file = transformer / "tokenizer.json"


class OpenVINOEmbedder:
    """Encodes text to L2-normalised float32 vectors with a converted model; the same interface as `Embedder`."""

    backend = "openvino"

    def __init__(self, model: str, model_dir: Path, entry: Path, dtype: str = "auto", batch_size: int = 16):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import openvino as ov
        from tokenizers import Tokenizer

        self.name, self.batch_size = model, batch_size
        self.dtype = _pick_dtype(dtype)
        pipe = _Pipeline(model_dir)
        self.dim, self.max_tokens, self._pooling = pipe.dim, pipe.max_tokens, pipe.pooling
        self._names = json.loads((entry / VERIFIED).read_text())["inputs"]
        self._tokenizer = Tokenizer.from_file(str(pipe.tokenizer_file))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.no_padding()          # tokenizer.json may pad to a fixed length; _run pads each batch
        self._counter = Tokenizer.from_file(str(pipe.tokenizer_file))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        self._core = ov.Core()
        self._model = self._core.read_model(str(entry / "model.xml"))
        self._hint = {"INFERENCE_PRECISION_HINT": "bf16" if self.dtype == "bfloat16" else "f32"}
        # Query-sized batches run on one thread: with the other core busy (concurrent requests, a build), two
        # threads wait on each other (bench/query_encode.py). Large batches use every core, compiled on first use.
        self._one = self._core.compile_model(self._model, "CPU", {**self._hint, "INFERENCE_NUM_THREADS": 1}
                                             ).create_infer_request()
        self._every = None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, model: str, dtype: str = "auto", batch_size: int = 16, cache_dir: str | None = None
             ) -> "OpenVINOEmbedder":
        """The checked conversion of `model` from the cache, or NotConverted saying why not."""
        from .model_files import resolve_model

        model_dir = Path(resolve_model(model))
        if not cache_dir:
            raise NotConverted("no cache folder is set (EDSEARCH_CACHE_DIR)")
        if not model_dir.is_dir():
            raise NotConverted(f"model {model!r} is not a local folder")
        _Pipeline(model_dir)           # NotConverted now, before looking in the cache, for a model we cannot run
        entry = cache_entry(model_dir, cache_dir)
        if not (entry / VERIFIED).exists() or not (entry / "model.xml").exists():
            raise NotConverted(f"model {model!r} has not been converted for OpenVINO yet")
        try:
            return cls(model, model_dir, entry, dtype, batch_size)
        except NotConverted:
            raise
        except Exception as exc:            # a damaged cache entry: the full path converts it again
            raise NotConverted(f"the converted model at {entry} cannot be read ({exc})") from exc

    # -- running the model --
    def _run(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, its token vectors (n_tokens, dim), float32, special tokens included."""
        small = len(texts) <= SMALL_BATCH
        multiple = PAD_MULTIPLE_SMALL if small else PAD_MULTIPLE
        enc = self._tokenizer.encode_batch([str(t).strip() for t in texts], add_special_tokens=True)  # tokenised once
        # Like sentence-transformers: batches of similar lengths, so little of each batch is padding.
        order = sorted(range(len(enc)), key=lambda i: -len(enc[i].ids))
        out: list[np.ndarray | None] = [None] * len(enc)
        for b in range(0, len(order), self.batch_size):
            idx = order[b:b + self.batch_size]
            width = -(-max(len(enc[i].ids) for i in idx) // multiple) * multiple
            feeds = {n: np.zeros((len(idx), width), dtype=np.int64) for n in self._names}
            feeds["input_ids"].fill(self._pad_id)
            for row, i in enumerate(idx):
                e, n = enc[i], len(enc[i].ids)
                feeds["input_ids"][row, :n] = e.ids
                for name, values in (("attention_mask", e.attention_mask), ("token_type_ids", e.type_ids)):
                    if name in feeds:
                        feeds[name][row, :n] = values
            hidden = self._request(small).infer({n: feeds[n] for n in self._names})[0]
            for row, i in enumerate(idx):
                out[i] = np.array(hidden[row, :len(enc[i].ids)], dtype=np.float32)   # a copy: the buffer is reused
        return out

    def _request(self, small: bool):
        if small:
            return self._one
        if self._every is None:
            self._every = self._core.compile_model(self._model, "CPU", self._hint).create_infer_request()
        return self._every

    def token_embeddings(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, the model's unpooled token vectors (n_tokens, dim), special tokens included."""
        if not texts:
            return []
        with self._lock:
            return self._run(list(texts))

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Vectors of shape (len(texts), dim), float32, unit length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokens = self.token_embeddings(texts)
        if self._pooling == "mean_tokens":
            vecs = np.stack([t.mean(axis=0) for t in tokens])
        elif self._pooling == "cls_token":
            vecs = np.stack([t[0] for t in tokens])
        else:
            vecs = np.stack([t.max(axis=0) for t in tokens])
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)  # unit length: what the index holds
        return vecs

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Length of each text in the model's own tokens, special tokens included."""
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=True)]
