"""FastAPI app: thin routes over Retriever (and the answerer); auth, limits, hot reload of new indexes."""
from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import anyio
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.config import Settings
from indexer.format import IndexStoreError

from .auth import bearer_ok
from .models import Answer, ArticleFull, ErrorBody, SearchResult, Timeline
from .request_models import JSON_BODY, AskRequest, SearchRequest, TimelineRequest, error_message
from .retriever import ArticleNotFound, QueryError, Retriever
from .answer import Answerer, sse
from .answer_model import AnswerModelError
from .llm import LLMError
from . import web

if TYPE_CHECKING:
    from indexer.watch import Watcher

log = logging.getLogger("edsearch")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


class BodyLimit:
    """Counts request body bytes as they arrive: a chunked body has no Content-Length to check up front."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise StarletteHTTPException(413, f"request body over {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


class Overload:
    """Sheds load: with `limit` requests already in flight, answer 503 with Retry-After instead of queueing."""

    def __init__(self, app, limit: int):
        self.app, self.limit, self.in_flight = app, limit, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] == "/health":
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limit:
            response = _error(503, "overloaded", f"the server is busy ({self.in_flight} requests in flight); "
                              "retry in a second", {"Retry-After": "1"})
            return await response(scope, receive, send)
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


class AppState:
    """The one Retriever the app serves, plus the thread that swaps in newly published indexes."""

    def __init__(self, settings: Settings, index_dir: Path):
        self.settings, self.index_dir = settings, index_dir
        self.retriever: Retriever | None = None
        self.load_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        try:
            self.retriever = Retriever(self.index_dir, self.settings)
        except (IndexStoreError, OSError) as exc:
            self.load_error = str(exc)
            log.error("edsearch: %s", exc)
        self._thread = threading.Thread(target=self._watch, daemon=True, name="edsearch-reload")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        try:
            if self.retriever is None:
                self.retriever = Retriever(self.index_dir, self.settings)
                self.load_error = None
            else:
                self.retriever.reload_if_changed()
                self.load_error = None      # serving the newest commit (a bad one may have been followed by a good one)
        except (IndexStoreError, OSError) as exc:
            if str(exc) != self.load_error:
                log.error("edsearch: new index not loaded, %s: %s", "still serving the previous one"
                          if self.retriever is not None else "no index served yet", exc)
            self.load_error = str(exc)

    def _watch(self) -> None:
        while not self._stop.wait(self.settings.reload_interval):
            self.check()

    def get(self) -> Retriever:
        if self.retriever is None:
            raise ApiError(503, "no_index", self.load_error or f"no index loaded from {self.index_dir}")
        return self.retriever


def create_app(index_dir: str | Path | None = None, settings: Settings | None = None,
               watch: "Watcher | None" = None) -> FastAPI:
    """The app over `index_dir`; with `watch` (an indexer.watch.Watcher on the same folder), that watcher runs in a
    background thread while the app is up and is stopped between builds when it shuts down."""
    settings = settings or Settings.from_env()
    state = AppState(settings, Path(index_dir or settings.index))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Sync routes run on anyio's worker threads; a few are enough on a few cores, and each thread costs memory
        # (its SQLite connection, its malloc arena), so the rest of the requests wait in the event loop.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        state.start()
        if watch is not None:
            watch.start()
        yield
        state.stop()
        if watch is not None:
            watch.stop()
            await anyio.to_thread.run_sync(watch.join)   # a build under way finishes and publishes first

    # Every error has one shape (ErrorBody), which the schema says, 422 included (FastAPI's own would be documented
    # otherwise), so that generated clients read errors as the server sends them.
    errors = {status: {"model": ErrorBody, "description": text} for status, text in (
        (400, "Bad request: the message says which field and what to do"), (401, "Missing or wrong bearer token"),
        (404, "No such article"), (413, "Request body too large"), (422, "Invalid request fields or body"),
        (502, "The language model (EDSEARCH_LLM_URL) failed"),
        (503, "No index loaded, answer model unavailable, or overloaded (see Retry-After)"))}
    app = FastAPI(title="edsearch", version="0.1.0", lifespan=lifespan,
                  description="Semantic search and cited Q&A over an editorial archive. When the server has a "
                              "token (EDSEARCH_API_TOKEN), send `Authorization: Bearer <token>` on every route "
                              "but /health.")
    app.state.edsearch = state

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Overload, limit=settings.max_pending)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_body_bytes):
            return _error(413, "body_too_large", f"request body over {settings.max_body_bytes} bytes")
        return await call_next(request)

    if settings.cors_list:
        from fastapi.middleware.cors import CORSMiddleware

        # added last, so outermost: the limits' own answers (413, 503 overloaded) carry CORS headers too, or a
        # browser could read neither them nor Retry-After
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_list, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After"])

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(QueryError)
    async def query_error(_: Request, exc: QueryError):
        return _error(400, "bad_request", str(exc))

    @app.exception_handler(LLMError)
    async def llm_error(_: Request, exc: LLMError):
        return _error(502, "llm_unavailable", str(exc))

    @app.exception_handler(AnswerModelError)
    async def answer_model_error(_: Request, exc: AnswerModelError):
        return _error(503, "answer_model_unavailable", str(exc))

    @app.exception_handler(ArticleNotFound)
    async def not_found(_: Request, exc: ArticleNotFound):
        return _error(404, "not_found", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        return _error(422, "invalid_request", error_message(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        code = "body_too_large" if exc.status_code == 413 else "http_error"
        message = str(exc.detail)
        if message == "There was an error parsing the body":     # FastAPI's words for a body it cannot decode
            message = f"the body could not be read (is it UTF-8 JSON?); {JSON_BODY}"
        return _error(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception):
        log.exception("edsearch: unexpected error")
        return _error(500, "internal_error", "unexpected server error; the log has the details")

    bearer = HTTPBearer(auto_error=False, description="EDSEARCH_API_TOKEN, when the server has one")

    def require_token(request: Request, _: object = Depends(bearer)) -> None:   # the scheme documents it
        if not bearer_ok(request.headers.get("authorization", ""), settings.api_token):
            raise ApiError(401, "unauthorized", "missing or wrong bearer token: send Authorization: Bearer <token>",
                           {"WWW-Authenticate": "Bearer"})

    auth = [Depends(require_token)]

    @app.get("/health", summary="Index loaded, counts, model and index version (never needs a token)")
    def health():
        if state.retriever is None:
            return JSONResponse({"status": "no_index", "error": state.load_error}, status_code=503)
        body = state.retriever.health()
        body["reload_error"] = state.load_error
        return body

    @app.head("/health", include_in_schema=False)      # uptime monitors and load balancers probe with HEAD
    def health_head():
        return Response(status_code=503 if state.retriever is None else 200)

    # The routes that need the token, with the error responses they can give. GET takes the request model's
    # fields as query parameters, POST as a JSON body: one definition for both.
    guarded = {"dependencies": auth, "responses": errors}

    @app.get("/search", response_model=SearchResult, **guarded, summary="Ranked passages with citations")
    def search_get(req: Annotated[SearchRequest, Query()]):
        return req.run(state.get())

    @app.post("/search", response_model=SearchResult, **guarded, summary="Search with a JSON body")
    def search_post(req: SearchRequest):
        return req.run(state.get())

    @app.get("/timeline", response_model=Timeline, **guarded,
             summary="Matching articles per month or year (docs/time.md says which articles match)")
    def timeline(req: Annotated[TimelineRequest, Query()]):
        return req.run(state.get())

    @app.get("/ask", response_model=Answer, **guarded,
             summary="A cited answer to a question, or found=false with the closest passages")
    def ask_get(req: Annotated[AskRequest, Query()]):
        return req.run(state.get())

    @app.post("/ask", response_model=Answer, **guarded, summary="Ask with a JSON body")
    def ask_post(req: AskRequest):
        return req.run(state.get())

    @app.get("/ask/stream", dependencies=auth, response_class=StreamingResponse,
             summary="The answer as server-sent events: sources, delta (generative mode), answer, done",
             responses={**errors, 200: {"content": {"text/event-stream": {}}}})
    def ask_stream(req: Annotated[AskRequest, Query()]):
        events = Answerer(state.get()).stream(req.q, req.k, req.filters(), req.generate, req.dates_from_query,
                                              req.min_confidence)
        return StreamingResponse(sse(events), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/facets", **guarded, summary="Authors, sections, tags and date range for filters")
    def facets():
        return state.get().facets()

    # the token is checked in the route (a browser's page needs none), so the schema is told of it here
    @app.get("/articles/{article_id:path}", response_model=ArticleFull,
             summary="A stored article with its numbered paragraphs (an HTML page when Accept prefers text/html)",
             responses={**errors, 200: {"content": {"text/html": {}}}},
             openapi_extra={"security": [{"HTTPBearer": []}]})
    def article(article_id: str, request: Request,
                p: str | None = Query(None, description="HTML page only: paragraph(s) to highlight, 14 or 14-15")):
        if web.wants_html(request):    # the page for a browser; without a token it is a shell that fetches JSON
            return web.article_response(request, article_id, p, state.get, settings.api_token)
        require_token(request)
        return state.get().article(article_id)

    web.mount(app)                     # GET / (the search page) and /static/*: no token needed

    return app


def serve(index_dir: str | Path | None = None, host: str | None = None, port: int | None = None,
          settings: Settings | None = None, watch: "Watcher | None" = None) -> None:
    import uvicorn

    settings = settings or Settings.from_env()
    uvicorn.run(create_app(index_dir, settings, watch), host=host or settings.host, port=port or settings.port,
                log_level="info", access_log=False)
