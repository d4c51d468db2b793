"""Ask: cited answers to questions, with honest abstention.

Extractive mode (the default): the top passages of a hybrid search are split into sentences (exact character
spans in the stored article text, never crossing a paragraph), each sentence is scored against the question by

    score = cosine(question, sentence)  +  LEX_WEIGHT * lexical overlap

(lexical overlap = the share of the question's content words, lightly stemmed, that the sentence contains), and
the best 1-3 sentences are returned in reading order (source order, then position in the article), each followed by
a `[n]` marker naming its source in `sources`. A sentence whose embedding is within DEDUPE_COSINE of one already
chosen is skipped, so repeats are not both returned.

Confidence is a calibrated probability that the answer cites an article that answers the question: a logistic
model over features of the best sentences (see `features`), fitted by `bench/calibrate_ask.py` on the project's own
question set (bench/ask_questions.jsonl: 120 questions answered by one BBC news article, 80 the archive does not
answer, and the 120 again with their article removed). How the threshold was chosen is documented at `THRESHOLD`
and in docs/ask.md. Below it the response says no answer was found and still lists the closest passages.

Generative mode (only when EDSEARCH_LLM_URL is set): see api/llm.py. The answer is written by that model from the
same numbered passages; citations to sources that were not given are removed and listed in `removed_citations`.
Retrieval confidence gates both modes: below the threshold the model is not called at all.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from indexer.chunking import sentence_spans
from indexer.store import Filters

from . import keyword
from .models import Answer, AnswerSentence, Hit
from .retriever import QueryError, check_k, check_text

# -- scoring --
LEX_WEIGHT = 0.3           # weight of lexical overlap next to the cosine (bench/calibrate_ask.py compares values)
DEDUPE_COSINE = 0.9        # two sentences this similar are one sentence said twice
MAX_SENTENCES = 3
KEEP_WITHIN = 0.08         # a further sentence is kept when its score is within this of the best one
MIN_WORDS = 3              # shorter "sentences" (bylines, "Listen to this article") are not answers
DEFAULT_K = 5

# -- calibration: fitted by `.venv/bin/python bench/calibrate_ask.py` (its last lines, pasted here) --
# Logistic regression over FEATURES on bench/ask_questions.jsonl over the BBC corpus; label: the answer cites the
# article that answers the question. 5-fold cross-validated: log loss 0.456, ECE 0.071 (0.491 and 0.093 without
# `missing`, the IDF-weighted share of question words that no retrieved sentence contains).
FEATURES = ("best_cos", "best_lex", "missing")
COEF = (6.4701, 1.8894, -5.4534)
INTERCEPT = -4.2775
# THRESHOLD: a policy chosen by a rule, not a fit: the highest threshold at which at least 90% of the answerable
# questions are still answered and cited, cross-validated (bench/calibrate_ask.py prints it: 0.12; 0.14-0.16 with
# other fold seeds). At 0.12: 0.908 of answerable questions answered and cited; answered anyway: 0.575 of them
# with their article removed and 0.375 of the unanswerable ones (at the former 0.03: 0.925, 0.99 and 0.85). Seeds:
# the CPTPP question scores 0.33, "capital of Peru" 0.000. See docs/ask.md.
THRESHOLD = 0.12

_WORD = re.compile(r"\w+", re.UNICODE)
_MARKER = re.compile(r"\[(\d{1,3})\]")


@dataclass
class Candidate:
    """One sentence of a retrieved passage."""

    source: int            # 1-based index of the hit in `sources`
    article_id: str
    char_start: int
    char_end: int
    paragraph: int
    text: str
    cos: float = 0.0
    lex: float = 0.0
    vec: np.ndarray | None = None

    @property
    def score(self) -> float:
        return self.cos + LEX_WEIGHT * self.lex


def _stems(text: str) -> set[str]:
    return {keyword._stem(w.lower()) for w in _WORD.findall(text)}


def lexical_overlap(question_terms: list[str], sentence: str) -> float:
    if not question_terms:
        return 0.0
    stems = _stems(sentence)
    return sum(1 for t in question_terms if keyword._stem(t) in stems) / len(question_terms)


# Words that name the archive's own voice in a question ("what did *the board recommend* on CPTPP?", "what do *we
# think* of ..."): they ask who said it, not what about, and an editorial rarely names itself, so missing_share
# leaves them out (with them the CPTPP question's share is 0.49; without, 0).
VOICE_WORDS = frozenset("""board boards editorial editorials editor editors newspaper paper we our us
say says said think thinks thought argue argues argued recommend recommends recommended recommendation
recommendations view views position stance opinion opinions propose proposes proposed suggest suggests suggested
urge urges urged""".split())


def missing_share(question_terms: list[str], texts: list[str], idf) -> float:
    """The share of the question's content words, weighted by `idf(word)`, that none of the texts contains: a
    question about something the retrieved passages never name ("Peru", "2012") is likely not answered there.
    VOICE_WORDS do not count."""
    question_terms = [t for t in question_terms if t not in VOICE_WORDS]
    if not question_terms:
        return 0.0
    present = set().union(*map(_stems, texts)) if texts else set()
    weights = {t: idf(t) for t in question_terms}
    total = sum(weights.values())
    missing = sum(w for t, w in weights.items() if keyword._stem(t) not in present)
    return missing / total if total > 0 else 0.0


def features(ranked: list[Candidate], missing: float = 0.0) -> dict[str, float]:
    """Confidence features from the candidates sorted best first (zeros where there are none) and the
    question's `missing_share` over them."""
    best = ranked[0] if ranked else None
    return {"best_cos": best.cos if best else 0.0, "best_lex": best.lex if best else 0.0,
            "second_cos": ranked[1].cos if len(ranked) > 1 else 0.0, "missing": missing if ranked else 1.0}


