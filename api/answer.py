"""Ask: cited answers to questions, with honest abstention.

Extractive mode (the default): the top passages of a hybrid search are split into sentences (exact character
spans in the stored article text, never crossing a paragraph), and the trained answer model (api/answer_model.py,
shipped in api/answer_model/, trained by `make train-answer` on SQuAD v1.1 train) scores each:

  * its sentence head gives P(this sentence answers the question), from the trained cross-encoder's score of
    (question, sentence), the MiniLM cosine of question and sentence, word and idf-weighted overlap with the
    sentence and its neighbours, and answer-type features (a "when" question against a year the sentence holds
    and the question does not, "how many" against a number, "who" and "where" against a name);
  * its evidence head gives the confidence: P(the retrieved passages answer the question at all), from the best
    sentences' probabilities and what the question names that no retrieved sentence holds.

The best sentence, plus up to two runners-up that score at least a fifth as well, are returned in reading order
(source order, then position in the article), each followed by a `[n]` marker naming its source in `sources`; the
sentences together stay within MAX_ANSWER_CHARS. A sentence whose embedding is within DEDUPE_COSINE of one already
chosen is skipped, so repeats are not both returned. Below the threshold (the model's own, in its config.json,
chosen by the rule in docs/ask.md; EDSEARCH_ANSWER_THRESHOLD or a request's min_confidence overrides it:
`Answerer.decline_below`) the response says no answer was found and still lists the closest passages.

Generative mode (only when EDSEARCH_LLM_URL is set): see api/llm.py. The answer is written by that model from the
same numbered passages; citations to sources that were not given are removed and listed in `removed_citations`.
The answer model's confidence gates both modes: below the threshold the LLM is not called at all.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from indexer.chunking import sentence_spans
from indexer.reader import Filters

from . import answer_model
from .models import AppliedFilter, Answer, AnswerSentence, AnswerSpan, Hit
from .validation import QueryError, check_confidence, check_k, check_text

DEDUPE_COSINE = 0.9        # two sentences this similar are one sentence said twice
MAX_SENTENCES = 3
MAX_ANSWER_CHARS = 500     # a cited answer a reader takes in at a glance
# A runner-up is kept when its probability is at least this share of the best one's: where the model is torn
# between sentences, the reader gets each of them (cited) rather than the one it guessed. Chosen on held-out SQuAD
# questions that bench/answer_eval.py does not report on (--answer-length, docs/ask.md): the gold answer in the answer
# 0.762 -> 0.868 of answerable questions, answers 192 -> 265 characters on average (1.07 -> 1.58 sentences).
KEEP_SHARE = 0.2
MIN_WORDS = 3              # shorter "sentences" (bylines, "Listen to this article") are not answers
# A sentence that opens by pointing back ("Doing so could draw...", "This would...", "They said...") means nothing
# alone: the answer carries the sentence before it in the same paragraph as well (a reading rule, not a score).
POINTS_BACK = re.compile(r"^\W*(doing so|this|that|these|those|such|it|its|they|their|he|his|she|her|both|"
                         r"the latter|the former)\b", re.IGNORECASE)
DEFAULT_K = 5

_WORD = re.compile(r"\w+", re.UNICODE)
_MARKER = re.compile(r"\[(\d{1,3})\]")


@dataclass
class Prepared:
    """A question retrieved and scored: what ask and stream answer from."""

    question: str
    hits: list[Hit]
    ranked: list["Candidate"]            # sentences, best first
    confidence: float
    applied_filters: list[AppliedFilter]


@dataclass
class Candidate:
    """One sentence of a retrieved passage."""

    source: int            # 1-based index of the hit in `sources`
    article_id: str
    char_start: int
    char_end: int
    paragraph: int
    text: str
    context: str = ""      # the sentence with its neighbours in the passage
    passage: str = ""      # the whole passage (the hit's citation span)
    cos: float = 0.0
    prob: float = 0.0      # the answer model's P(this sentence answers the question)
    vec: np.ndarray | None = None
    feats: np.ndarray | None = None

    @property
    def score(self) -> float:
        return self.prob


def model() -> answer_model.AnswerModel:
    """The shipped answer model (AnswerModelError when its files are missing or damaged)."""
    return answer_model.get()


def threshold() -> float:
    """The answer model's own threshold (its config.json)."""
    return model().threshold


