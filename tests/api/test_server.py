"""The HTTP service on a real uvicorn server: search, articles, validation, auth, hot index swaps."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time

import httpx
import pytest

from ..conftest import CPTPP_QUESTION, CPTPP_SENTENCE, ROOT, LiveServer


def test_get_search_returns_cptpp_passage_first(live_server):
    r = httpx.get(f"{live_server.url}/search", params={"q": CPTPP_QUESTION, "k": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["query"] == CPTPP_QUESTION and body["mode"] == "hybrid" and body["took_ms"] >= 0
    top = body["hits"][0]
    assert CPTPP_SENTENCE in top["text"]
    assert set(top) >= {"rank", "score", "text", "article", "citation", "highlights", "ranks"}
    assert set(top["article"]) >= {"id", "title", "author", "published", "url", "section"}
    assert set(top["citation"]) >= {"label", "paragraphs", "char_start", "char_end", "link"}
    assert 14 in top["citation"]["paragraphs"]
    article = httpx.get(f"{live_server.url}/articles/{top['article']['id']}").json()
    assert article["text"][top["citation"]["char_start"]:top["citation"]["char_end"]] == top["text"]
    assert article["paragraphs"][13]["text"].startswith("Japan and Australia have the opportunity")


def test_post_search_matches_get(live_server):
    get = httpx.get(f"{live_server.url}/search", params={"q": CPTPP_QUESTION, "k": 2, "mode": "dense"}).json()
    post = httpx.post(f"{live_server.url}/search", json={"q": CPTPP_QUESTION, "k": 2, "mode": "dense"}).json()
    assert [h["text"] for h in get["hits"]] == [h["text"] for h in post["hits"]]


def test_cli_json_is_what_the_api_returns(live_server, seeds_index):
    out = subprocess.run([sys.executable, "-m", "api.cli", "search", CPTPP_QUESTION, "--index", str(seeds_index),
                          "--json", "--k", "3"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    api = httpx.get(f"{live_server.url}/search", params={"q": CPTPP_QUESTION, "k": 3}).json()
    assert set(cli) == set(api)
    assert [h["citation"] for h in cli["hits"]] == [h["citation"] for h in api["hits"]]


@pytest.mark.parametrize("method,params,status,fragment", [
    ("get", {"q": "   "}, 400, "query is empty"),
    ("get", {"q": "x" * 1001}, 400, "limit is 1000"),
    ("get", {"q": "x", "k": 0}, 422, "k: Input should be greater than or equal to 1"),
    ("get", {"q": "x", "k": 1000000}, 422, "k: Input should be less than or equal to 100"),
    ("get", {"q": "x", "k": "ten"}, 422, "k: "),
    ("get", {"q": "x", "from": "2024-02-30"}, 400, "from 2024-02-30 is not a date of the calendar"),
    ("get", {"q": "x", "from": "30/02/2024"}, 400, "from must be a date as YYYY-MM-DD"),
    ("get", {"q": "x", "from": "2024-03-01", "to": "2024-02-01"}, 400, "is after to (2024-02-01)"),
    ("get", {"q": "x", "mode": "fuzzy"}, 422, "mode: Input should be 'hybrid', 'dense' or 'keyword'"),
    ("get", {"q": "x", "nonsense": 1}, 422, "nonsense"),
    ("get", {}, 422, "q: Field required"),
    ("post", {"q": "x", "mode": "fuzzy"}, 422, "mode: Input should be 'hybrid', 'dense' or 'keyword'"),
    ("post", {"q": "x", "nonsense": 1}, 422, "nonsense"),
    ("post", {"k": 3}, 422, "q: Field required"),
])
def test_validation_errors_are_clear_4xx(live_server, method, params, status, fragment):
    if method == "get":
        r = httpx.get(f"{live_server.url}/search", params=params)
    else:
        r = httpx.post(f"{live_server.url}/search", json=params)
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]["message"]


def test_malformed_and_oversized_bodies(live_server):
    send_json = 'send a JSON object such as {"q": "CPTPP"} with Content-Type: application/json'
    for body, content_type, status, message in (
            (b"{not json", "application/json", 422, "the body is not valid JSON (Expecting property name"),
            (b'{"q": "x"} and more', "application/json", 422, "the body is not valid JSON (Extra data at character 11)"),
            (b"", "application/json", 422, "the body is empty"),
            (b"q=CPTPP", "application/x-www-form-urlencoded", 422, "the body is not a JSON object"),
            (b'["CPTPP"]', "application/json", 422, "the body is not a JSON object"),
            (b'{"q": "\xff"}', "application/json", 400, "the body could not be read (is it UTF-8 JSON?)")):
        r = httpx.post(f"{live_server.url}/ask", content=body, headers={"content-type": content_type})
        error = r.json()["error"]["message"]
        assert r.status_code == status and error.startswith(message) and error.endswith(send_json), (body, error)
    r = httpx.post(f"{live_server.url}/search", content=b"x" * 200_000, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert httpx.get(f"{live_server.url}/articles/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert httpx.get(f"{live_server.url}/nope").status_code == 404


def test_health_and_openapi(live_server):
    assert httpx.head(f"{live_server.url}/health").status_code == 200       # monitors probe with HEAD
    health = httpx.get(f"{live_server.url}/health").json()
    assert health["status"] == "ok" and health["counts"]["articles"] == 1
    assert health["model"]["name"] == "all-MiniLM-L6-v2" and health["index_version"] >= 1
    schema = httpx.get(f"{live_server.url}/openapi.json").json()
    assert "/search" in schema["paths"] and "Citation" in schema["components"]["schemas"]
    search = schema["paths"]["/search"]["get"]                    # errors and auth as the server gives them
    assert search["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    assert search["security"] == [{"HTTPBearer": []}] and "security" not in schema["paths"]["/health"]["get"]
    assert schema["paths"]["/articles/{article_id}"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "401" not in schema["paths"]["/health"]["get"]["responses"]       # /health needs no token
    assert httpx.get(f"{live_server.url}/docs").status_code == 200


def test_bearer_token_required_except_health(seeds_index, settings):
    from api.server import create_app

    secured = dataclasses.replace(settings, api_token="s3cret-token")
    with LiveServer(create_app(seeds_index, secured)) as server:
        assert httpx.get(f"{server.url}/health").status_code == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
            r = httpx.get(f"{server.url}/search", params={"q": "CPTPP"}, headers=headers)
            assert r.status_code == 401 and "bearer token" in r.json()["error"]["message"]
        assert httpx.get(f"{server.url}/articles/eaf-editorial-canberra-tokyo").status_code == 401
        ok = httpx.get(f"{server.url}/search", params={"q": "CPTPP"},
                       headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200


@pytest.mark.slow
def test_index_swapped_under_running_server_without_failed_queries(index_copy, settings, tmp_path):
    from api.server import create_app
    from indexer import build_index

    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "peru.md").write_text("Andean trade pact\n\nPeru and Chile signed an Andean trade pact "
                                              "on copper exports, the ministers said in Lima.\n")
    failures, done = [], threading.Event()

    with LiveServer(create_app(index_copy, settings)) as server:
        def load():
            with httpx.Client(base_url=server.url, timeout=30) as client:
                while not done.is_set():
                    r = client.get("/search", params={"q": "copper exports trade pact", "k": 3})
                    if r.status_code != 200:
                        failures.append(r.status_code)
        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        v1 = httpx.get(f"{server.url}/health").json()["index_version"]
        summary = build_index([tmp_path / "new"], index_copy, settings=settings, progress=False)
        assert summary.indexed == 1
        deadline = time.time() + 20
        while httpx.get(f"{server.url}/health").json()["index_version"] == v1 and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        done.set()
        for t in threads:
            t.join()
        assert failures == []
        assert httpx.get(f"{server.url}/health").json()["index_version"] == v1 + 1
        top = httpx.get(f"{server.url}/search", params={"q": "copper exports trade pact"}).json()["hits"][0]
        assert top["article"]["id"] == "peru"


def test_overload_is_shed_with_503_and_retry_after(seeds_index, settings):
    from concurrent.futures import ThreadPoolExecutor

    from api.server import create_app

    tight = dataclasses.replace(settings, max_pending=2, worker_threads=1)
    with LiveServer(create_app(seeds_index, tight)) as server:
        def ask(_):
            return httpx.get(f"{server.url}/ask", params={"q": CPTPP_QUESTION}, timeout=60)

        with ThreadPoolExecutor(12) as pool:
            replies = list(pool.map(ask, range(24)))
        codes = {r.status_code for r in replies}
        assert codes <= {200, 503} and 200 in codes and 503 in codes
        busy = next(r for r in replies if r.status_code == 503)
        assert busy.headers["retry-after"] == "1" and busy.json()["error"]["code"] == "overloaded"
        assert httpx.get(f"{server.url}/health").status_code == 200       # never shed
        assert httpx.get(f"{server.url}/ask", params={"q": CPTPP_QUESTION}).status_code == 200  # recovers


def test_worker_threads_bound_how_many_requests_run_at_once(seeds_index, settings):
    from concurrent.futures import ThreadPoolExecutor

    from api.server import create_app

    def workers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "AnyIO worker thread"}

    before = workers()
    with LiveServer(create_app(seeds_index, dataclasses.replace(settings, worker_threads=2))) as server:
        with ThreadPoolExecutor(12) as pool:
            codes = list(pool.map(lambda _: httpx.get(f"{server.url}/ask", params={"q": CPTPP_QUESTION},
                                                      timeout=60).status_code, range(24)))
        started = workers() - before
    assert codes == [200] * 24                  # the rest waited, none failed
    assert 1 <= len(started) <= 2               # anyio would otherwise start up to 40 threads
