"""The trained answer model: which sentence answers a question, and does the retrieved evidence answer it at all.

Shipped in api/answer_model/ (MODEL_CARD.md beside it), trained from SQuAD v1.1 train:

  * a cross-encoder (api/cross_encoder.py, `make train-cross-encoder`): MiniLM's first layers fine-tuned to score
    (question, sentence) for "this sentence holds the answer", run by OpenVINO;
  * the sentence head (`make train-answer`, training/train_answer.py) scores (question, sentence in its passage):
    P(this sentence answers the question), from the cross-encoder's logit and features of the text: the MiniLM
    cosine (the vectors Answerer computes with the index's embedder), word overlap, answer types;
  * the evidence head scores (question, all candidate sentences): P(the archive answers this question here).
    Ask declines below `threshold` (config.json; the rule that chose it is in docs/ask.md).

Both heads share `sentence_features` / `evidence_features`, so training and query time compute the same numbers.
A missing or damaged artifact raises AnswerModelError naming what to do: there is no fallback to guessing.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from . import cross_encoder, keyword
from .cross_encoder import CrossEncoder

ARTIFACT_DIR = Path(__file__).resolve().parent / "answer_model"
FORMAT = 1
# Sentences the cross-encoder reads per question (cross_encoder_reads): what keeps /ask within its
# latency budget; reading all of them changed one held-out figure by 0.005 (docs/ask.md).
CROSS_ENCODER_TOP = 16

_WORD = re.compile(r"\w+", re.UNICODE)
_TOKEN = re.compile(r"[A-Za-z][\w'\-]*|\d[\d,.]*\d|\d")
_YEAR = re.compile(r"^(1[0-9]{3}|20[0-9]{2})s?$")
_NUMBER_WORDS = frozenset("""one two three four five six seven eight nine ten eleven twelve thirteen fifteen twenty
thirty forty fifty sixty hundred hundreds thousand thousands million millions billion billions dozen half percent
first second third fourth fifth""".split())
_MONTHS = frozenset("""january february march april may june july august september october november december
century centuries decade decades""".split())

# The answer type a question asks for, from its first words: what kind of new thing an answering sentence holds.
_QTYPES = (
    ("time", re.compile(r"\b(when|what (year|date|day|month|time|century|decade|era|period)|which (year|century|"
                        r"decade|month)|how long ago|in what (year|century|decade))\b")),
    ("number", re.compile(r"\b(how (many|much|long|old|far|large|big|tall|high|often|fast|deep|wide)|what "
                          r"(percentage|percent|number|amount|proportion|share|size|age|fraction))\b")),
    ("person", re.compile(r"\b(who|whom|whose|what (person|man|woman|name)|which (person|man|woman))\b")),
    ("place", re.compile(r"\b(where|what (country|city|state|place|region|continent|location|town|area|island)|"
                         r"which (country|city|state|place|region|continent|town|area|island))\b")),
)
QTYPES = tuple(name for name, _ in _QTYPES)
# The same types asked by a noun a few words after "what"/"which" ("what net profit did ...", "what was Germany's
# unemployment rate", "which Labour peer said ..."), tried only when no first-word pattern matched: news questions
# ask so for most of their figures and people. On SQuAD train the answers these pick out hold a number for 0.72 of
# the questions the number nouns pick (0.08 of untyped questions), a capitalised name for 0.79 of the person nouns'
# (0.43), a date for 0.83 of the time nouns' (0.04).
_NOUN_QTYPES = tuple((name, re.compile(r"\b(?:what|which)\b(?:\s+[\w']+){0,%d}?\s+(?:%s)s?\b%s" % (gap, nouns, tail)))
                     for name, gap, nouns, tail in (
    ("time", 3, "deadline|date|birthday|anniversary", ""),
    ("number", 4, "rate|price|cost|budget|profit|value|sum|total|amount|percentage|proportion|stake|salary|fee|fine|"
                  "margin|deficit|surplus|revenue|turnover|income|population|distance|length|height|weight|speed|"
                  "temperature|debt|earnings|score|attendance|wage", r"(?! of (?!the |a |an |\w+'s ))"),
    ("person", 3, "boss|chief|executive|player|minister|leader|coach|peer|rival|actor|actress|singer|star|president|"
                  "chairman|director|official|manager|winner|author|writer|politician|king|queen|emperor|scientist|"
                  "composer|artist|founder|philosopher|architect|pope|poet|painter|inventor|explorer|ruler|bishop|"
                  "governor|senator|mayor|commander|musician|striker|captain|champion|economist|historian|"
                  "journalist|spokesman|spokeswoman|secretary|lawyer|judge|candidate|mp|lord", ""),
))

SENTENCE_FEATURES = (
    "ce", "ce_gap", "ce_rank_inv", "cos", "cos_gap", "cos_rank_inv", "passage_rank_inv", "passage_lex_idf", "lex",
    "lex_idf", "bigram", "context_lex_idf", "log_words",
    "new_cap", "new_num", "new_time", "type_match", "q_cap_missing", "q_num_missing", "max_missing_idf",
    *(f"q_{t}" for t in QTYPES),
)
EVIDENCE_FEATURES = ("q_self", "q_terms", "p1", "logit_p1", "p2", "p_gap", "max_ce", "second_ce", "best_cos",
                     "missing_all", "missing_best_context", "q_cap_missing_all", "q_num_missing_all", "max_lex_idf",
                     "max_context_lex_idf", "max_bigram",
                     *(f"best_{f}" for f in SENTENCE_FEATURES))


class AnswerModelError(RuntimeError):
    """The answer model's artifact is missing or damaged; the message says what to do."""


