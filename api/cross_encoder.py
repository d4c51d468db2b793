"""CrossEncoder: a fine-tuned MiniLM that scores (question, sentence) for "this sentence holds the answer".

Trained by `make train-cross-encoder` (training/train_cross_encoder.py) on SQuAD v1.1 train and exported to
OpenVINO IR in api/answer_model/cross_encoder/ (model.xml, model.bin, tokenizer.json, config.json). Query time
runs it with OpenVINO, the `tokenizers` library and numpy: no torch, transformers or sentence-transformers.

Pairs are tokenised here and nowhere else (`PairTokenizer`): the training script imports the same function, so a
pair gets the same ids at training and at query time. The question comes first; only the sentence side is cut
to fit max_length, after the question itself is cut to at most QUESTION_TOKENS wordpieces (a pasted paragraph
as a question must not leave the sentence no room, and "only the second" truncation fails when it cannot fit).
A missing or damaged artifact raises CrossEncoderError naming the file and what to do.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

ARTIFACT_DIR = Path(__file__).resolve().parent / "answer_model" / "cross_encoder"
FORMAT = 1
FILES = ("config.json", "tokenizer.json", "model.xml", "model.bin")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Sequences are padded to a multiple of this: CPU kernels are cached per input shape, so free lengths would grow
# a server's memory with every new shape (docs/reliability.md, as in indexer/openvino_embedder.py).
PAD_MULTIPLE = 8
FIX = "reinstall edsearch, or retrain it with `make train-cross-encoder` (training/train_cross_encoder.py)"


class CrossEncoderError(RuntimeError):
    """The cross-encoder's artifact is missing or damaged; the message names the file and what to do."""


@dataclass(frozen=True)
class Batch:
    """Token arrays of a batch of pairs, padded to a common width (int64, shape (n, width))."""
    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray

    def feeds(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids, "attention_mask": self.attention_mask,
                "token_type_ids": self.token_type_ids}


def question_tokens(max_length: int) -> int:
    """The most wordpieces a question keeps: half the sequence, so the sentence always has room."""
    return max_length // 2


