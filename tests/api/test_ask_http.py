"""HTTP (real uvicorn) and CLI: /ask, /ask/stream and `edsearch ask`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import CPTPP_QUESTION, CPTPP_SENTENCE, ROOT

PERU = "what is the capital of Peru?"


def _check_cptpp(body: dict) -> None:
    assert body["question"] == CPTPP_QUESTION
    assert body["found"] is True and body["mode"] == "extractive"
    assert CPTPP_SENTENCE in body["answer"]
    [s] = [s for s in body["sentences"] if s["text"].startswith(CPTPP_SENTENCE)]
    assert s["paragraph"] == 14
    assert f"[{s['source']}]" in body["answer"]
    src = body["sources"][s["source"] - 1]
    assert 14 in src["citation"]["paragraphs"]
    offset = s["char_start"] - src["citation"]["char_start"]
    assert src["text"][offset:offset + len(s["text"])] == s["text"]
    assert s["char_end"] - s["char_start"] == len(s["text"])


def _check_peru(body: dict) -> None:
    assert body["found"] is False and body["answer"] is None
    assert body["sources"] and body["confidence"] < 0.5
    assert "no answer was found in the archive" in body["message"].lower()


def test_get_ask(live_server):
    r = httpx.get(f"{live_server.url}/ask", params={"q": CPTPP_QUESTION}, timeout=30)
    assert r.status_code == 200, r.text
    _check_cptpp(r.json())


def test_post_ask_declines(live_server):
    r = httpx.post(f"{live_server.url}/ask", json={"q": PERU, "k": 3}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    _check_peru(body)
    assert len(body["sources"]) <= 3


@pytest.mark.parametrize("params, status, code, words", [
    ({"q": ""}, 400, "bad_request", "empty"), ({"q": "x" * 1500}, 400, "bad_request", "limit"),
    ({"q": "why?", "k": 0}, 422, "invalid_request", "k: Input should be greater than or equal to 1"),
    ({"q": "why?", "min_confidence": 2}, 422, "invalid_request",
     "min_confidence: Input should be less than or equal to 1")])
def test_bad_input_is_4xx(live_server, params, status, code, words):
    r = httpx.get(f"{live_server.url}/ask", params=params, timeout=30)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and words in r.json()["error"]["message"]


def test_post_unknown_field_is_422(live_server):
    r = httpx.post(f"{live_server.url}/ask", json={"q": PERU, "bogus": 1}, timeout=30)
    assert r.status_code == 422


def test_stream_extractive_is_one_answer_event(live_server):
    with httpx.stream("GET", f"{live_server.url}/ask/stream", params={"q": CPTPP_QUESTION}, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events, name = [], None
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line[5:])))
    assert [e for e, _ in events] == ["answer", "done"]
    _check_cptpp(events[0][1])


def test_stream_bad_input_is_400(live_server):
    r = httpx.get(f"{live_server.url}/ask/stream", params={"q": " "}, timeout=30)
    assert r.status_code == 400


def _cli(seeds_index: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("edsearch")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "api.cli"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("EDSEARCH_LLM_URL", None)
    return subprocess.run([*cmd, "ask", *args, "--index", str(seeds_index)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)


def test_cli_ask_json(seeds_index):
    out = _cli(seeds_index, CPTPP_QUESTION, "--json")
    assert out.returncode == 0, out.stderr
    _check_cptpp(json.loads(out.stdout))


def test_min_confidence_over_http_stream_and_cli(live_server, seeds_index):
    """The request's threshold reaches the answer on every surface: GET, POST, the stream, the CLI."""
    for r in (httpx.get(f"{live_server.url}/ask", params={"q": CPTPP_QUESTION, "min_confidence": 0.99}, timeout=30),
              httpx.post(f"{live_server.url}/ask", json={"q": CPTPP_QUESTION, "min_confidence": 0.99}, timeout=30)):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["found"] is False and body["threshold"] == 0.99 and body["sources"]
    with httpx.stream("GET", f"{live_server.url}/ask/stream", params={"q": CPTPP_QUESTION, "min_confidence": 0.99},
                      timeout=30) as r:
        data = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data:")]
    assert data[0]["found"] is False and data[0]["threshold"] == 0.99
    out = _cli(seeds_index, CPTPP_QUESTION, "--min-confidence", "0.99")
    assert out.returncode == 0 and "below the threshold 0.99" in out.stdout, out.stderr


def test_cli_ask_declines_and_rejects_empty(seeds_index):
    out = _cli(seeds_index, PERU, "--json")
    assert out.returncode == 0, out.stderr
    _check_peru(json.loads(out.stdout))
    out = _cli(seeds_index, PERU)
    assert out.returncode == 0 and "No answer was found in the archive" in out.stdout
    assert "Closest passages:" in out.stdout
    out = _cli(seeds_index, "")
    assert out.returncode == 2 and "question is empty" in out.stderr