def question_type(question: str) -> str:
    q = question.lower()
    for name, pattern in (*_QTYPES, *_NOUN_QTYPES):
        if pattern.search(q):
            return name
    return "other"


def is_question(query: str) -> bool:
    """A query is a question when it ends with '?' or starts with a wh-word or an auxiliary verb (docs/ask.md)."""
    q = query.strip()
    if q.endswith("?"):
        return True
    first = (_WORD.findall(q.lower()) or [""])[0]
    return first in _QUESTION_STARTS


_QUESTION_STARTS = frozenset("""what when where which who whom whose why how is are was were do does did can could
should would will has have had""".split())


@dataclass
class TextInfo:
    """What the features need of one text: stems, capitalised words, numbers, time words."""

    stems: set[str]
    stem_list: list[str]
    caps: set[str]
    numbers: set[str]
    times: set[str]
    n_words: int


@lru_cache(maxsize=1 << 14)
def text_info(text: str) -> TextInfo:
    toks = _TOKEN.findall(text)
    low = [t.lower() for t in toks]
    stem_list = [keyword._stem(w) for w in low]
    # Capitalised words that are not the sentence's first word and not function words: names, places, parties.
    caps = {t.lower() for i, t in enumerate(toks)
            if i > 0 and t[0].isupper() and t.lower() not in keyword.STOPWORDS}
    numbers = {w.replace(",", "") for w in low if w[0].isdigit()} | {w for w in low if w in _NUMBER_WORDS}
    times = {w for w in low if _YEAR.match(w) or w in _MONTHS}
    return TextInfo(set(stem_list), stem_list, caps, numbers, times, len(toks))


# Words that name the archive's own voice in a question ("what did *the board recommend* on CPTPP?", "what do *we
# think* of ..."): they ask who said it, not what about, and an editorial rarely names itself. They are not
# counted as question words that an answer must hold. Kept although the model is trained: SQuAD's encyclopaedia
# questions never ask what their source recommends, so no training pair teaches it (with them counted the CPTPP
# question's confidence is 0.08, below the threshold).
VOICE_WORDS = frozenset("""board boards editorial editorials editor editors newspaper paper we our us
say says said think thinks thought argue argues argued recommend recommends recommended recommendation
recommendations view views position stance opinion opinions propose proposes proposed suggest suggests suggested
urge urges urged""".split())


