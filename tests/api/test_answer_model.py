"""The shipped answer model: loads offline, ranks an answer above a distractor, declines a near miss, marks the
answering sentence in search hits, and a missing or damaged artifact is a clear error."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from api import answer_model as M
from api.answer import Answerer, threshold
from tests.conftest import CPTPP_QUESTION, CPTPP_SENTENCE


def _scores(embedder, question, sentences):
    q = M.Question.of(question, lambda t: 5.0)
    vecs = embedder.encode([question] + sentences)
    one_passage = " ".join(sentences)     # the sentences as one retrieved passage, ranked first
    _, probs = M.load().score_sentences(q, vecs[0], sentences, vecs[1:], sentences, [1] * len(sentences),
                                        [one_passage] * len(sentences))
    return probs


@pytest.mark.parametrize("question, voice", [
    ("what did the board recommend on CPTPP?", True), ("What do we think of tariffs?", True),
    ("what is our position on Brexit?", True), ("what has the editorial board said about Japan?", True),
    ("On what date will shareholders consider the demand to oust the supervisory board?", False),
    ("Who won the 2016 US presidential election?", False), ("What did Michael Howard say about asylum?", False),
])
def test_questions_about_the_archives_own_voice(question, voice):
    assert M.asks_archive_voice(question) is voice
    assert M.Question.of(question, lambda t: 5.0).self_voice is voice


def test_the_cross_encoder_reads_the_question_without_its_voice_words():
    q = M.Question.of("what did the board recommend on CPTPP?", lambda t: 5.0)
    assert q.reader_text == "what did the on CPTPP?"
    assert M.without_voice("What do US editors think of tariffs?") == "What do US of tariffs?"   # "US": a name


def test_artifact_loads_offline_and_is_small():
    model = M.load()
    assert 0 < model.threshold < 1
    # decline first; the answer-first threshold docs/ask.md offers to archives that want more answers is lower
    assert 0 < model.config["answer_first_threshold"] < model.threshold
    size = sum(f.stat().st_size for f in M.ARTIFACT_DIR.rglob("*") if f.is_file())    # the cross-encoder too
    assert size < 50 * 1024 * 1024
    assert (M.ARTIFACT_DIR / "MODEL_CARD.md").exists()


@pytest.mark.parametrize("question, answer, distractor", [
    ("When did the Berlin Wall fall?",
     "The Berlin Wall fell on 9 November 1989, after weeks of protest in East Germany.",
     "The Berlin Wall divided the city and became a symbol of the Cold War."),
    ("How many people live in Lagos?",
     "Lagos is home to roughly 15 million people, making it the largest city in Nigeria.",
     "Lagos is a major port and the commercial centre of Nigeria."),
    ("Who designed the Sydney Opera House?",
     "The Sydney Opera House was designed by the Danish architect Jorn Utzon.",
     "The Sydney Opera House is one of the most famous buildings of the twentieth century."),
])
def test_answer_sentence_scores_above_its_distractor(embedder, question, answer, distractor):
    p_answer, p_distractor = _scores(embedder, question, [answer, distractor])
    assert p_answer > p_distractor


def test_the_cross_encoder_reads_only_the_best_sentences(embedder):
    """Of 25 sentences it reads the CROSS_ENCODER_TOP with the best cosine + word overlap (the answer among them);
    the others get the lowest logit read, so they rank below every sentence read."""
    question = "When did the Berlin Wall fall?"
    texts = ["The Berlin Wall fell on 9 November 1989, after weeks of protest."] + [
        f"Recipe {i}: simmer {i + 2} onions with thyme until the soup thickens." for i in range(24)]
    model = M.load()
    q = M.Question.of(question, lambda t: 5.0)
    vecs = embedder.encode([question] + texts)
    logits = model.cross_encoder_logits(q, vecs[0], texts, vecs[1:])
    assert logits.shape == (25,) and logits[0] == logits.max()
    floor = logits.min()
    assert (logits == floor).sum() >= 25 - M.CROSS_ENCODER_TOP + 1       # unread ones, and the lowest read one
    read = np.flatnonzero(logits > floor)
    alone = model.cross_encoder.score(question, [texts[i] for i in read])
    np.testing.assert_allclose(logits[read], alone, atol=0.05)


@pytest.mark.parametrize("stated, near, answer", [
    ("Who beat United in the cup final?", "Who beat Arsenal in the cup final?", "Rovers beat United"),
    ("How much did the central bank lift interest rates?",
     "How much did the central bank lift interest rates in 1998?", "by a quarter point"),
    # A common noun swapped for another ("harbour" -> "airport"): the 6-layer cross-encoder scores the harbour
    # sentence high for the airport question (confidence 0.30). Answered at the answer-first threshold (0.219),
    # declined at the decline-first one (session 16); "word swapped declined" in bench/answer_eval.py (docs/ask.md).
    ("How many jobs would the harbour works create?", "How many jobs would the airport works create?",
     "two hundred jobs"),
])
def test_near_miss_is_declined_and_the_fact_it_states_is_answered(news, stated, near, answer):
    """The archive states one fact; asked the same of another party, year or place, it declines. (Not all near
    misses are caught: docs/ask.md lists ones still answered.)"""
    got = news.ask(stated)
    assert got.found and answer in got.answer
    missed = news.ask(near, dates_from_query=False)      # the model declines, not a date filter ("in 1998")
    assert not missed.found and missed.confidence < threshold() <= got.confidence
    assert missed.sources, "the closest passages are still listed"


def test_search_marks_the_answering_sentence_with_exact_offsets(retriever):
    res = retriever.search(CPTPP_QUESTION, k=5)
    assert res.hits and all(h.answer_span is not None for h in res.hits)
    for h in res.hits:
        span = h.answer_span
        text = retriever.article(h.article.id).text
        assert text[span.char_start:span.char_end] == span.text
        assert h.citation.char_start <= span.char_start < span.char_end <= h.citation.char_end
        assert 0 <= span.score <= 1
    assert any(h.answer_span.text.startswith(CPTPP_SENTENCE) for h in res.hits)


def test_keyword_queries_carry_no_answer_span(retriever):
    res = retriever.search("CPTPP accession process", k=5)
    assert res.hits and all(h.answer_span is None for h in res.hits)


@pytest.mark.parametrize("query, expected", [
    ("what did the board recommend on CPTPP?", True), ("CPTPP accession", False), ("Is Japan in the CPTPP", True),
    ("trade deal?", True), ("who", True), ("Japan trade", False), ("howdy partner", False)])
def test_is_question(query, expected):
    assert M.is_question(query) is expected


@pytest.mark.parametrize("question, qtype", [
    ("When did the Lords vote?", "time"), ("How many jobs would the works create?", "number"),
    ("Who chairs the board?", "person"), ("Where was the band formed?", "place"),
    # asked by a noun after "what"/"which", as news questions ask for figures and people
    ("What net profit did Deutsche Telekom make in the fourth quarter?", "number"),
    ("What was Germany's unemployment rate in January?", "number"),
    ("Which Labour peer said Tony Blair should put Gordon Brown back?", "person"),
    ("What is the new deadline for foreign firms to comply?", "time"),
    ("What was the cost of the new bridge?", "number"),
    ("What was the cost of living blamed on?", "other"),     # a noun phrase ("cost of living"), not a figure
    ("what did the board recommend on CPTPP?", "other")])
def test_question_type(question, qtype):
    assert M.question_type(question) == qtype


def test_missing_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(M.AnswerModelError, match="missing.*make train-answer"):
        M.load(tmp_path)


def _copy(tmp_path):
    dest = tmp_path / "model"
    shutil.copytree(M.ARTIFACT_DIR, dest)
    return dest


def test_damaged_weights_are_a_clear_error(tmp_path):
    dest = _copy(tmp_path)
    raw = (dest / "weights.npz").read_bytes()
    (dest / "weights.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(M.AnswerModelError, match="damaged.*make train-answer"):
        M.load(dest)
    (dest / "weights.npz").unlink()
    with pytest.raises(M.AnswerModelError, match="missing"):
        M.load(dest)


def test_a_missing_or_damaged_cross_encoder_is_a_clear_error(tmp_path):
    dest = _copy(tmp_path)
    raw = (dest / "cross_encoder" / "model.bin").read_bytes()
    (dest / "cross_encoder" / "model.bin").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(M.AnswerModelError, match="cross-encoder.*damaged.*make train-cross-encoder"):
        M.load(dest)
    (dest / "cross_encoder" / "model.bin").unlink()
    with pytest.raises(M.AnswerModelError, match="cross-encoder is missing.*make train-cross-encoder"):
        M.load(dest)


def test_weights_of_the_wrong_shape_or_features_are_a_clear_error(tmp_path):
    dest = _copy(tmp_path)
    with np.load(dest / "weights.npz") as a:
        arrays = dict(a)
    arrays["sentence.w0"] = arrays["sentence.w0"][:-1]
    np.savez(dest / "weights.npz", **arrays)
    with pytest.raises(M.AnswerModelError, match="damaged"):
        M.load(dest)
    dest = _copy(tmp_path / "again")
    cfg = json.loads((dest / "config.json").read_text())
    cfg["sentence_features"] = cfg["sentence_features"][:-1]
    (dest / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(M.AnswerModelError, match="other features"):
        M.load(dest)
    (dest / "config.json").write_text("{not json")
    with pytest.raises(M.AnswerModelError, match="damaged"):
        M.load(dest)


def test_the_answerer_uses_the_model_confidence(retriever):
    answerer = Answerer(retriever)
    prepared = answerer.prepare(CPTPP_QUESTION)
    ranked, conf = prepared.ranked, prepared.confidence
    assert ranked[0].prob == max(c.prob for c in ranked)
    assert ranked[0].paragraph == 14 and conf >= threshold()
    # the best sentence ("Doing so could draw ...") points back: the answer carries the one before it too
    chosen = answerer.select(ranked)
    assert [c.paragraph for c in chosen] == [14, 14] and chosen[0].text.startswith(CPTPP_SENTENCE)
    assert chosen[1].text.startswith("Doing so") and chosen[0].char_end <= chosen[1].char_start


def test_a_sentence_that_points_back_brings_the_one_before_it():
    from api.answer import Candidate, sentence_before

    first = Candidate(1, "a", 0, 40, 3, "The council approved the harbour plan.", "")
    second = Candidate(1, "a", 41, 90, 3, "This will cost the city two million dollars.", "")
    other_para = Candidate(1, "a", 0, 30, 2, "An earlier paragraph.", "")
    other_hit = Candidate(2, "b", 0, 35, 3, "Another article altogether.", "")
    assert sentence_before(second, [other_para, other_hit, first, second]) is first
    assert sentence_before(first, [first, second]) is None                      # does not point back
    alone = Candidate(1, "a", 0, 49, 3, "This will cost the city two million dollars.", "")
    assert sentence_before(alone, [alone, other_para]) is None                 # nothing before it there
