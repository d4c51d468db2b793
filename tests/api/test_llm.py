"""Generative mode against a tiny OpenAI-compatible server started on loopback by the test."""
from __future__ import annotations

import dataclasses
import json
import time

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from api.llm import CitationFilter, LLMClient, chat_url, clean_citations
from tests.conftest import CPTPP_QUESTION, LiveServer, free_port

COMPLETION = "The board urged Japan and Australia to use their CPTPP influence [1], as the editorial argues [9]."
PIECES = ["The board urged Japan ", "and Australia to use their CPTPP influence [", "1], as the editorial ",
          "argues [", "9]."]


def fake_llm_app(calls: list):
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        calls.append(body)
        if body.get("stream"):
            def events():
                for i, p in enumerate(PIECES):
                    end = "length" if body["model"] == "too-long" and i == len(PIECES) - 1 else None
                    chunk = {"id": "x", "object": "chat.completion.chunk", "model": body["model"],
                             "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": end}]}
                    yield f"data: {json.dumps(chunk)}\n\n"
                if body["model"] != "cut-off":       # a server that drops the connection mid-answer
                    yield "data: [DONE]\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")
        return {"id": "x", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": COMPLETION},
                             "finish_reason": "stop"}]}

    return app


@pytest.fixture(scope="module")
def fake_llm():
    calls: list = []
    with LiveServer(fake_llm_app(calls)) as server:
        server.calls = calls
        yield server


@pytest.fixture(scope="module")
def gen_server(seeds_index, settings, fake_llm):
    from api.server import create_app

    s = dataclasses.replace(settings, llm_url=fake_llm.url + "/v1", llm_model="tiny-test")
    with LiveServer(create_app(seeds_index, s)) as server:
        yield server


def test_chat_url_with_or_without_v1():
    assert chat_url("http://h:1") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/") == "http://h:1/v1/chat/completions"
    assert chat_url("http://h:1/v1/chat/completions") == "http://h:1/v1/chat/completions"


def test_clean_citations_removes_and_reports_unknown_sources():
    text, kept, removed = clean_citations(COMPLETION, 2)
    assert "[1]" in text and "[9]" not in text and "argues." in text
    assert kept == [1] and removed == [9]


def test_citation_filter_handles_markers_split_across_pieces():
    f = CitationFilter(2)
    out = "".join(f.feed(p) for p in PIECES) + f.flush()
    assert out == COMPLETION.replace("[9]", "")
    assert f.removed == [9]
    g = CitationFilter(3)
    assert g.feed("see [a] and [") + g.feed("2") + g.feed("] [") + g.flush() == "see [a] and [2] ["


def test_client_without_v1_in_url(fake_llm):
    out = LLMClient(fake_llm.url, "m").complete([{"role": "user", "content": "hi"}])
    assert out == COMPLETION
    assert "".join(LLMClient(fake_llm.url + "/v1", "m").stream([{"role": "user", "content": "hi"}])) == COMPLETION


def test_generative_answer_over_http(gen_server, fake_llm):
    n = len(fake_llm.calls)
    r = httpx.post(f"{gen_server.url}/ask", json={"q": CPTPP_QUESTION}, timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["found"] is True and body["mode"] == "generative"
    assert "[1]" in body["answer"] and "[9]" not in body["answer"]
    assert body["removed_citations"] == [9] and "[9]" in body["message"]
    assert body["sources"] and body["sentences"]          # evidence sentences with exact spans are still given
    call = fake_llm.calls[n]
    assert call["model"] == "tiny-test" and call["stream"] is False
    prompt = call["messages"][-1]["content"]
    assert CPTPP_QUESTION in prompt and "[1]" in prompt and body["sources"][0]["text"].strip() in prompt


def test_extractive_still_available_when_llm_is_set(gen_server):
    r = httpx.get(f"{gen_server.url}/ask", params={"q": CPTPP_QUESTION, "generate": "false"}, timeout=30)
    assert r.status_code == 200 and r.json()["mode"] == "extractive"


def _stream_events(url: str) -> list[tuple[str, dict]]:
    """(event name, data) of /ask/stream for the CPTPP question."""
    events, name = [], None
    with httpx.stream("GET", f"{url}/ask/stream", params={"q": CPTPP_QUESTION}, timeout=30) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line[5:])))
    return events


def test_generative_stream(gen_server, fake_llm):
    events = _stream_events(gen_server.url)
    names = [e for e, _ in events]
    assert names[0] == "sources" and names[-2:] == ["answer", "done"] and names.count("delta") >= 2
    streamed = "".join(d["text"] for e, d in events if e == "delta")
    assert "[1]" in streamed and "[9]" not in streamed
    final = events[-2][1]
    assert final["mode"] == "generative" and final["removed_citations"] == [9]
    assert final["answer"].replace(" ", "") == streamed.replace(" ", "")
    assert fake_llm.calls[-1]["stream"] is True


@pytest.mark.parametrize("model, message", [("cut-off", "ended its stream before it finished the answer"),
                                            ("too-long", "stopped at its token limit")])
def test_a_stream_cut_off_is_an_error_not_an_answer(seeds_index, settings, fake_llm, model, message):
    from api.server import create_app

    s = dataclasses.replace(settings, llm_url=fake_llm.url + "/v1", llm_model=model)
    with LiveServer(create_app(seeds_index, s)) as server:
        events = _stream_events(server.url)
    names = [e for e, _ in events]
    assert names[0] == "sources" and names[-1] == "error" and "answer" not in names
    assert message in events[-1][1]["message"]


def test_declined_question_does_not_call_the_model(gen_server, fake_llm):
    n = len(fake_llm.calls)
    r = httpx.get(f"{gen_server.url}/ask", params={"q": "what is the capital of Peru?"}, timeout=30)
    assert r.status_code == 200 and r.json()["found"] is False
    assert len(fake_llm.calls) == n


def test_unreachable_llm_is_502(seeds_index, settings):
    from api.server import create_app

    s = dataclasses.replace(settings, llm_url=f"http://127.0.0.1:{free_port()}", llm_timeout=5.0)
    with LiveServer(create_app(seeds_index, s)) as server:
        for path in ("/ask", "/ask/stream"):
            t0 = time.time()
            r = httpx.get(f"{server.url}{path}", params={"q": CPTPP_QUESTION}, timeout=30)
            assert r.status_code == 502, r.text
            err = r.json()["error"]
            assert err["code"] == "llm_unavailable" and "cannot reach the language model" in err["message"]
            assert time.time() - t0 < 10


def test_no_llm_url_means_no_contact(retriever, fake_llm):
    assert not retriever.settings.llm_url
    n = len(fake_llm.calls)
    assert retriever.ask(CPTPP_QUESTION).mode == "extractive"
    assert len(fake_llm.calls) == n