_VOICE_RE = re.compile(r"\b(" + "|".join(sorted(VOICE_WORDS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def without_voice(text: str) -> str:
    """The question without the archive's voice words, for the cross-encoder: trained on SQuAD, it reads "the
    board recommend" as part of what is asked. An all-capitals word ("US") is a name, kept."""
    out = _VOICE_RE.sub(lambda m: m.group(0) if m.group(0).isupper() else "", text)
    return re.sub(r"\s{2,}", " ", out).strip() or text


# A question about what the archive itself said ("what did the board recommend on CPTPP?", "what do we think of
# ...?"): it asks for the archive's position on a topic, which no SQuAD question does; training/train_answer.py
# makes such questions over SQuAD topics so the evidence head learns when the archive covers one (docs/ask.md).
_SELF_RE = re.compile(r"\b(?:did|does|do|has|have|had|would|will|is|was)\s+(?:we|the\s+(?:editorial\s+)?board|"
                      r"the\s+editors?|the\s+editorial|the\s+newspaper|the\s+paper)\b|"
                      r"\bour\s+(?:view|views|position|stance|line|editorials?|opinion)\b", re.IGNORECASE)


def asks_archive_voice(question: str) -> bool:
    return bool(_SELF_RE.search(question))


@dataclass
class Question:
    """The question's side of the features, computed once per question."""

    text: str
    terms: list[str]            # content words (keyword.terms)
    stems: list[str]
    weights: np.ndarray         # idf of each term
    bigrams: set[tuple[str, str]]
    info: TextInfo
    qtype: str
    reader_text: str            # what the cross-encoder reads: the question without its voice words
    self_voice: bool            # it asks what the archive itself said (asks_archive_voice)

    @classmethod
    def of(cls, text: str, idf: Callable[[str], float]) -> "Question":
        terms = [t for t in keyword.terms(text) if t not in VOICE_WORDS]
        info = text_info(text)
        sl = info.stem_list
        bigrams = {(a, b) for a, b in zip(sl, sl[1:]) if a not in keyword.STOPWORDS or b not in keyword.STOPWORDS}
        return cls(text, terms, [keyword._stem(t) for t in terms],
                   np.array([max(idf(t), 1e-3) for t in terms], dtype=np.float64), bigrams, info,
                   question_type(text), without_voice(text), asks_archive_voice(text))


def _share_present(q: Question, stems: set[str]) -> tuple[float, float, float]:
    """(plain share, idf-weighted share of question terms present, largest missing term's share of the idf)."""
    if not q.stems:
        return 0.0, 0.0, 0.0
    present = np.array([s in stems for s in q.stems])
    total = q.weights.sum()
    missing = q.weights[~present]
    return float(present.mean()), float(q.weights[present].sum() / total), float(missing.max() / total) if len(
        missing) else 0.0


def _missing_share(items: set[str], present_in: set[str]) -> float:
    return sum(1 for x in items if x not in present_in) / len(items) if items else 0.0


def _type_match(qtype: str, new_cap: float, new_num: float, new_time: float) -> float:
    return {"time": new_time, "number": new_num, "person": new_cap, "place": new_cap}.get(
        qtype, max(new_cap, new_num))


def sentence_features(q: Question, q_vec: np.ndarray, texts: list[str], vecs: np.ndarray,
                      contexts: list[str], ranks, passages: list[str], ce: np.ndarray) -> np.ndarray:
    """Features (len(texts), len(SENTENCE_FEATURES)) of each candidate sentence; `ce[i]` is the cross-encoder's
    logit for (question, sentence) (api/cross_encoder.py), `contexts[i]` is the sentence
    with its neighbours in the passage, `vecs` unit vectors of the sentences, `ranks[i]` the 1-based rank of the
    sentence's passage in retrieval (the top-ranked passage usually holds the answer: without it the head cannot
    prefer it over a lower-ranked passage's look-alike sentence) and `passages[i]` the passage's text (how much of
    the question the whole passage covers tells the passage that is about it from one that mentions it once)."""
    n = len(texts)
    out = np.zeros((n, len(SENTENCE_FEATURES)), dtype=np.float32)
    if n == 0:
        return out
    cos = vecs @ q_vec
    order = np.argsort(-cos, kind="stable")
    rank = np.empty(n)
    rank[order] = np.arange(1, n + 1)
    ce = np.asarray(ce, dtype=np.float32)
    ce_rank = np.empty(n)
    ce_rank[np.argsort(-ce, kind="stable")] = np.arange(1, n + 1)
    q_words = q.info.stems | q.info.caps
    q_nums = q.info.numbers | q.info.times
    for i, (text, ctx) in enumerate(zip(texts, contexts)):
        s = text_info(text)
        lex, lex_idf, max_missing = _share_present(q, s.stems)
        _, ctx_idf, _ = _share_present(q, text_info(ctx).stems)
        _, passage_idf, _ = _share_present(q, text_info(passages[i]).stems)
        sb = set(zip(s.stem_list, s.stem_list[1:]))
        bigram = len(q.bigrams & sb) / len(q.bigrams) if q.bigrams else 0.0
        new_cap = float(bool(s.caps - q.info.caps - q_words))
        new_num = float(bool(s.numbers - q_nums))
        new_time = float(bool(s.times - q_nums))
        s_all = s.stems | s.caps | s.numbers
        out[i] = (ce[i], ce[i] - ce.max(), 1.0 / ce_rank[i], cos[i], cos[i] - cos[order[0]], 1.0 / rank[i],
                  1.0 / max(1, int(ranks[i])), passage_idf,
                  lex, lex_idf, bigram, ctx_idf, math.log1p(s.n_words), new_cap, new_num, new_time,
                  _type_match(q.qtype, new_cap, new_num, new_time),
                  _missing_share(q.info.caps, s.caps | s.stems), _missing_share(q_nums, s_all), max_missing,
                  *(float(q.qtype == t) for t in QTYPES))
    return out


def _question_kind(q: Question) -> tuple[float, float]:
    """The evidence features of the question alone: q_self, q_terms."""
    return float(q.self_voice), math.log1p(len(q.stems))


def evidence_features(q: Question, feats: np.ndarray, probs: np.ndarray, texts: list[str],
                      contexts: list[str]) -> np.ndarray:
    """Features (len(EVIDENCE_FEATURES),) of all candidate sentences together, given the sentence head's
    probabilities."""
    if len(probs) == 0:
        out = np.zeros(len(EVIDENCE_FEATURES), dtype=np.float32)
        col = EVIDENCE_FEATURES.index
        out[[col(f) for f in ("logit_p1", "max_ce", "second_ce")]] = -10
        out[[col(f) for f in ("missing_all", "missing_best_context", "q_cap_missing_all", "q_num_missing_all")]] = 1
        out[[col("q_self"), col("q_terms")]] = _question_kind(q)
        return out
    order = np.argsort(-probs, kind="stable")
    b = int(order[0])
    p1 = float(probs[b])
    p2 = float(probs[order[1]]) if len(order) > 1 else 0.0
    every = set().union(*(text_info(t).stems | text_info(t).caps | text_info(t).numbers for t in texts))
    _, present_all, _ = _share_present(q, every)
    _, present_ctx, _ = _share_present(q, text_info(contexts[b]).stems)
    q_nums = q.info.numbers | q.info.times
    pc = min(max(p1, 1e-6), 1 - 1e-6)
    col = SENTENCE_FEATURES.index
    ce = np.sort(feats[:, col("ce")])[::-1]
    return np.array([*_question_kind(q), p1, math.log(pc / (1 - pc)), p2, p1 - p2,
                     float(ce[0]), float(ce[1]) if len(ce) > 1 else -10.0,
                     float(feats[:, col("cos")].max()),
                     1.0 - present_all if q.stems else 0.0, 1.0 - present_ctx if q.stems else 0.0,
                     _missing_share(q.info.caps, every), _missing_share(q_nums, every),
                     float(feats[:, col("lex_idf")].max()), float(feats[:, col("context_lex_idf")].max()),
                     float(feats[:, col("bigram")].max()), *map(float, feats[b])], dtype=np.float32)


# -- the heads --
def cross_encoder_reads(q: Question, q_vec, texts, vecs) -> np.ndarray:
    """Indices of the sentences the cross-encoder reads: all of at most CROSS_ENCODER_TOP, else the
    CROSS_ENCODER_TOP with the best cosine + 0.3 x word overlap (the former hand-set score). Training uses it too,
    so the heads learn from the logits ask will give them."""
    if len(texts) <= CROSS_ENCODER_TOP:
        return np.arange(len(texts))
    pre = np.asarray(vecs) @ q_vec + 0.3 * np.array([_share_present(q, text_info(t).stems)[0] for t in texts])
    return np.argsort(-pre, kind="stable")[:CROSS_ENCODER_TOP]


def unread_filled(n: int, top: np.ndarray, read: np.ndarray) -> np.ndarray:
    """The logits of n sentences of which those at `top` were read; the unread get the lowest logit read."""
    out = np.full(n, read.min() if len(read) else 0.0, dtype=np.float32)
    out[top] = read
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass
class Head:
    """Standardise, then a logistic layer or an MLP (ReLU hidden layers, logistic output)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]

    def prob(self, x: np.ndarray) -> np.ndarray:
        h = (np.asarray(x, dtype=np.float32) - self.mean) / self.scale
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return _sigmoid(h[..., 0])

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}.mean": self.mean, f"{prefix}.scale": self.scale}
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"{prefix}.w{i}"], out[f"{prefix}.b{i}"] = w, b
        return out

    @classmethod
    def from_arrays(cls, arrays, prefix: str, n_features: int) -> "Head":
        layers = sum(1 for k in arrays.files if k.startswith(f"{prefix}.w"))
        head = cls(arrays[f"{prefix}.mean"].astype(np.float32), arrays[f"{prefix}.scale"].astype(np.float32),
                   [arrays[f"{prefix}.w{i}"].astype(np.float32) for i in range(layers)],
                   [arrays[f"{prefix}.b{i}"].astype(np.float32) for i in range(layers)])
        dims = [n_features] + [w.shape[1] for w in head.weights]
        ok = (layers >= 1 and head.mean.shape == (n_features,) and head.scale.shape == (n_features,)
              and all(w.shape == (a, b) for w, a, b in zip(head.weights, dims, dims[1:]))
              and all(b.shape == (w.shape[1],) for w, b in zip(head.weights, head.biases)) and dims[-1] == 1
              and all(np.isfinite(a).all() for a in [head.mean, head.scale, *head.weights, *head.biases])
              and (head.scale > 0).all())
        if not ok:
            raise ValueError(f"the {prefix} head's arrays do not fit {n_features} features")
        return head


@dataclass
class AnswerModel:
    sentence: Head
    evidence: Head
    threshold: float
    config: dict
    cross_encoder: CrossEncoder

    def cross_encoder_logits(self, q: Question, q_vec, texts, vecs) -> np.ndarray:
        """The cross-encoder's logit of each sentence; it reads only those cross_encoder_reads picks (it costs
        ~5 ms a sentence at 6 layers; ask has ~45 sentences, a question's /search ~90)."""
        top = cross_encoder_reads(q, q_vec, texts, vecs)
        return unread_filled(len(texts), top, self.cross_encoder.score(q.reader_text, [texts[i] for i in top]))

    def score_sentences(self, q: Question, q_vec, texts, vecs, contexts, ranks,
                        passages) -> tuple[np.ndarray, np.ndarray]:
        ce = self.cross_encoder_logits(q, q_vec, texts, vecs)
        feats = sentence_features(q, q_vec, texts, vecs, contexts, ranks, passages, ce)
        return feats, (self.sentence.prob(feats) if len(texts) else np.zeros(0, dtype=np.float32))

    def confidence(self, q: Question, feats, probs, texts, contexts) -> float:
        return float(self.evidence.prob(evidence_features(q, feats, probs, texts, contexts)[None, :])[0])


def save(folder: Path, sentence: Head, evidence: Head, threshold: float, config: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(folder / "weights.npz", **sentence.arrays("sentence"), **evidence.arrays("evidence"))
    cfg = {**config, "format": FORMAT, "threshold": threshold, "sentence_features": list(SENTENCE_FEATURES),
           "evidence_features": list(EVIDENCE_FEATURES)}
    (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def load(folder: str | Path = ARTIFACT_DIR) -> AnswerModel:
    """The model in `folder` (weights.npz + config.json), or AnswerModelError saying what is wrong."""
    folder = Path(folder)
    fix = "reinstall edsearch, or retrain it with `make train-answer` (training/train_answer.py)"
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except FileNotFoundError:
        raise AnswerModelError(f"the answer model is missing: no {folder / 'config.json'}; {fix}") from None
    except (OSError, ValueError) as exc:
        raise AnswerModelError(f"the answer model's {folder / 'config.json'} is damaged ({exc}); {fix}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise AnswerModelError(f"the answer model's {folder / 'config.json'} is not format {FORMAT}; {fix}")
    if (cfg.get("sentence_features") != list(SENTENCE_FEATURES)
            or cfg.get("evidence_features") != list(EVIDENCE_FEATURES)):
        raise AnswerModelError(f"the answer model in {folder} was trained on other features than this code "
                               f"computes; {fix}")
    try:
        with np.load(folder / "weights.npz", allow_pickle=False) as arrays:
            sentence = Head.from_arrays(arrays, "sentence", len(SENTENCE_FEATURES))
            evidence = Head.from_arrays(arrays, "evidence", len(EVIDENCE_FEATURES))
    except FileNotFoundError:
        raise AnswerModelError(f"the answer model is missing: no {folder / 'weights.npz'}; {fix}") from None
    except Exception as exc:      # zip, npy and shape errors: one message for a damaged file
        raise AnswerModelError(f"the answer model's {folder / 'weights.npz'} is damaged "
                               f"({exc.__class__.__name__}: {exc}); {fix}") from None
    threshold = cfg.get("threshold")
    if not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise AnswerModelError(f"the answer model's threshold in {folder / 'config.json'} is not a probability; {fix}")
    try:
        ce = cross_encoder.load(folder / "cross_encoder")
    except cross_encoder.CrossEncoderError as exc:
        raise AnswerModelError(str(exc)) from None
    return AnswerModel(sentence, evidence, float(threshold), cfg, ce)


@lru_cache(maxsize=4)
def get(folder: str = str(ARTIFACT_DIR)) -> AnswerModel:
    """The process's loaded model (loaded once: the heads are 18 kB, the cross-encoder 44 MB compiled by OpenVINO)."""
    return load(folder)
