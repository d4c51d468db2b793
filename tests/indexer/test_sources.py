"""Loading articles: formats, metadata, cleaning, and bad input that is reported and survived."""
from __future__ import annotations

import json

import pytest

from indexer.articles import clean_text
from indexer.sources import LoadWarning, iter_articles

from ..conftest import SEEDS


def _split(items):
    arts = [i for i in items if not isinstance(i, LoadWarning)]
    warns = [i for i in items if isinstance(i, LoadWarning)]
    return arts, warns


def test_seed_article_metadata_and_cleaning():
    arts, warns = _split(list(iter_articles([SEEDS])))
    assert not warns and len(arts) == 1
    a = arts[0]
    assert a.id == "eaf-editorial-canberra-tokyo"
    assert a.title == "Canberra and Tokyo can do better"
    assert a.author == "EAF Editorial Board" and a.publication == "East Asia Forum"
    assert a.published is None and a.url is None
    assert not a.text.startswith("Listen to this article")      # page furniture removed
    assert a.text.startswith("In September 2026")
    assert "Canberra and Tokyo can do better." in a.text          # the body is untouched


def test_clean_text_keeps_paragraphs_and_body_sentences():
    raw = "Share this article\r\n\r\nFirst  para\nwraps here.\n\n\n\nSecond para says: share on Twitter is a phrase.\n\nAdvertisement\n"
    assert clean_text(raw) == "First para wraps here.\n\nSecond para says: share on Twitter is a phrase."


def test_markdown_first_line_is_title_and_front_matter(tmp_path):
    (tmp_path / "a.md").write_text("# Budget cuts loom\n\nThe treasurer warned of cuts.\n")
    (tmp_path / "b.txt").write_text("---\ntitle: Rates rise\nauthor: Jo Lee\npublished: 2024-03-05\n"
                                    "url: https://example.org/rates\nsection: Economy\ntags: [rates, rba]\n---\n"
                                    "The central bank lifted rates.\n")
    arts, warns = _split(list(iter_articles([tmp_path])))
    assert not warns
    a, b = sorted(arts, key=lambda x: x.id)
    assert (a.id, a.title, a.text) == ("a", "Budget cuts loom", "The treasurer warned of cuts.")
    assert (b.title, b.author, b.published, b.url, b.section, b.tags) == (
        "Rates rise", "Jo Lee", "2024-03-05", "https://example.org/rates", "Economy", ["rates", "rba"])


def test_untitled_first_paragraph_stays_in_the_text(tmp_path):
    # a first line is a title only when it reads as one; a sentence is the story's opening, never dropped
    (tmp_path / "lede.txt").write_text("Peru formally joined the CPTPP in 2018.\n\nChile followed a year later.\n")
    (tmp_path / "one.txt").write_text("Peru joined the CPTPP.\n")
    (tmp_path / "short.md").write_text("Trade pact news\n\nPeru joined the CPTPP.\n")
    (tmp_path / "rules.md").write_text("Intro para.\n\n---\n\nsaid: \"yes\", the minister.\n\n---\n\nPart 3.\n")
    (tmp_path / "wrapped.txt").write_text("Peru formally joined the trade pact after talks that\nbegan in Lima.\n\n"
                                          "Chile followed.\n")
    long_lede = "After years of talks " + "and more talks " * 12 + "Peru joined."
    (tmp_path / "long.md").write_text(long_lede + "\n\nChile followed.\n")
    arts, warns = _split(list(iter_articles([tmp_path])))
    assert not warns
    by_id = {a.id: a for a in arts}
    assert by_id["lede"].text == "Peru formally joined the CPTPP in 2018.\n\nChile followed a year later."
    assert by_id["lede"].title == "Peru formally joined the CPTPP in 2018."
    assert (by_id["one"].title, by_id["one"].text) == ("Peru joined the CPTPP.", "Peru joined the CPTPP.")
    assert (by_id["short"].title, by_id["short"].text) == ("Trade pact news", "Peru joined the CPTPP.")
    assert by_id["rules"].text.startswith("Intro para.") and by_id["rules"].text.endswith("Part 3.")   # rules, not YAML
    assert by_id["wrapped"].text.startswith("Peru formally joined the trade pact after talks that began in Lima.")
    assert by_id["long"].text.startswith(long_lede)                # too long for a title: the opening
    assert by_id["long"].title == long_lede[:120].rsplit(" ", 1)[0] + "\u2026"     # cut at a word


def test_html_uses_article_extractor(tmp_path):
    body = "".join(f"<p>Paragraph {i} of the story about harbour dredging and the port's future plans.</p>"
                   for i in range(6))
    html = (f"<html><head><title>Port plans</title><meta name='author' content='Sam Reed'></head><body>"
            f"<nav><a href='/'>Home</a> | <a href='/news'>News</a></nav><article><h1>Port plans</h1>{body}</article>"
            f"<footer>Copyright 2024 Example News. All rights reserved.</footer></body></html>")
    (tmp_path / "port.html").write_text(html)
    arts, warns = _split(list(iter_articles([tmp_path / "port.html"])))
    assert not warns, warns
    art = arts[0]
    assert art.title == "Port plans" and art.author == "Sam Reed"
    assert "Home" not in art.text and "All rights reserved" not in art.text
    assert len(art.paragraphs) == 6