def passage_sentences(text: str, paras: list[tuple[int, int]], start: int, end: int):
    """(char_start, char_end, paragraph, context) of each sentence of text[start:end], paragraph by paragraph;
    the context is the sentence with its neighbours inside the passage."""
    out = []
    for pn, (ps, pe) in enumerate(paras, 1):
        lo, hi = max(ps, start), min(pe, end)
        if lo >= hi:
            continue
        spans = sentence_spans(text, lo, hi)
        for j, (s, e) in enumerate(spans):
            out.append((s, e, pn, text[spans[max(0, j - 1)][0]:spans[min(len(spans) - 1, j + 1)][1]]))
    return out


def score_candidates(embedder, idf, question: str, cands: list[Candidate]):
    """Score the candidates in place with the answer model; (Question, candidates best first)."""
    q = answer_model.Question.of(question, idf)
    if not cands:
        return q, []
    vecs = embedder.encode([question] + [c.text for c in cands])
    qv, sv = vecs[0], vecs[1:]
    feats, probs = model().score_sentences(q, qv, [c.text for c in cands], sv, [c.context for c in cands],
                                           [c.source for c in cands],   # hits come in retrieval order
                                           [c.passage for c in cands])
    for c, v, f, p in zip(cands, sv, feats, probs):
        c.vec, c.feats, c.cos, c.prob = v, f, float(v @ qv), float(p)
    return q, sorted(cands, key=lambda c: -c.prob)


def _keep(c: Candidate, best: Candidate) -> bool:
    """Whether a runner-up joins the best sentence in the answer (Answerer.select; bench/answer_eval.py compares
    other rules through its `keep`)."""
    return c.prob >= KEEP_SHARE * best.prob


def sentence_before(c: Candidate, cands: list[Candidate]) -> Candidate | None:
    """The sentence just before `c` in its paragraph, when `c` points back to it (POINTS_BACK) and it is a
    candidate of the same hit."""
    if not POINTS_BACK.match(c.text):
        return None
    before = [o for o in cands if o.source == c.source and o.paragraph == c.paragraph and o.char_end <= c.char_start]
    return max(before, key=lambda o: o.char_end, default=None)


def hit_sentences(reader, hits: list[Hit], once: bool = True) -> list[Candidate]:
    """The sentences (of at least MIN_WORDS words) of each hit's passage, never across paragraphs, numbered by
    the hit; with `once`, a sentence two hits share counts for the first only."""
    arts = reader.articles({h.article.id for h in hits}, with_text=True)
    cands: list[Candidate] = []
    seen: set[tuple[str, int, int]] = set()
    for n, hit in enumerate(hits, 1):
        art = arts.get(hit.article.id)
        if art is None:
            continue
        text = art.text
        passage = text[hit.citation.char_start:hit.citation.char_end]
        for s, e, pn, ctx in passage_sentences(text, art.paragraphs, hit.citation.char_start,
                                               hit.citation.char_end):
            if len(_WORD.findall(text[s:e])) < MIN_WORDS or (once and (hit.article.id, s, e) in seen):
                continue
            seen.add((hit.article.id, s, e))
            cands.append(Candidate(n, hit.article.id, s, e, pn, text[s:e], ctx, passage))
    return cands


