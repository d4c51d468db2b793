"""A small made-up newsroom corpus (authors, sections, dates, a duplicate pair) indexed once per session."""
from __future__ import annotations

from pathlib import Path

import pytest

HARBOUR = "\n\n".join([
    "The city council voted on Tuesday to fund the dredging of the old harbour, ending a decade of delay.",
    "Harbour dredging will deepen the main channel so that container ships can dock at the eastern wharf.",
    "Opponents of the harbour plan said the dredging would stir up toxic silt left by the shipyards.",
    "The mayor said the harbour works would create two hundred jobs and revive the waterfront district.",
    "Fishermen asked the council to pause the dredging during the spawning season each spring.",
    "Engineers estimate the harbour dredging will remove four hundred thousand cubic metres of mud.",
    "The port authority will pay a third of the harbour costs, with the state covering the rest.",
    "Residents near the harbour worry about noise from dredging barges operating through the night.",
    "A review of the harbour dredging contract found the tender process had been properly run.",
    "The first dredging barge is expected to arrive in the harbour before the end of the year.",
])


def _md(meta: dict, body: str) -> str:
    head = "\n".join(f"{k}: {v}" for k, v in meta.items())
    return f"---\n{head}\n---\n{body}\n"


def make_news(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "council-harbour": ({"title": "Council backs harbour dredging", "author": "Ana Ruiz", "section": "Local",
                             "published": "2024-01-10", "url": "https://news.example/harbour",
                             "tags": "[harbour, council]"}, HARBOUR),
        "council-harbour-copy": ({"title": "Council backs harbour dredging", "author": "Ana Ruiz",
                                  "section": "Wire", "published": "2024-01-10"}, HARBOUR),
        "rates-rise": ({"title": "Central bank lifts interest rates", "author": "Ben Cho", "section": "Economy",
                        "published": "2024-06-01"},
                       "The central bank lifted interest rates by a quarter point to fight inflation.\n\n"
                       "Mortgage holders face higher repayments as interest rates reach a twelve-year high."),
        "rates-old": ({"title": "Interest rates held steady", "author": "Ben Cho", "section": "Economy",
                       "published": "2019-02-01"},
                      "The central bank held interest rates steady, citing weak inflation.\n\n"
                      "Economists expect interest rates to stay low for the rest of the year."),
        "football-final": ({"title": "Rovers win the cup final", "author": "Cal Ng", "section": "Sport",
                            "published": "2024-05-20"},
                           "Rovers beat United two goals to one in the cup final at the national stadium.\n\n"
                           "The winning goal came in the final minute from a corner kick."),
        "school-funding": ({"title": "Schools get more funding", "author": "Ana Ruiz", "section": "Education",
                            "published": "2023-09-09"},
                           "State schools will receive more funding for teachers and libraries next year.\n\n"
                           "Principals welcomed the funding but said class sizes remain too large."),
    }
    for i in range(8):
        files[f"economy-{i}"] = (
            {"title": f"Economy brief {i}", "author": f"Writer {i}", "section": "Economy",
             "published": f"2024-0{1 + i}-15"},
            f"Brief {i}: banks and households weigh the effect of interest rates on borrowing costs and savings.")
    for name, (meta, body) in files.items():
        (folder / f"{name}.md").write_text(_md(meta, body))
    return folder


def _build_once(tmp_path_factory, settings, name: str, write, articles: int) -> Path:
    """An index of the corpus `write(folder)` makes, built once per session; `articles` is how many it holds."""
    from indexer import build_index

    root = tmp_path_factory.mktemp(name)
    summary = build_index([write(root / "src")], root / "index", settings=settings, progress=False)
    assert summary.indexed == articles, summary.warnings
    return root / "index"


@pytest.fixture(scope="session")
def news_index(tmp_path_factory, settings, embedder) -> Path:
    return _build_once(tmp_path_factory, settings, "news", make_news, 14)


@pytest.fixture(scope="session")
def news(news_index, settings):
    from api import Retriever

    return Retriever(news_index, settings)


@pytest.fixture(scope="session")
def dated_index(tmp_path_factory, embedder, settings) -> Path:
    """Seven dated editorials (tests/api/dated_archive.py): CPTPP in 2024, 2025, 2026 (two), other topics, and a
    corrected copy of one."""
    from .dated_archive import write_archive

    return _build_once(tmp_path_factory, settings, "dated", write_archive, 7)


@pytest.fixture(scope="session")
def dated(dated_index, settings):
    from api import Retriever

    return Retriever(dated_index, settings)


@pytest.fixture(scope="session")
def dated_server(dated_index, settings):
    """The dated archive served by a real uvicorn on 127.0.0.1 (no token)."""
    from api.server import create_app

    from ..conftest import LiveServer

    with LiveServer(create_app(dated_index, settings)) as server:
        yield server