def test_json_jsonl_and_beir_records(tmp_path):
    (tmp_path / "one.json").write_text(json.dumps([{"id": "x1", "title": "T1", "body": "Body one."},
                                                   {"id": "x2", "title": "T2", "text": "Body two."}]))
    (tmp_path / "corpus.jsonl").write_text(
        json.dumps({"_id": "d1", "title": "BEIR doc", "text": "Text of doc.", "metadata": {}}) + "\n" +
        json.dumps({"_id": "d2", "title": "Sport", "text": "Goals.", "category": "sport"}) + "\n")
    arts, warns = _split(list(iter_articles([tmp_path])))
    assert not warns
    assert {a.id for a in arts} == {"x1", "x2", "d1", "d2"}
    assert next(a for a in arts if a.id == "d2").section == "sport"


def test_bad_inputs_are_skipped_with_warnings_naming_file_and_line(tmp_path):
    (tmp_path / "good.txt").write_text("Good title\n\nGood body.\n")
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02PNG")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 story\n\nna\xefve".encode("latin-1"))
    (tmp_path / "mixed.jsonl").write_text('{"id": "ok", "title": "T", "text": "Fine."}\n{not json\n'
                                          '{"id": "notext", "title": "T"}\n')
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    arts, warns = _split(list(iter_articles([tmp_path, tmp_path / "missing.md"])))
    assert {a.id for a in arts} == {"good", "ok"}
    text = "\n".join(map(str, warns))
    assert "empty.txt: empty file" in text
    assert "binary.txt: binary file" in text
    assert "latin1.txt: not valid UTF-8" in text
    assert "mixed.jsonl:2: malformed JSON line" in text
    assert "mixed.jsonl:3: record has no 'text'" in text
    assert "image.png: unsupported file type" in text
    assert "missing.md: no such file" in text


@pytest.mark.parametrize("date", ["last tuesday", "2024-02-30", "2025-13-45"])
def test_unreadable_date_keeps_the_article_and_warns_with_file_and_line(tmp_path, date):
    # 2024-02-30 is valid YAML that PyYAML's own date reading refuses: it cost the whole article as "malformed"
    (tmp_path / "d.md").write_text(f"---\ntitle: X\npublished: {date}\n---\nBody.\n")
    arts, warns = _split(list(iter_articles(tmp_path)))           # one path alone is one source
    assert [a.title for a in arts] == ["X"] and arts[0].published is None
    assert len(warns) == 1 and warns[0].kept and warns[0].line == 3
    assert str(warns[0]).startswith(f"{tmp_path / 'd.md'}:3: published date '{date}'")
    assert "indexed without a date" in str(warns[0])


def test_json_exports_html_bodies_wrappers_and_values_that_are_not_text(tmp_path):
    (tmp_path / "cms.json").write_text(json.dumps({"articles": [
        {"id": "h1", "title": "Ants", "body": "<p>First para about ants.</p><p>Second &amp; para.</p>",
         "author": ["A. Writer", "B. Writer"], "tags": [1, None, "x"]},
        {"id": "p2", "title": "Maths", "text": "Plain: 3 < 4 and 5 > 2.", "author": {"name": "X"}},
        {"_id": {"$oid": "5f1a"}, "title": "Mongo", "text": "An export's id."}]}))
    arts, warns = _split(list(iter_articles([tmp_path])))
    by_id = {a.id: a for a in arts}
    assert by_id["h1"].text == "First para about ants.\n\nSecond & para."       # the paragraphs, not the tags
    assert (by_id["h1"].author, by_id["h1"].tags) == ("A. Writer, B. Writer", ["1", "x"])
    assert (by_id["p2"].text, by_id["p2"].author) == ("Plain: 3 < 4 and 5 > 2.", None)
    assert by_id["5f1a"].title == "Mongo"                                         # {"$oid": ...} is its id
    assert [str(w) for w in warns] == [f"{tmp_path / 'cms.json'} (record 2): author is not text (dict); left out"]


def test_dates_as_archives_write_them(tmp_path):
    dates = ["2025/08/08", "8 August 2025", "Fri, 08 Aug 2025 09:30:00 +0000", "2025-08-08T23:30:00+10:00",
             "August 8, 2025", "2025-08-08"]
    (tmp_path / "dated.jsonl").write_text("".join(
        json.dumps({"id": f"d{i}", "title": f"T{i}", "text": f"Body {i}.", "published": d}) + "\n"
        for i, d in enumerate(dates)) + json.dumps({"id": "soon", "title": "S", "text": "Soon.",
                                                     "published": "sometime soon"}) + "\n" +
        json.dumps({"id": "month", "title": "M", "text": "Month.", "published": "August 2025"}) + "\n")
    arts, warns = _split(list(iter_articles([tmp_path])))
    by_id = {a.id: a for a in arts}
    assert len(arts) == len(dates) + 2
    assert {by_id[f"d{i}"].published for i in range(len(dates))} == {"2025-08-08"}
    assert by_id["soon"].published is None and by_id["month"].published is None
    assert [(w.line, w.kept) for w in warns] == [(len(dates) + 1, True), (len(dates) + 2, True)]
    assert f"dated.jsonl:{len(dates) + 1}: published date 'sometime soon' is not a date" in str(warns[0])
    assert "names no full day" in str(warns[1])