def answer_spans(retriever, query: str, hits: list[Hit]) -> list[Hit]:
    """Each hit with `answer_span`: the sentence of its passage the answer model scores best for the question."""
    if not hits:
        return hits
    cands = hit_sentences(retriever.reader, hits, once=False)
    _, ranked = score_candidates(retriever.embedder, retriever.reader.idf, query, cands)
    best: dict[int, Candidate] = {}
    for c in ranked:
        best.setdefault(c.source, c)

    def span(hit: Hit, c: Candidate) -> AnswerSpan:
        start = (sentence_before(c, cands) or c).char_start
        text = hit.text[start - hit.citation.char_start:c.char_end - hit.citation.char_start]
        return AnswerSpan(char_start=start, char_end=c.char_end, text=text, score=round(c.prob, 4))

    return [h.model_copy(update={"answer_span": span(h, c)}) if (c := best.get(n)) else h
            for n, h in enumerate(hits, 1)]


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
        return self.retriever.reader.idf(term)

    # -- retrieval and sentence scoring --
    def retrieve(self, question: str, k: int, filters: Filters | None, dates_from_query: bool = True):
        """The hybrid SearchResult the answer is drawn from (date words in the question become filters)."""
        return self.retriever.search(question, k=k, mode="hybrid", filters=filters,
                                     dates_from_query=dates_from_query, answer_spans=False)

    def candidates(self, question: str, hits: list[Hit]) -> tuple[answer_model.Question, list[Candidate]]:
        """Sentences of the hits, scored by the answer model, best first."""
        cands = hit_sentences(self.retriever.reader, hits)
        return score_candidates(self.retriever.embedder, self.idf, question, cands)

    def decline_below(self, min_confidence: float | None = None) -> float:
        """The confidence below which ask declines: `min_confidence` (a request's), else the setting
        EDSEARCH_ANSWER_THRESHOLD, else the answer model's own threshold."""
        if min_confidence is not None:
            return check_confidence(min_confidence)
        setting = self.retriever.settings.answer_threshold
        return threshold() if setting is None else float(setting)

    @staticmethod
    def confidence(q: answer_model.Question, ranked: list[Candidate]) -> float:
        """The evidence head's P(the candidates answer the question); 0 with no candidates."""
        if not ranked:
            return 0.0
        return model().confidence(q, np.stack([c.feats for c in ranked]), np.array([c.prob for c in ranked]),
                                  [c.text for c in ranked], [c.context for c in ranked])

    @staticmethod
    def select(ranked: list[Candidate], keep=_keep) -> list[Candidate]:
        """The best sentence plus up to two runners-up the `keep(candidate, best)` rule admits (_keep:
        KEEP_SHARE) that do not repeat a chosen one and keep the answer within MAX_ANSWER_CHARS, each with the
        sentence before it when it points back to it; reading order."""
        if not ranked:
            return []
        chosen = [ranked[0]]
        length = len(ranked[0].text)
        for c in ranked[1:]:
            if len(chosen) >= MAX_SENTENCES or not keep(c, ranked[0]):
                break
            if length + len(c.text) + 1 > MAX_ANSWER_CHARS:
                continue
            if any(float(c.vec @ o.vec) > DEDUPE_COSINE or c.text.strip() == o.text.strip() for o in chosen):
                continue
            chosen.append(c)
            length += len(c.text) + 1
        for c in list(chosen):
            before = sentence_before(c, ranked)
            if before is not None and before not in chosen and length + len(before.text) + 1 <= MAX_ANSWER_CHARS:
                chosen.append(before)
                length += len(before.text) + 1
        return sorted(chosen, key=lambda c: (c.source, c.char_start))

    # -- the public entry points --
    def prepare(self, question: str, k: int = DEFAULT_K, filters: Filters | None = None,
                hits: list[Hit] | None = None, dates_from_query: bool = True) -> Prepared:
        """Validate, retrieve, score. The sentences are scored against the question without its date words,
        which the filters the retrieval applied (returned with the rest) have dealt with."""
        question = validate_question(question, self.retriever.settings.max_query_chars)
        k = check_k(k)
        scored, applied = question, []
        if hits is None:
            result = self.retrieve(question, k, filters, dates_from_query)
            hits, scored, applied = result.hits, result.retrieval_query, result.applied_filters
        q, ranked = self.candidates(scored, hits)
        return Prepared(question, hits, ranked, self.confidence(q, ranked), applied)

    def ask(self, question: str, k: int = DEFAULT_K, filters: Filters | None = None,
            generate: bool | None = None, hits: list[Hit] | None = None, dates_from_query: bool = True,
            min_confidence: float | None = None) -> Answer:
        """A cited answer, or found=false with the closest passages when the confidence is below
        `decline_below(min_confidence)`. `generate`: None = use the LLM when EDSEARCH_LLM_URL is set, False =
        extractive only, True = require the LLM."""
        t0 = time.perf_counter()
        bar = self.decline_below(min_confidence)
        p = self.prepare(question, k, filters, hits, dates_from_query)
        question, hits, ranked, conf, applied = p.question, p.hits, p.ranked, p.confidence, p.applied_filters
        use_llm = self._use_llm(generate)
        if conf < bar or not ranked:
            ans = self._not_found(question, hits, conf, bar, "generative" if use_llm else "extractive")
        elif use_llm:
            from .llm import build_messages

            raw = self.llm.complete(build_messages(question, hits))
            ans = self._generated(question, hits, ranked, conf, bar, raw)
        else:
            ans = self._extractive(question, hits, ranked, conf, bar)
        ans.took_ms = round((time.perf_counter() - t0) * 1000, 2)
        ans.applied_filters = applied
        return ans

    def stream(self, question: str, k: int = DEFAULT_K, filters: Filters | None = None,
               generate: bool | None = None, dates_from_query: bool = True,
               min_confidence: float | None = None) -> Iterator[tuple[str, dict]]:
        """Server-sent-event payloads as (event, data). Validation, retrieval and connecting to the LLM happen
        before the first item is produced, so errors surface as exceptions at the first next()."""
        t0 = time.perf_counter()
        bar = self.decline_below(min_confidence)
        p = self.prepare(question, k, filters, dates_from_query=dates_from_query)
        question, hits, ranked, conf, applied = p.question, p.hits, p.ranked, p.confidence, p.applied_filters
        use_llm = self._use_llm(generate)
        declined = conf < bar or not ranked
        if declined or not use_llm:
            ans = (self._not_found(question, hits, conf, bar, "generative" if use_llm else "extractive")
                   if declined else self._extractive(question, hits, ranked, conf, bar))
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
            yield "sources", {"question": question, "confidence": conf, "threshold": bar,
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
            ans = self._generated(question, hits, ranked, conf, bar, "".join(parts))
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

    def _extractive(self, question, hits, ranked, conf, bar) -> Answer:
        chosen = self.select(ranked)
        text = " ".join(f"{c.text} [{c.source}]" for c in chosen)
        return Answer(question=question, found=True, answer=text, confidence=round(conf, 4), threshold=bar,
                      sentences=[self._sentence(c) for c in chosen], sources=hits, mode="extractive")

    def _generated(self, question, hits, ranked, conf, bar, raw: str) -> Answer:
        from .llm import clean_citations

        text, kept, removed = clean_citations(raw, len(hits))
        evidence = [self._sentence(c) for c in self.select(ranked)]
        if not kept:
            return Answer(question=question, found=False, answer=None, confidence=round(conf, 4), threshold=bar,
                          sentences=evidence, sources=hits, mode="generative", removed_citations=removed,
                          message="the model's answer cited none of the given sources, so it is not shown; "
                                  f"it said: {text.strip()[:500]}")
        msg = None
        if removed:
            msg = "removed citations to sources that were not given: " + ", ".join(f"[{n}]" for n in removed)
        return Answer(question=question, found=True, answer=text, confidence=round(conf, 4), threshold=bar,
                      sentences=evidence, sources=hits, mode="generative", removed_citations=removed, message=msg)

    @staticmethod
    def _not_found(question, hits, conf, bar, mode) -> Answer:
        where = "the closest passages are listed in sources" if hits else "no passages matched"
        return Answer(question=question, found=False, answer=None, confidence=round(conf, 4), threshold=bar,
                      sentences=[], sources=hits, mode=mode,
                      message=f"No answer was found in the archive (confidence {conf:.2f} is below the "
                              f"threshold {bar:.2f}); {where}.")


def sse(events) -> Iterator[bytes]:
    """(event, data) pairs as server-sent events: `event: <name>` and one `data: <json>` line each."""
    for event, data in events:
        yield f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