def confidence(feats: dict[str, float], coef=None, intercept=None) -> float:
    coef = COEF if coef is None else coef
    intercept = INTERCEPT if intercept is None else intercept
    z = intercept + sum(c * feats[name] for c, name in zip(coef, FEATURES))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def _paragraph_of(paragraphs: list[tuple[int, int]], offset: int) -> int:
    for i, (s, e) in enumerate(paragraphs, 1):
        if s <= offset < e:
            return i
    return 0


def validate_question(question, max_chars: int) -> str:
    return check_text(question, "question", max_chars, 'ask something, e.g. "what did the board recommend?"')


class Answerer:
    """Answers questions over one Retriever's index (extractive; generative when an LLM URL is configured)."""

    def __init__(self, retriever, llm=None):
        self.retriever = retriever
        self._llm = llm

    @property
    def llm(self):
        if self._llm is None and self.retriever.settings.llm_url:
            from .llm import LLMClient

            s = self.retriever.settings
            self._llm = LLMClient(s.llm_url, s.llm_model, s.llm_timeout)
        return self._llm

    def idf(self, term: str) -> float:
        """BM25's inverse document frequency of a word in this index (passages as documents)."""
        reader = self.retriever.reader
        expr = keyword.fts_query(term)
        df = reader.doc_freq(expr) if expr else 0
        n = reader.manifest["counts"]["chunks"]
        return math.log((n - df + 0.5) / (df + 0.5) + 1.0)

    def missing(self, question: str, ranked: list[Candidate]) -> float:
        """`missing_share` of the question over the candidate sentences, weighted by this index's idf."""
        return missing_share(keyword.terms(question), [c.text for c in ranked], self.idf)

    # -- retrieval and sentence scoring --
    def retrieve(self, question: str, k: int, filters: Filters | None, dates_from_query: bool = True):
        """The hybrid SearchResult the answer is drawn from (date words in the question become filters)."""
        return self.retriever.search(question, k=k, mode="hybrid", filters=filters,
                                     dates_from_query=dates_from_query)

    def candidates(self, question: str, hits: list[Hit]) -> list[Candidate]:
        """Sentences of the hits, scored against the question, best first."""
        reader = self.retriever.reader
        arts = reader.articles({h.article.id for h in hits}, with_text=True)
        cands: list[Candidate] = []
        seen: set[tuple[str, int, int]] = set()
        for n, hit in enumerate(hits, 1):
            art = arts.get(hit.article.id)
            if art is None:
                continue
            text, paras = art["text"], art["paragraphs"]
            cs, ce = hit.citation.char_start, hit.citation.char_end
            for ps, pe in paras:
                lo, hi = max(ps, cs), min(pe, ce)
                if lo >= hi:
                    continue
                for s, e in sentence_spans(text, lo, hi):
                    sent = text[s:e]
                    if len(_WORD.findall(sent)) < MIN_WORDS or (hit.article.id, s, e) in seen:
                        continue
                    seen.add((hit.article.id, s, e))
                    cands.append(Candidate(n, hit.article.id, s, e, _paragraph_of(paras, s), sent))
        if not cands:
            return []
        vecs = self.retriever.embedder.encode([question] + [c.text for c in cands])
        q, sv = vecs[0], vecs[1:]
        cos = sv @ q
        qterms = keyword.terms(question)
        for c, v, cv in zip(cands, sv, cos):
            c.vec, c.cos, c.lex = v, float(cv), lexical_overlap(qterms, c.text)
        return sorted(cands, key=lambda c: -c.score)

    @staticmethod
    def select(ranked: list[Candidate]) -> list[Candidate]:
        """The best sentence plus up to two close runners-up that do not repeat a chosen one; reading order."""
        if not ranked:
            return []
        chosen = [ranked[0]]
        for c in ranked[1:]:
            if len(chosen) >= MAX_SENTENCES or c.score < ranked[0].score - KEEP_WITHIN:
                break
            if any(float(c.vec @ o.vec) > DEDUPE_COSINE or c.text.strip() == o.text.strip() for o in chosen):
                continue
            chosen.append(c)
        return sorted(chosen, key=lambda c: (c.source, c.char_start))

    # -- the public entry points --
    def prepare(self, question: str, k: int = DEFAULT_K, filters: Filters | None = None,
                hits: list[Hit] | None = None, dates_from_query: bool = True):
        """Validate, retrieve, score: (question, hits, ranked candidates, confidence). The filters the
        retrieval applied (dates read from the question included) are left in `self.applied_filters`; the
        sentences are scored against the question without its date words, which the filter has dealt with."""
        question = validate_question(question, self.retriever.settings.max_query_chars)
        k = check_k(k)
        scored = question
        self.applied_filters = []
        if hits is None:
            result = self.retrieve(question, k, filters, dates_from_query)
            hits, scored, self.applied_filters = result.hits, result.retrieval_query, result.applied_filters
        ranked = self.candidates(scored, hits)
        conf = confidence(features(ranked, self.missing(scored, ranked)))
        return question, hits, ranked, conf

    def ask(self, question: str, k: int = DEFAULT_K, filters: Filters | None = None,
            generate: bool | None = None, hits: list[Hit] | None = None, dates_from_query: bool = True) -> Answer:
        """A cited answer, or found=false with the closest passages. `generate`: None = use the LLM when
        EDSEARCH_LLM_URL is set, False = extractive only, True = require the LLM."""
        t0 = time.perf_counter()
        question, hits, ranked, conf = self.prepare(question, k, filters, hits, dates_from_query)
        use_llm = self._use_llm(generate)
        if conf < THRESHOLD or not ranked:
            ans = self._not_found(question, hits, conf, "generative" if use_llm else "extractive")
        elif use_llm:
            from .llm import build_messages

            raw = self.llm.complete(build_messages(question, hits))
            ans = self._generated(question, hits, ranked, conf, raw)
        else:
            ans = self._extractive(question, hits, ranked, conf)
        ans.took_ms = round((time.perf_counter() - t0) * 1000, 2)
        ans.applied_filters = self.applied_filters
        return ans

    def stream(self, question: str, k: int = DEFAULT_K, filters: Filters | None = None,
               generate: bool | None = None, dates_from_query: bool = True) -> Iterator[tuple[str, dict]]:
        """Server-sent-event payloads as (event, data). Validation, retrieval and connecting to the LLM happen
        before the first item is produced, so errors surface as exceptions at the first next()."""
        t0 = time.perf_counter()
        question, hits, ranked, conf = self.prepare(question, k, filters, dates_from_query=dates_from_query)
        applied = self.applied_filters
        use_llm = self._use_llm(generate)
        if conf < THRESHOLD or not ranked or not use_llm:
            ans = (self._not_found(question, hits, conf, "generative" if use_llm else "extractive")
                   if conf < THRESHOLD or not ranked else self._extractive(question, hits, ranked, conf))
            ans.took_ms = round((time.perf_counter() - t0) * 1000, 2)
            ans.applied_filters = applied

            def one():
                yield "answer", ans.model_dump(mode="json")
                yield "done", {}
            return one()

        from .llm import CitationFilter, build_messages

        deltas = self.llm.stream(build_messages(question, hits))   # connects now; raises LLMError
        first = next(deltas, None)

        def gen():
            yield "sources", {"question": question, "confidence": conf,
                              "sources": [h.model_dump(mode="json") for h in hits],
                              "applied_filters": [f.model_dump(mode="json") for f in applied]}
            filt = CitationFilter(len(hits))
            parts = []
            try:
                for piece in ([first] if first is not None else []):
                    parts.append(piece)
                    out = filt.feed(piece)
                    if out:
                        yield "delta", {"text": out}
                for piece in deltas:
                    parts.append(piece)
                    out = filt.feed(piece)
                    if out:
                        yield "delta", {"text": out}
                out = filt.flush()
                if out:
                    yield "delta", {"text": out}
            except Exception as exc:   # the connection broke mid-answer: say so in the stream
                from .llm import LLMError

                msg = str(exc) if isinstance(exc, LLMError) else f"{exc.__class__.__name__}: {exc}"
                yield "error", {"code": "llm_error", "message": msg}
                return
            finally:
                close = getattr(deltas, "close", None)
                if close:
                    close()
            ans = self._generated(question, hits, ranked, conf, "".join(parts))
            ans.took_ms = round((time.perf_counter() - t0) * 1000, 2)
            ans.applied_filters = applied
            yield "answer", ans.model_dump(mode="json")
            yield "done", {}
        return gen()

    def _use_llm(self, generate: bool | None) -> bool:
        if generate is False:
            return False
        if generate and not self.retriever.settings.llm_url:
            raise QueryError("generative answers need EDSEARCH_LLM_URL (an OpenAI-compatible server)")
        return bool(self.retriever.settings.llm_url)

    # -- building answers --
    @staticmethod
    def _sentence(c: Candidate) -> AnswerSentence:
        return AnswerSentence(text=c.text, source=c.source, char_start=c.char_start, char_end=c.char_end,
                              paragraph=c.paragraph, score=round(c.score, 6))

    def _extractive(self, question, hits, ranked, conf) -> Answer:
        chosen = self.select(ranked)
        text = " ".join(f"{c.text} [{c.source}]" for c in chosen)
        return Answer(question=question, found=True, answer=text, confidence=round(conf, 4),
                      sentences=[self._sentence(c) for c in chosen], sources=hits, mode="extractive")

    def _generated(self, question, hits, ranked, conf, raw: str) -> Answer:
        from .llm import clean_citations

        text, kept, removed = clean_citations(raw, len(hits))
        evidence = [self._sentence(c) for c in self.select(ranked)]
        if not kept:
            return Answer(question=question, found=False, answer=None, confidence=round(conf, 4),
                          sentences=evidence, sources=hits, mode="generative", removed_citations=removed,
                          message="the model's answer cited none of the given sources, so it is not shown; "
                                  f"it said: {text.strip()[:500]}")
        msg = None
        if removed:
            msg = "removed citations to sources that were not given: " + ", ".join(f"[{n}]" for n in removed)
        return Answer(question=question, found=True, answer=text, confidence=round(conf, 4), sentences=evidence,
                      sources=hits, mode="generative", removed_citations=removed, message=msg)

    @staticmethod
    def _not_found(question, hits, conf, mode) -> Answer:
        where = "the closest passages are listed in sources" if hits else "no passages matched"
        return Answer(question=question, found=False, answer=None, confidence=round(conf, 4), sentences=[],
                      sources=hits, mode=mode,
                      message=f"No answer was found in the archive (confidence {conf:.2f} is below the "
                              f"threshold {THRESHOLD:.2f}); {where}.")


def ask(retriever, question: str, k: int = DEFAULT_K, filters: Filters | None = None,
        generate: bool | None = None) -> Answer:
    return Answerer(retriever).ask(question, k=k, filters=filters, generate=generate)


def sse(events) -> Iterator[bytes]:
    """(event, data) pairs as server-sent events: `event: <name>` and one `data: <json>` line each."""
    for event, data in events:
        yield f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