class PairTokenizer:
    """MiniLM's tokenizer.json for (question, text) pairs: question first, cut to question_tokens(max_length)
    wordpieces; the text side truncated to fit max_length; each batch padded to its longest pair."""

    def __init__(self, path: str | Path, max_length: int):
        from tokenizers import Tokenizer

        self.max_length = max_length
        self._pairs = Tokenizer.from_file(str(path))
        self._pairs.no_padding()                # tokenizer.json pads to a fixed 128; batches are padded here
        self._pairs.enable_truncation(max_length, strategy="only_second")
        self._single = Tokenizer.from_file(str(path))   # "only_second" truncation refuses a single sequence
        self._single.no_padding()
        self._single.no_truncation()
        self.pad_id = self._pairs.token_to_id("[PAD]") or 0

    def cut_question(self, question: str) -> str:
        """The question, cut at a word-piece boundary to at most question_tokens(max_length) wordpieces."""
        question = question.strip()
        limit = question_tokens(self.max_length)
        enc = self._single.encode(question, add_special_tokens=False)
        if len(enc.ids) <= limit:
            return question
        return question[: enc.offsets[limit - 1][1]]

    def encode(self, pairs: list[tuple[str, str]], pad_multiple: int = 1) -> Batch:
        """Token arrays of the pairs, padded to the batch's longest (rounded up to pad_multiple)."""
        cut_q = {q: self.cut_question(q) for q in {q for q, _ in pairs}}
        enc = self._pairs.encode_batch([(cut_q[q], str(t).strip()) for q, t in pairs], add_special_tokens=True)
        width = max((len(e.ids) for e in enc), default=1)
        width = -(-width // pad_multiple) * pad_multiple
        ids = np.full((len(enc), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(enc), width), dtype=np.int64)
        types = np.zeros((len(enc), width), dtype=np.int64)
        for row, e in enumerate(enc):
            k = len(e.ids)
            ids[row, :k] = e.ids
            mask[row, :k] = e.attention_mask
            types[row, :k] = e.type_ids
        return Batch(ids, mask, types)


class CrossEncoder:
    """Scores (question, text) pairs: one logit per text, higher = more likely to hold the answer."""

    def __init__(self, folder: Path, config: dict, tokenizer: PairTokenizer, compiled, bf16: bool = False):
        self.folder, self.config = folder, config
        self.precision = "bf16" if bf16 else "f32"      # what the CPU plugin was asked to compute in
        self.max_length = int(config["max_length"])
        self._tok = tokenizer
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._lock = threading.Lock()     # one infer request, reused: calls from server threads take turns

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        """Logits (float32, shape (len(texts),)) of "this text contains the answer to the question"."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        batch = self._tok.encode([(question, t) for t in texts], PAD_MULTIPLE)
        with self._lock:
            out = self._request.infer(batch.feeds())[0]
            return np.array(out, dtype=np.float32).reshape(len(texts))   # a copy: the buffer is reused


def load(folder: str | Path = ARTIFACT_DIR, dtype: str = "auto", threads: int = 1) -> CrossEncoder:
    """The cross-encoder in `folder`, or CrossEncoderError naming the missing or damaged file.

    dtype: Settings.dtype (auto, float32, bfloat16); auto is bf16 where the CPU has bf16 units, as for the
    embedder: 30 pairs score in about 0.55x the fp32 time there, logits within about 0.01 (docs/cross-encoder.md,
    bench/cross_encoder_speed.py). threads: CPU threads of one call. One by default: a query scores tens of
    short pairs, and with the other core busy (concurrent requests, a build) two threads wait on each other
    (bench/cross_encoder_speed.py; bench/query_encode.py for the embedder)."""
    from indexer.model_files import cpu_has_bf16, normalise_dtype

    dtype = normalise_dtype(dtype)
    bf16 = dtype == "bfloat16" or (dtype == "auto" and cpu_has_bf16())
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    folder = Path(folder)
    for name in FILES:
        if not (folder / name).is_file():
            raise CrossEncoderError(f"the cross-encoder is missing: no {folder / name}; {FIX}")
    cfg_path = folder / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as exc:
        raise CrossEncoderError(f"the cross-encoder's {cfg_path} is damaged ({exc}); {FIX}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise CrossEncoderError(f"the cross-encoder's {cfg_path} is not format {FORMAT}; {FIX}")
    if not isinstance(cfg.get("max_length"), int) or not 8 <= cfg["max_length"] <= 512:
        raise CrossEncoderError(f"the cross-encoder's {cfg_path} has no valid max_length; {FIX}")
    try:
        tok = PairTokenizer(folder / "tokenizer.json", cfg["max_length"])
    except Exception as exc:
        raise CrossEncoderError(f"the cross-encoder's {folder / 'tokenizer.json'} is damaged "
                                f"({exc.__class__.__name__}: {exc}); {FIX}") from None
    import openvino as ov

    core = ov.Core()
    try:
        model = core.read_model(str(folder / "model.xml"), str(folder / "model.bin"))
        names = sorted(n for p in model.inputs for n in p.get_names())
        if not set(INPUTS) <= set(names):
            raise ValueError(f"inputs {names}, expected {list(INPUTS)}")
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
                                                     "INFERENCE_NUM_THREADS": threads})
    except Exception as exc:      # XML, weights-size and shape errors: one message for a damaged model
        why = " ".join(str(exc).split())[:300]      # OpenVINO's messages span lines: one line, bounded
        raise CrossEncoderError(f"the cross-encoder's {folder / 'model.xml'} / model.bin is damaged "
                                f"({exc.__class__.__name__}: {why}); {FIX}") from None
    return CrossEncoder(folder, cfg, tok, compiled, bf16)


@lru_cache(maxsize=4)
def get(folder: str = str(ARTIFACT_DIR), dtype: str = "auto") -> CrossEncoder:
    """The cross-encoder in `folder`, loaded once per process."""
    return load(folder, dtype)
