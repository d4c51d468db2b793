"""Security defaults: the bearer token (constant-time, never logged, on every data route), CORS off unless
configured, request limits, loopback bind by default."""
from __future__ import annotations

import dataclasses
import inspect
import logging

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api import server
from api.server import create_app

from ..conftest import CPTPP_SENTENCE

TOKEN = "s3cret-T0ken-for-tests-only"
OPEN_ROUTES = {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/"}  # no data in them


@pytest.fixture(scope="module")
def token_app(seeds_index, settings):
    return create_app(seeds_index, dataclasses.replace(settings, api_token=TOKEN))


def _sample_path(path: str) -> str:
    return path.replace("{article_id:path}", "seeds-article").replace("{article_id}", "seeds-article")


def test_token_is_required_on_every_data_route(token_app, caplog):
    caplog.set_level(logging.DEBUG)
    routes = [r for r in token_app.routes if isinstance(r, APIRoute) and r.path not in OPEN_ROUTES]
    assert {r.path for r in routes} >= {"/search", "/ask", "/ask/stream", "/facets", "/articles/{article_id:path}"}
    with TestClient(token_app) as client:
        for route in routes:
            for method in route.methods - {"HEAD", "OPTIONS"}:
                path = _sample_path(route.path)
                kw = {"json": {"q": "CPTPP"}} if method == "POST" else {"params": {"q": "CPTPP"}}
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                                {"Authorization": f"Bearer {TOKEN[:-1]}"}, {"Authorization": TOKEN}):
                    r = client.request(method, path, headers={"accept": "application/json", **headers}, **kw)
                    assert r.status_code == 401, (method, path, headers, r.status_code)
                    assert r.json()["error"]["code"] == "unauthorized"
                    assert r.headers["www-authenticate"] == "Bearer"
                    assert TOKEN not in r.text
                r = client.request(method, path, headers={"Authorization": f"Bearer {TOKEN}",
                                                          "accept": "application/json"}, **kw)
                assert r.status_code in (200, 404), (method, path, r.status_code, r.text[:200])
        assert client.get("/health").status_code == 200                    # health never needs it
        assert CPTPP_SENTENCE[:40] not in client.get("/").text              # the page shell holds no data
    assert TOKEN not in caplog.text


def test_token_is_never_logged_even_on_errors(token_app, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    with TestClient(token_app, raise_server_exceptions=False) as client:
        client.get("/search", params={"q": "x", "k": 0}, headers={"Authorization": f"Bearer {TOKEN}"})
        client.get("/search", params={"q": TOKEN[:5]}, headers={"Authorization": f"Bearer {TOKEN}x"})
        client.post("/ask", content=b"{", headers={"Authorization": f"Bearer {TOKEN}",
                                                   "content-type": "application/json"})
    out, err = capfd.readouterr()
    assert TOKEN not in caplog.text and TOKEN not in out and TOKEN not in err
    assert TOKEN not in repr(token_app.state.edsearch.settings)


def test_token_is_compared_in_constant_time():
    from api import auth, web

    assert "secrets.compare_digest" in inspect.getsource(auth.bearer_ok)    # the one rule for API, page and MCP
    assert "bearer_ok" in inspect.getsource(create_app) and "bearer_ok" in inspect.getsource(web.authorized)
    for source in (inspect.getsource(create_app), inspect.getsource(server), inspect.getsource(web)):
        assert "== settings.api_token" not in source and "api_token ==" not in source
    assert auth.bearer_ok("Bearer s3cret", "s3cret") and auth.bearer_ok("bearer  s3cret ", "s3cret")
    assert not auth.bearer_ok("Bearer s3cre", "s3cret") and not auth.bearer_ok("", "s3cret")
    assert not auth.bearer_ok("Basic s3cret", "s3cret") and auth.bearer_ok("", "")


def test_cors_is_off_by_default_and_on_when_configured(seeds_index, settings):
    origin = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    with TestClient(create_app(seeds_index, settings)) as client:
        r = client.get("/search", params={"q": "CPTPP"}, headers=origin)
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        pre = client.options("/search", headers=origin)
        assert "access-control-allow-origin" not in pre.headers
    configured = dataclasses.replace(settings, cors_origins="https://news.example, https://desk.example")
    with TestClient(create_app(seeds_index, configured)) as client:
        ok = {"Origin": "https://desk.example", "Access-Control-Request-Method": "GET"}
        r = client.get("/search", params={"q": "CPTPP"}, headers=ok)
        assert r.headers["access-control-allow-origin"] == "https://desk.example"
        assert client.options("/search", headers=ok).status_code == 200
        r = client.get("/search", params={"q": "CPTPP"}, headers=origin)
        assert "access-control-allow-origin" not in r.headers              # other origins still refused
        big = client.post("/search", content=b"{}", headers={**ok, "content-length": str(10 ** 9)})
        assert big.status_code == 413 and big.headers["access-control-allow-origin"] == "https://desk.example"


def test_cors_from_the_environment(monkeypatch):
    from indexer.config import Settings

    monkeypatch.delenv("EDSEARCH_CORS_ORIGINS", raising=False)
    assert Settings.from_env().cors_origins == ""
    monkeypatch.setenv("EDSEARCH_CORS_ORIGINS", "https://news.example")
    assert Settings.from_env().cors_origins == "https://news.example"
    monkeypatch.setenv("EDSEARCH_CORS_ORIGINS", "https://news.example https://desk.example:8443, *")
    assert Settings.from_env().cors_list == ["https://news.example", "https://desk.example:8443", "*"]
    monkeypatch.setenv("EDSEARCH_API_TOKEN", "s3cret\n")         # as a mounted secret ends
    assert Settings.from_env().api_token == "s3cret"


def test_limits_have_safe_defaults():
    from indexer.config import Settings

    s = Settings()
    assert s.max_body_bytes <= 1024 * 1024 and s.max_query_chars <= 10_000 and s.api_token == ""


def test_server_binds_to_loopback_unless_told_otherwise(monkeypatch, tmp_path):
    import uvicorn

    from api import cli
    from indexer.config import Settings

    monkeypatch.delenv("EDSEARCH_HOST", raising=False)
    assert Settings().host == "127.0.0.1" and Settings.from_env().host == "127.0.0.1"
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    assert cli.main(["serve", "--index", str(tmp_path)]) == 0
    assert calls[-1]["host"] == "127.0.0.1"
    assert calls[-1].get("access_log") is False          # request lines (and their query strings) not logged
    assert cli.main(["serve", "--index", str(tmp_path), "--host", "0.0.0.0"]) == 0
    assert calls[-1]["host"] == "0.0.0.0"
    monkeypatch.setenv("EDSEARCH_HOST", "::1")
    assert cli.main(["serve", "--index", str(tmp_path)]) == 0
    assert calls[-1]["host"] == "::1"
