"""Embedder: resolve a sentence-transformers model offline, pick the dtype and runtime, encode normalised vectors."""
from __future__ import annotations

import copy
import inspect
import logging
import os
import shutil
import tempfile
import threading
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from .config import BACKENDS, DEFAULT_BATCH_SIZE, DEFAULT_CACHE_DIR, DEFAULT_MODEL
from .model_files import ModelError, cpu_has_bf16, normalise_dtype, resolve_model  # noqa: F401 (re-exported)
# Batch sizes and padding are the query side's too (indexer/openvino_embedder.py says why).
from .openvino_embedder import (PAD_MULTIPLE, PAD_MULTIPLE_SMALL, SMALL_BATCH, NotConverted, OpenVINOEmbedder,
                                cache_entry, mark_verified)

log = logging.getLogger("edsearch")


def pick_backend(requested: str = "auto", device: str | None = None) -> str:
    """openvino where it is installed and the model runs on the CPU, else torch; or as requested."""
    requested = (requested or "auto").lower()
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; use auto, openvino or torch")
    if requested != "auto":
        return requested
    if device not in (None, "cpu"):
        return "torch"
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "torch"
    return "openvino"


def pick_dtype(requested: str = "auto") -> str:
    requested = normalise_dtype(requested)
    if requested != "auto":
        return requested
    import torch

    return "bfloat16" if (cpu_has_bf16() and not torch.cuda.is_available()) else "float32"


def _openvino_ir(hf_model, names: list[str], folder: Path | None):
    """The transformer converted to OpenVINO (about 1.4 s), or read from the cache folder (about 0.1 s). An entry
    is written to a temporary folder and renamed into place, so a reader never sees half of one."""
    import openvino as ov
    import torch

    if folder is not None and (folder / "model.xml").exists():
        try:
            return ov.Core().read_model(str(folder / "model.xml"))
        except Exception:       # damaged (OpenVINO checks the weights' sizes): convert and write it again
            shutil.rmtree(folder, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # tracer warnings about shapes; the inputs stay dynamic
        converted = ov.convert_model(hf_model, example_input={n: torch.ones(2, 8, dtype=torch.long) for n in names})
    if folder is not None:
        tmp = None
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
            ov.save_model(converted, str(tmp / "model.xml"), compress_to_fp16=False)   # the weights as they are
            os.replace(tmp, folder)
        except OSError:                             # read-only or full disk, or another process wrote it first
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
    return converted


def openvino_transformer(hf_model, dtype: str, cache_dir: str | None, model_dir: str | None = None):
    """A torch module that runs `hf_model`'s forward pass in OpenVINO, to replace it inside sentence-transformers'
    Transformer module: tokenising, pooling and normalising stay the library's. bf16 or fp32 as `dtype` says.
    A query-sized batch runs on one thread (see Embedder.encode), a larger one on every core. Checked against
    the PyTorch model on a probe input before use."""
    import openvino as ov
    import torch
    from transformers.modeling_outputs import BaseModelOutput

    names = [n for n in ("input_ids", "attention_mask", "token_type_ids")
             if n in inspect.signature(hf_model.forward).parameters]
    folder = cache_entry(model_dir, cache_dir) if cache_dir and model_dir and Path(model_dir).is_dir() else None
    converted = _openvino_ir(hf_model, names, folder)
    core = ov.Core()
    hint = {"INFERENCE_PRECISION_HINT": "bf16" if dtype == "bfloat16" else "f32"}
    one = core.compile_model(converted, "CPU", {**hint, "INFERENCE_NUM_THREADS": 1}).create_infer_request()
    every = core.compile_model(converted, "CPU", hint).create_infer_request()

    ids = torch.arange(1000, 1024).reshape(2, 12)
    probe = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}
    with torch.inference_mode():
        expected = hf_model(**{n: probe[n] for n in names}).last_hidden_state.float().flatten()
    got = torch.from_numpy(every.infer({n: probe[n].numpy() for n in names})[0].copy()).flatten()
    if not float(torch.nn.functional.cosine_similarity(expected, got, dim=0)) >= 0.99:     # NaN fails too
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError("the converted model's output differs from PyTorch's on a probe input")
    if folder is not None and (folder / "model.xml").exists():
        try:
            mark_verified(folder, names)      # now the query side may run it without torch
        except OSError:
            pass

    config = hf_model.config
    del hf_model, converted           # the PyTorch weights are freed once sentence-transformers drops its reference

    class OpenVINOTransformer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = config
            self.register_buffer("anchor", torch.zeros(1), persistent=False)   # where the library looks for a device

        def forward(self, input_ids, attention_mask=None, token_type_ids=None, **_):
            given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            request = one if input_ids.shape[0] <= SMALL_BATCH else every
            out = request.infer({n: given[n].numpy() for n in names})[0]
            return BaseModelOutput(last_hidden_state=torch.from_numpy(out.copy()))   # the request reuses its buffer

    return OpenVINOTransformer()


