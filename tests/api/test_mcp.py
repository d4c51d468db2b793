"""`edsearch mcp`: the MCP SDK's own client against a real server process, over stdio and streamable HTTP."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest

from tests.conftest import CPTPP_QUESTION, CPTPP_SENTENCE, free_port

pytestmark = pytest.mark.slow
EDSEARCH = str(Path(sys.executable).with_name("edsearch"))


async def _session(client):
    tools = sorted(t.name for t in (await client.list_tools()).tools)
    hit = await client.call_tool("search", {"q": CPTPP_QUESTION, "k": 3})
    ask = await client.call_tool("ask", {"q": CPTPP_QUESTION})
    bad = await client.call_tool("search", {"q": "  ", "k": 3})
    too_many = await client.call_tool("search", {"q": "CPTPP", "k": 1000})
    bad_sort = await client.call_tool("search", {"q": "CPTPP", "sort": "alphabetical"})
    first = hit.structured_content["hits"][0]
    article = await client.call_tool("get_article", {"article_id": first["article"]["id"]})
    missing = await client.call_tool("get_article", {"article_id": "no-such-article"})
    return tools, hit, ask, bad, too_many, bad_sort, article, missing


def _check(tools, hit, ask, bad, too_many, bad_sort, article, missing):
    assert tools == ["ask", "get_article", "search"]
    assert not hit.is_error
    first = hit.structured_content["hits"][0]
    assert CPTPP_SENTENCE in first["text"]
    cite = first["citation"]                           # the HTTP API's citation, whole
    assert 14 in cite["paragraphs"] and "para" in cite["label"] and cite["app_link"].endswith("#p14")
    text = article.structured_content["text"]
    assert text[cite["char_start"]:cite["char_end"]] == first["text"]
    assert ask.structured_content["found"] and "[1]" in ask.structured_content["answer"]
    assert bad.is_error and "query is empty" in bad.content[0].text          # the library's own messages
    # the request model's one-line message, as HTTP gives it, not pydantic's multi-line dump
    assert too_many.is_error and too_many.content[0].text.endswith("k: Input should be less than or equal to 100")
    assert missing.is_error and "no article with id" in missing.content[0].text
    assert bad_sort.is_error and "sort" in bad_sort.content[0].text         # the request model's bounds


def test_stdio_tools_list_and_search_with_citations(seeds_index, embedder):
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    async def run():
        params = StdioServerParameters(command=EDSEARCH, args=["mcp", "--index", str(seeds_index)],
                                       env={"EDSEARCH_CACHE_DIR": os.environ.get("EDSEARCH_CACHE_DIR",
                                                                                 "~/.cache/edsearch")})
        async with Client(params, read_timeout_seconds=120) as client:
            return await _session(client)

    _check(*anyio.run(run))


def test_streamable_http_needs_the_token(seeds_index, embedder, tmp_path):
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    port = free_port()
    env = {**os.environ, "EDSEARCH_API_TOKEN": "s3cret"}
    proc = subprocess.Popen([EDSEARCH, "mcp", "--index", str(seeds_index), "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "err.log", "w"))
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.time() + 60
        while True:
            try:
                status = httpx.post(url, json={}, timeout=2).status_code
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.time() < deadline, (tmp_path / "err.log").read_text()
                time.sleep(0.2)
        assert status == 401                                             # no token: refused before MCP

        async def run():
            import httpx2

            async with httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"}, timeout=60) as http:
                async with Client(streamable_http_client(url, http_client=http)) as client:
                    return await _session(client)

        _check(*anyio.run(run))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
