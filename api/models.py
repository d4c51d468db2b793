"""Typed shapes that cross the library/HTTP/CLI boundary (the JSON the API returns is their dump)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ArticleRef(BaseModel):
    id: str = Field(description="Article id (from the source's id field, or its file path)")
    title: str
    author: str | None = None
    published: str | None = Field(None, description="ISO date, YYYY-MM-DD")
    url: str | None = None
    section: str | None = None
    publication: str | None = None
    tags: list[str] = Field(default_factory=list)


class Citation(BaseModel):
    label: str = Field(description='Pasteable reference, e.g. EAF Editorial Board, "Title", para 14')
    paragraphs: list[int] = Field(description="1-based paragraph numbers in the stored article text")
    char_start: int = Field(description="Start offset of the passage in the stored article text")
    char_end: int = Field(description="End offset (exclusive); article.text[char_start:char_end] is the passage")
    link: str | None = Field(None, description="Source URL with a #:~:text= fragment opening the passage")
    app_link: str = Field(description="This service's own page for the article, at the cited paragraph")


class Ranks(BaseModel):
    dense: int | None = Field(None, description="1-based rank in the dense (vector) list; null if absent")
    keyword: int | None = Field(None, description="1-based rank in the keyword (BM25) list; null if absent")
    answer: int | None = Field(None, description="For a question: 1-based rank of the hit's answer span score "
                                                 "among the hits (fused with the retrieval order into `rank`); "
                                                 "null for other queries")


class AnswerSpan(BaseModel):
    char_start: int = Field(description="Offset of the sentence in the article's stored text")
    char_end: int = Field(description="End offset (exclusive); article.text[char_start:char_end] is the sentence")
    text: str = Field(description="The sentence, exactly as in the stored article text")
    score: float = Field(description="The answer model's probability that this sentence answers the question")


class Hit(BaseModel):
    rank: int
    score: float = Field(description="Retrieval score (RRF for hybrid, cosine for dense, BM25 for keyword); a "
                                     "question's rank also weighs the answer model (ranks.answer)")
    text: str = Field(description="The passage, exactly as in the stored article text")
    article: ArticleRef
    citation: Citation
    highlights: list[tuple[int, int]] = Field(default_factory=list,
                                              description="[start, end) spans of matching terms in text")
    ranks: Ranks
    duplicates: list[str] = Field(default_factory=list,
                                  description="Other article ids with byte-identical text, collapsed into this hit")
    near_duplicates: list[str] = Field(default_factory=list,
                                       description="Other article ids with near-identical text (republished, "
                                                   "syndicated or corrected versions; docs/near-duplicates.md), "
                                                   "collapsed into this hit")
    answer_span: AnswerSpan | None = Field(None, description="For a question (ends with '?' or starts with a "
                                           "wh-word or auxiliary): the passage's sentence that best answers it; "
                                           "null for other queries")


class AppliedFilter(BaseModel):
    """A filter the results were restricted by, named as the request parameter that removes or changes it."""

    name: str = Field(description="Request parameter: from, to, author, section, tag, source or article_id")
    value: str
    origin: Literal["request", "query"] = Field(
        description="request: given as a parameter; query: read from date words in the query text (send "
                    "dates_from_query=false, or the dates you want as from/to, to drop or change it)")
    phrase: str | None = Field(None, description="The words of the query it was read from (origin query)")
    undated_left_out: int | None = Field(None, description="from and to only: how many articles the other filters "
                                                           "let through have no published date, which a date "
                                                           "filter leaves out (null when none)")


class SearchResult(BaseModel):
    query: str
    mode: str
    hits: list[Hit]
    took_ms: float
    index_version: int | None = None
    applied_filters: list[AppliedFilter] = Field(default_factory=list)
    retrieval_query: str | None = Field(None, description="The text searched for: the query without the date "
                                                          "words that became filters")
    sort: Literal["relevance", "date"] = "relevance"


class TimelineBucket(BaseModel):
    period: str = Field(description="YYYY or YYYY-MM")
    start: str = Field(description="First day of the period, YYYY-MM-DD (a from filter)")
    end: str = Field(description="Last day of the period, YYYY-MM-DD (a to filter)")
    count: int = Field(description="Matching articles published in the period")


class Timeline(BaseModel):
    query: str
    interval: Literal["month", "year"]
    buckets: list[TimelineBucket] = Field(description="Consecutive periods from the first to the last match, "
                                                      "empty ones included")
    matched: int = Field(description="Matching articles counted (dated ones)")
    undated: int = Field(description="Matching articles without a published date (not in any bucket)")
    limit: int = Field(description="At most this many of the most relevant articles are counted")
    applied_filters: list[AppliedFilter] = Field(default_factory=list)
    retrieval_query: str | None = None
    took_ms: float = 0.0


class Paragraph(BaseModel):
    number: int
    char_start: int
    char_end: int
    text: str


class ArticleFull(ArticleRef):
    text: str
    paragraphs: list[Paragraph]
    source: str
    duplicates: list[str] = Field(default_factory=list)
    near_duplicates: list[str] = Field(default_factory=list)


class AnswerSentence(BaseModel):
    text: str
    source: int = Field(description="1-based number of the source in `sources`")
    char_start: int = Field(description="Offset of the sentence in the source article's stored text")
    char_end: int
    paragraph: int
    score: float


class Answer(BaseModel):
    question: str
    found: bool
    answer: str | None = Field(None, description="Answer text with [n] markers pointing into `sources`")
    confidence: float = Field(description="Calibrated probability that the answer is supported (0..1)")
    threshold: float = Field(description="The confidence below which this answer was declined: the request's "
                                         "min_confidence, else EDSEARCH_ANSWER_THRESHOLD, else the answer model's")
    sentences: list[AnswerSentence] = Field(default_factory=list)
    sources: list[Hit] = Field(default_factory=list)
    mode: str = Field("extractive", description="extractive or generative")
    removed_citations: list[int] = Field(default_factory=list,
                                         description="[n] markers the model used that named no given source")
    message: str | None = None
    took_ms: float = 0.0
    applied_filters: list[AppliedFilter] = Field(default_factory=list,
                                                 description="Filters the sources were restricted by (see /search)")


class ErrorDetail(BaseModel):
    code: str = Field(description="bad_request, invalid_request, unauthorized, not_found, body_too_large, "
                                  "overloaded, no_index, answer_model_unavailable, llm_unavailable, internal_error, ...")
    message: str = Field(description="What is wrong and what to do, in one line")


class ErrorBody(BaseModel):
    """Every error response of the HTTP API."""

    error: ErrorDetail