class Embedder:
    """Encodes text to L2-normalised float32 vectors with a sentence-transformers model."""

    def __init__(self, model: str = DEFAULT_MODEL, dtype: str = "auto",
                 batch_size: int = DEFAULT_BATCH_SIZE, device: str | None = None,
                 backend: str = "auto", cache_dir: str | None = DEFAULT_CACHE_DIR):
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
        self.backend = pick_backend(backend, device)
        model_dir = resolve_model(model)
        try:
            self.model = SentenceTransformer(model_dir, device=device or "cpu")
        except Exception as exc:  # the library raises many types; the user needs one clear message
            raise ModelError(f"cannot load embedding model {model!r} offline ({exc.__class__.__name__}: {exc}); "
                             "give an installed model name or a local sentence-transformers folder") from exc
        if self.backend == "openvino":
            try:
                self.model[0].model = openvino_transformer(self.model[0].model, self.dtype, cache_dir, model_dir)
            except Exception as exc:  # not a Hugging Face transformer, or an operation OpenVINO cannot convert
                if backend == "openvino":
                    raise ModelError(f"cannot run model {model!r} in OpenVINO ({exc.__class__.__name__}: {exc}); "
                                     "set EDSEARCH_BACKEND=torch") from exc
                warnings.warn(f"model {model!r} runs in PyTorch: OpenVINO could not convert it ({exc})")
                self.backend = "torch"
        if self.backend == "torch" and self.dtype == "bfloat16":
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
            # two OpenMP threads wait on each other (docs/scale.md, bench/query_encode.py).
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

    def token_embeddings(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, the model's unpooled token vectors (n_tokens, dim), float32, special tokens included."""
        if not texts:
            return []
        with self._lock:
            self._text_kwargs["pad_to_multiple_of"] = PAD_MULTIPLE_SMALL if len(texts) <= SMALL_BATCH \
                else PAD_MULTIPLE
            out = self.model.encode(list(texts), batch_size=self.batch_size, output_value="token_embeddings",
                                    convert_to_numpy=False, show_progress_bar=False)
        return [np.asarray(t.float().cpu().numpy(), dtype=np.float32) for t in out]

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Length of each text in the model's own tokens, special tokens included."""
        with self._count_lock:
            enc = self._count_tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in enc["input_ids"]]


@lru_cache(maxsize=4)
def get_embedder(model: str = DEFAULT_MODEL, dtype: str = "auto", batch_size: int = DEFAULT_BATCH_SIZE,
                 backend: str = "auto", cache_dir: str | None = DEFAULT_CACHE_DIR) -> Embedder:
    """One loaded model per (name, dtype, batch size, backend) per process."""
    return Embedder(model, dtype, batch_size, backend=backend, cache_dir=cache_dir)


def embedder_for(settings, model: str | None = None, dtype: str | None = None) -> Embedder:
    """The process's embedder for these Settings (a model or dtype given here overrides theirs)."""
    return get_embedder(model or settings.model, dtype or settings.dtype, settings.batch_size, settings.backend,
                        settings.cache_dir)


