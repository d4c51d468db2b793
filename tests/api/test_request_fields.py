"""One definition of the request fields (api/request_models.py): the GET and POST routes, the CLI and the MCP tools
take exactly the model's fields, and reject a bad value the same way."""
from __future__ import annotations

import argparse

import anyio
import httpx
import pytest

from api import cli
from api.request_models import AskRequest, SearchRequest, TimelineRequest

# (model, GET routes, POST route, CLI command, MCP tool, fields the MCP tool fixes)
SURFACES = [(SearchRequest, ["/search"], "/search", "search", "search", set()),
            (AskRequest, ["/ask", "/ask/stream"], "/ask", "ask", "ask", {"generate"}),
            (TimelineRequest, ["/timeline"], None, "timeline", None, set())]


def _http_names(model) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def _cli_fields(command: str) -> set[str]:
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest for a in sub.choices[command]._actions} - {"help", "index", "json"}


@pytest.fixture(scope="module")
def openapi(live_server) -> dict:
    return httpx.get(f"{live_server.url}/openapi.json").json()


@pytest.mark.parametrize("model, gets, post, command, tool, fixed", SURFACES)
def test_get_post_and_cli_take_exactly_the_models_fields(openapi, model, gets, post, command, tool, fixed):
    assert {"q", "author", "from", "to", "article_id", "dates_from_query"} <= _http_names(model)
    for path in gets:
        assert {p["name"] for p in openapi["paths"][path]["get"]["parameters"]} == _http_names(model), path
    if post:
        ref = openapi["paths"][post]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert set(openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]) == _http_names(model)
    assert _cli_fields(command) == set(model.model_fields)


def test_the_bounds_are_the_models(openapi):
    params = {p["name"]: p["schema"] for p in openapi["paths"]["/search"]["get"]["parameters"]}
    assert (params["k"]["minimum"], params["k"]["maximum"], params["k"]["default"]) == (1, 100, 10)
    assert params["mode"]["enum"] == ["hybrid", "dense", "keyword"]
    body = openapi["components"]["schemas"]["SearchRequest"]["properties"]
    assert body["mode"]["enum"] == params["mode"]["enum"] and body["k"]["maximum"] == 100


def test_mcp_tools_take_the_models_fields(seeds_index, settings):
    from mcp import Client

    from api.mcp_server import create_mcp

    async def schemas():
        async with Client(create_mcp(seeds_index, settings)) as client:
            return {t.name: t.input_schema for t in (await client.list_tools()).tools}

    got = anyio.run(schemas)
    for model, *_, tool, fixed in SURFACES:
        if tool:
            assert set(got[tool]["properties"]) == set(model.model_fields) - fixed, tool
            assert got[tool]["required"] == ["q"]
    assert got["search"]["properties"]["mode"]["enum"] == ["hybrid", "dense", "keyword"]


@pytest.mark.parametrize("path, fields, message", [
    ("/search", {"q": "CPTPP", "mode": "fuzzy"}, "mode: Input should be 'hybrid', 'dense' or 'keyword'"),
    ("/search", {"q": "CPTPP", "k": 0}, "k: Input should be greater than or equal to 1"),
    ("/search", {"q": "CPTPP", "per_article": -1}, "per_article: Input should be greater than or equal to 0"),
    ("/search", {"q": "CPTPP", "sort": "oldest"}, "sort: Input should be 'relevance' or 'date'"),
    ("/ask", {"q": "why?", "k": 101}, "k: Input should be less than or equal to 100"),
    ("/search", {"q": "CPTPP", "evil": "1"}, "evil: Extra inputs are not permitted"),
])
def test_a_bad_value_is_rejected_the_same_way_on_get_and_post(live_server, path, fields, message):
    got = httpx.get(live_server.url + path, params=fields)
    posted = httpx.post(live_server.url + path, json=fields)
    assert got.status_code == posted.status_code == 422
    assert got.json() == posted.json() == {"error": {"code": "invalid_request", "message": message}}


def test_the_cli_rejects_a_bad_value_with_the_same_message(seeds_index, capsys):
    assert cli.main(["search", "CPTPP", "--k", "0", "--index", str(seeds_index)]) == 2
    assert "edsearch: error: k: Input should be greater than or equal to 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["search", "CPTPP", "--mode", "fuzzy", "--index", str(seeds_index)])
    assert exit_.value.code == 2 and "'fuzzy' (choose from 'hybrid', 'dense', 'keyword')" in capsys.readouterr().err


def test_cli_options_reach_the_request(seeds_index, capsys):
    """Options the model defines reach the library: filters, per-article 0 (no limit), --no-dates-from-query."""
    import json

    argv = ["search", "CPTPP in 2020", "--index", str(seeds_index), "--json", "--per-article", "0", "--k", "3",
            "--no-dates-from-query", "--section", "Nowhere", "--article-id", "a", "--article-id", "b"]
    assert cli.main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hits"] == [] and out["retrieval_query"] == "CPTPP in 2020"
    assert [(f["name"], f["value"], f["origin"]) for f in out["applied_filters"]] == [
        ("section", "Nowhere", "request"), ("article_id", "a", "request"), ("article_id", "b", "request")]
