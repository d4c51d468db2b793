"""The fields of a search, ask or timeline request, each named, typed, bounded, defaulted and described once: GET
query parameters, POST bodies (api/server.py), `edsearch` options (api/cli.py) and MCP tool arguments
(api/mcp_server.py) are generated from these models. What a model cannot know the library checks for every caller:
the query length limit (a setting) and dates (checked where they are read)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from indexer.reader import Filters

from .models import Answer, SearchResult, Timeline
from .retriever import TIMELINE_LIMIT
from .validation import INTERVALS, MAX_K, MODES, SORTS, QueryError

if TYPE_CHECKING:
    from .retriever import Retriever

K = Annotated[int, Field(ge=1, le=MAX_K)]
DATES_FROM_QUERY = ("Read date words in the query (\"in 2021\", \"since March 2023\", \"last year\") as from/to "
                    "filters, unless from or to is given or no article of the index has a date; false: search "
                    "the words as typed")


JSON_BODY = 'send a JSON object such as {"q": "CPTPP"} with Content-Type: application/json'


def error_message(errors: list[dict]) -> str:
    """One line for pydantic's errors, each naming its field as the request spells it: "k: Input should be ...";
    a body that is not a JSON object is named as such, with what to send instead."""
    parts = []
    for e in errors:
        loc, kind = tuple(e.get("loc", ())), e.get("type")
        if kind == "json_invalid":
            where = f" at character {loc[1]}" if len(loc) > 1 else ""
            parts.append(f"the body is not valid JSON ({(e.get('ctx') or {}).get('error', 'decode error')}{where}); "
                         + JSON_BODY)
        elif loc == ("body",):
            parts.append(("the body is empty; " if kind == "missing" else "the body is not a JSON object; ")
                         + JSON_BODY)
        else:
            where = ".".join(str(p) for p in loc if p not in ("query", "body"))
            parts.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class Request(BaseModel):
    """The query and the filters: the fields search, ask and timeline share."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(description="Words, a question, or \"quoted phrases\" (phrases must match exactly)")
    author: str | None = Field(None, description="Only articles by this author: the whole name, any case")
    section: str | None = Field(None, description="Only articles in this section: its whole name, any case")
    tag: str | None = Field(None, description="Only articles with this tag: the whole tag, any case")
    source: str | None = Field(None, description="Substring of the source file path")
    from_date: str | None = Field(None, alias="from", description="Earliest published date, YYYY-MM-DD")
    to_date: str | None = Field(None, alias="to", description="Latest published date, YYYY-MM-DD")
    article_id: list[str] = Field(default_factory=list, description="Restrict to these article ids")
    dates_from_query: bool = Field(True, description=DATES_FROM_QUERY)

    @classmethod
    def parse(cls, fields: dict):
        """The request from values keyed by field name (CLI options, MCP arguments), or QueryError naming each
        bad field as the HTTP API does."""
        try:
            return cls.model_validate(fields, by_name=True)
        except ValidationError as exc:
            raise QueryError(error_message(exc.errors())) from None

    def filters(self) -> Filters:
        return Filters(author=self.author, section=self.section, tag=self.tag, source=self.source,
                       published_from=self.from_date, published_to=self.to_date, article_ids=list(self.article_id))


class SearchRequest(Request):
    """GET /search's query parameters, POST /search's body, `edsearch search`'s options, MCP's search tool."""

    k: K = Field(10, description=f"Number of passages, 1..{MAX_K}")
    mode: Literal[MODES] = Field("hybrid", description="hybrid (dense and keyword fused), dense or keyword")
    per_article: int | None = Field(2, ge=0, description="Passages per article at most; 0 (or null in JSON): no limit")
    recency_half_life_days: float | None = Field(None, gt=0, allow_inf_nan=False,
                                                 description="Prefer recent articles: a passage's score halves "
                                                             "every this many days of age (off when left out)")
    sort: Literal[SORTS] = Field("relevance", description="relevance (best first) or date (the same passages, "
                                                          "newest first)")

    def run(self, retriever: Retriever) -> SearchResult:
        return retriever.search(self.q, self.k, self.mode, self.filters(), self.per_article,
                                self.recency_half_life_days, sort=self.sort, dates_from_query=self.dates_from_query)


class AskRequest(Request):
    """GET and POST /ask's and GET /ask/stream's fields, `edsearch ask`'s options, MCP's ask tool."""

    q: str = Field(description="A question about the archive")
    k: K = Field(5, description=f"Passages to answer from (and list as sources), 1..{MAX_K}")
    generate: bool | None = Field(None, description="Left out: use the LLM when EDSEARCH_LLM_URL is set; "
                                                    "false: extractive only; true: require the LLM")
    min_confidence: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                         description="Decline below this confidence, 0..1 (left out: "
                                                     "EDSEARCH_ANSWER_THRESHOLD, else the answer model's "
                                                     "threshold); higher: fewer wrong answers, more declined")

    def run(self, retriever: Retriever) -> Answer:
        return retriever.ask(self.q, self.k, self.filters(), self.generate, dates_from_query=self.dates_from_query,
                             min_confidence=self.min_confidence)


class TimelineRequest(Request):
    """GET /timeline's query parameters, `edsearch timeline`'s options."""

    interval: Literal[INTERVALS] | None = Field(None, description="month or year per bar; left out: months for "
                                                                  "a span up to three years, else years")
    limit: K = Field(TIMELINE_LIMIT, description=f"Count the most relevant articles up to this many, 1..{MAX_K}")

    def run(self, retriever: Retriever) -> Timeline:
        return retriever.timeline(self.q, self.filters(), self.interval, self.dates_from_query, self.limit)