@lru_cache(maxsize=4)
def _query_embedder(model: str, dtype: str, batch_size: int, cache_dir: str | None) -> OpenVINOEmbedder:
    return OpenVINOEmbedder.open(model, dtype, batch_size, cache_dir)


def query_embedder_for(settings, model: str | None = None) -> Embedder | OpenVINOEmbedder:
    """The query side's embedder: the converted model without torch (OpenVINOEmbedder) where one is cached, else
    `Embedder`, which converts it for the next process, or runs it in PyTorch where OpenVINO cannot."""
    model = model or settings.model
    if settings.backend.lower() != "torch":
        try:
            return _query_embedder(model, settings.dtype, settings.batch_size, settings.cache_dir)
        except NotConverted as exc:
            log.info("edsearch: loading model %s with sentence-transformers (%s); later processes start faster",
                     model, exc)
    return embedder_for(settings, model)


# --- what a passage is embedded as (the build's shared step: indexer/build.py and indexer/ray_engine.py) ---------

TITLE_SEPARATOR = ". "


def passage_format(titles: bool) -> dict:
    """The manifest's record of what each passage vector was computed from (see `embedding_input`)."""
    return {"title": bool(titles), "separator": TITLE_SEPARATOR if titles else ""}


def embedding_input(manifest: dict | None) -> dict:
    """What the vectors of an index were computed from; an index built before titles were embedded says nothing
    and was built from the passage alone."""
    recorded = (manifest or {}).get("embedding_input")
    return recorded if isinstance(recorded, dict) else passage_format(False)


def _joined(title: str, text: str) -> str:
    title = " ".join(title.split())
    if not title or text.lstrip().lower().startswith(title.removesuffix("\u2026").lower()):
        return text          # no title, or the passage opens with it (an untitled file's first line is its title)
    sep = " " if title[-1] in ".!?:;" else TITLE_SEPARATOR
    return f"{title}{sep}{text}"


def titled_passages(embedder: Embedder, titles: list[str], texts: list[str]) -> list[str]:
    """"title. passage" for each passage, as BEIR embeds title + text, with the title cut (at a word) to the room
    the passage leaves in the model's `max_tokens`: a passage is never truncated for its title. The chunker
    already keeps every passage within the limit; a passage that fills it is embedded alone."""
    out = [_joined(t, x) for t, x in zip(titles, texts)]
    limit = embedder.max_tokens
    over = [i for i, n in enumerate(embedder.count_tokens(out)) if n > limit]
    if not over:
        return out
    # Shorten the title word by word: every prefix of each over-long one is counted in one batch.
    trials: list[tuple[int, str]] = []
    for i in over:
        words = titles[i].split()
        trials.extend((i, _joined(" ".join(words[:j]), texts[i])) for j in range(len(words) - 1, 0, -1))
    best: dict[int, str] = {}
    for (i, candidate), n in zip(trials, embedder.count_tokens([c for _, c in trials])):
        if n <= limit and i not in best:       # prefixes come longest first
            best[i] = candidate
    for i in over:
        out[i] = best.get(i, texts[i])
    return out


def embed_unique(embedder: Embedder, texts: list[str]) -> np.ndarray:
    """Encode each distinct text once (duplicate articles share passages)."""
    order = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    unique = embedder.encode(list(order))
    return unique[[order[t] for t in texts]] if len(unique) else unique


def embed_passages(embedder: Embedder, texts: list[str], titles: list[str] | None = None) -> np.ndarray:
    """The vectors of passages as an index stores them: with `titles` (one per passage: its article's), each is
    embedded as "title. passage" (`titled_passages`); the stored passage text and its offsets are not touched."""
    if titles is not None:
        if len(titles) != len(texts):
            raise ValueError(f"{len(titles)} titles for {len(texts)} passages")
        texts = titled_passages(embedder, titles, texts)
    return embed_unique(embedder, texts)

