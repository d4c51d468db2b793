"""`edsearch mcp`: the archive as Model Context Protocol tools, for AI assistants and agent frameworks.

Built on the official `mcp` SDK (MCPServer). Three tools, thin over the same library calls as the HTTP routes,
with the same request models (so the same validation) and the same results (citations with label, paragraphs,
character span and link):

    search(the fields of api.request_models.SearchRequest)                     -> SearchResult
    ask(the fields of api.request_models.AskRequest but generate)              -> Answer (extractive)
    get_article(article_id)                                                    -> ArticleFull

Over stdio (the default) the client started the process and owns it: no token. Over streamable HTTP
(`--port`), the HTTP API's token rule holds: with EDSEARCH_API_TOKEN set, every request needs
`Authorization: Bearer <token>`.
"""
from __future__ import annotations

import inspect
import logging
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError   # the SDK sends its message back as the tool's error
from pydantic import WithJsonSchema

from indexer.config import Settings
from indexer.format import IndexStoreError

from .auth import bearer_ok
from .models import Answer, ArticleFull, SearchResult
from .retriever import ArticleNotFound, QueryError, Retriever
from .request_models import AskRequest, SearchRequest

log = logging.getLogger("edsearch")
INSTRUCTIONS = ("Search an editorial archive and answer from it with citations. `search` returns ranked passages, "
                "each with a citation (label, paragraph numbers, character span in the article, link). `ask` "
                "returns a short answer built from the archive's own sentences with [n] markers into its sources, "
                "or found=false when the archive does not answer. Quote the citation label when you use a passage.")


def create_mcp(index_dir: str | Path | None = None, settings: Settings | None = None):
    """The MCP server over one index folder (opened now; a newly published version is picked up per call)."""
    settings = settings or Settings.from_env()
    retriever = Retriever(Path(index_dir or settings.index), settings)
    server = MCPServer("edsearch", instructions=INSTRUCTIONS, log_level="WARNING")

    def current() -> Retriever:
        try:
            retriever.reload_if_changed()
        except (IndexStoreError, OSError) as exc:      # keep answering from the version already open
            log.error("edsearch: new index not loaded, still serving the previous one: %s", exc)
        return retriever

    def call(fn):
        try:
            return fn()
        except (QueryError, ArticleNotFound) as exc:
            raise ToolError(str(exc)) from None

    def tool(tool_name: str, model, result, doc: str, **fixed) -> None:
        """A tool whose arguments are `model`'s fields (less those `fixed`), published with the model's own schema
        for each (type, bounds, default, description). The model checks them, as for HTTP and the CLI, so a bad
        value gets the same one-line message ("k: Input should be ..."); the SDK's own check would answer with
        pydantic's multi-line dump, so it checks only that required arguments are there and that a plain string
        is one (typed Any, a string such as q='null' would be parsed as JSON first)."""
        schema = model.model_json_schema(by_alias=False)["properties"]

        def fn(**fields):
            return call(lambda: model.parse({**fields, **fixed}).run(current()))

        fn.__name__ = tool_name
        fn.__signature__ = inspect.Signature([
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                              annotation=Annotated[str if f.annotation is str else Any,
                                                   WithJsonSchema({k: v for k, v in schema[name].items()
                                                                   if k != "title"})],
                              default=inspect.Parameter.empty if f.is_required()
                              else f.get_default(call_default_factory=True))
            for name, f in model.model_fields.items() if name not in fixed], return_annotation=result)
        server.add_tool(fn, description=doc)

    tool("search", SearchRequest, SearchResult,
         """Ranked passages of the archive for words, a question or "quoted phrases", each with its citation
        (label, paragraphs, character span, link). mode: hybrid (default), dense or keyword; sort: relevance or
        date (newest first). Dates: YYYY-MM-DD; date words in q ("in 2021", "since March 2023") become filters
        unless dates_from_query is false, and the result lists them under applied_filters.""")
    tool("ask", AskRequest, Answer,
         """A short answer to a question, built from the archive's own sentences with [n] markers into `sources`
        (each with its citation), or found=false with the closest passages when the archive does not answer.""",
         generate=False)

    @server.tool()
    def get_article(article_id: str) -> ArticleFull:
        """A stored article with its numbered paragraphs (the ids come from search and ask results)."""
        return call(lambda: current().article(article_id))

    return server


class BearerToken:
    """ASGI middleware: the HTTP API's token rule for the MCP endpoint."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.token:
            header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            if not bearer_ok(header, self.token):
                from starlette.responses import JSONResponse

                response = JSONResponse({"error": {"code": "unauthorized", "message": "missing or wrong bearer "
                                         "token: send Authorization: Bearer <token>"}}, status_code=401,
                                        headers={"WWW-Authenticate": "Bearer"})
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def serve_mcp(index_dir: str | Path | None = None, settings: Settings | None = None, host: str | None = None,
              port: int | None = None) -> None:
    """Serve over stdio, or over streamable HTTP at http://host:port/mcp when a port is given."""
    settings = settings or Settings.from_env()
    server = create_mcp(index_dir, settings)
    if port is None:
        server.run("stdio")
        return
    import uvicorn

    host = host or settings.host
    app = BearerToken(server.streamable_http_app(host=host), settings.api_token)
    uvicorn.run(app, host=host, port=port, log_level="warning")
