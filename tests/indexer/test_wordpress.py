"""WordPress exports: exactly the published posts, their metadata, clean bodies; hostile exports refused."""
from __future__ import annotations

import subprocess
import sys

import pytest

from indexer import IndexReader, build_index
from indexer.sources import LoadWarning, iter_articles
from indexer.reader import published_version
from indexer.xmlfiles import UnsafeXML

from ..conftest import ROOT
from .wxr import export, item, sample_export, write

EDSEARCH = [sys.executable, "-m", "api.cli"]

BILLION_LAUGHS = ('<!DOCTYPE rss [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                            for i in range(1, 10)) + "]>\n")


def _split(items):
    return ([i for i in items if not isinstance(i, LoadWarning)], [i for i in items if isinstance(i, LoadWarning)])


def test_export_yields_exactly_the_published_posts_with_their_metadata(tmp_path, caplog):
    path = write(tmp_path / "eaf-export.xml", sample_export())
    with caplog.at_level("INFO", logger="edsearch"):
        arts, warns = _split(list(iter_articles([path])))
    assert not warns
    assert [a.id for a in arts] == ["www.eastasiaforum.org/?p=101", "www.eastasiaforum.org/?p=102"]
    first, second = arts
    assert (first.title, first.author, first.published, first.section, first.tags, first.publication) == (
        "Canberra and Tokyo can do better", "EAF Editorial Board", "2025-08-08", "Trade", ["CPTPP", "Australia"],
        "East Asia Forum")
    assert first.url == "https://www.eastasiaforum.org/2025/08/08/canberra-and-tokyo-can-do-better/"
    # the second author's login is mapped to the display name in the export's author list
    assert (second.author, second.published, second.section, second.tags) == (
        "Jun Tanaka", "2025-09-01", "Agriculture", ["rice", "beef"])
    # bodies: clean paragraphs, without captions, embeds, shortcodes, bare oEmbed URLs or the excerpt
    assert first.text == ("Japan and Australia have the opportunity to use their influence over the CPTPP accession "
                          "process, and the board argues they should use it well.\n\nThe trade ministers agreed "
                          "on a timeline for the review of the agreement in 2026.")
    assert second.text == ("Rice tariffs and beef quotas remain the hardest part of any agricultural deal between "
                           "the two economies.\n\nA fourth paragraph about dairy access closes the argument for a "
                           "staged opening.")
    for a in arts:
        assert not any(s in a.text for s in ("http", "[", "Photo", "excerpt", "<", "Niigata"))
    everything = " ".join(a.text for a in arts)
    assert "semiconductors" not in everything and "who we are" not in everything and "old revision" not in everything
    assert "1 attachment, 1 draft post, 1 page, 1 revision" in caplog.text


def test_wxr_is_recognised_by_content_whatever_its_name(tmp_path):
    """A .rss file holding an export is read as one; a plain feed named .xml is read as a feed."""
    arts, _ = _split(list(iter_articles([write(tmp_path / "backup.rss", sample_export())])))
    assert len(arts) == 2 and arts[0].author == "EAF Editorial Board"   # dc:creator mapped: the WXR path
    feed = ('<?xml version="1.0"?><rss version="2.0"><channel><title>Plain</title><item><title>Only item</title>'
            '<link>https://example.org/only</link><description>A plain RSS item about ports.</description>'
            '</item></channel></rss>')
    arts, warns = _split(list(iter_articles([write(tmp_path / "export.xml", feed)])))
    assert [a.title for a in arts] == ["Only item"] and warns[0].kept    # the feed path: summary-only warning
    other = write(tmp_path / "sitemap.xml", '<?xml version="1.0"?><urlset><url><loc>x</loc></url></urlset>')
    arts, warns = _split(list(iter_articles([other])))
    assert not arts and "XML root <urlset> is neither a WordPress export" in str(warns[0]) and warns[0].whole_file


def test_posts_without_text_or_with_odd_dates_are_reported_per_post(tmp_path):
    text = export([item(1, "Empty", ""),
                   item(2, "Undated", "<p>A post whose date WordPress could not write.</p>",
                        post_date="0000-00-00 00:00:00", pub_date="not a date"),
                   item(3, "Protected", "<p>Members only.</p>", password="secret"),
                   item(4, "Private", "<p>Private notes.</p>", status="private"),
                   item(5, "Scheduled", "<p>Tomorrow's post.</p>", status="future")])
    arts, warns = _split(list(iter_articles([write(tmp_path / "x.xml", text)])))
    assert [a.title for a in arts] == ["Undated"] and arts[0].published is None
    assert [(w.record, w.kept) for w in warns] == [("post 1", False), ("post 2", True)]
    assert "(post 1): the post has no content" in str(warns[0])
    assert "(post 2): published date 'not a date'" in str(warns[1])


def test_broken_export_keeps_the_posts_before_the_break(tmp_path):
    text = export([item(1, "Whole", "<p>A complete post about harbours and their dredging.</p>")])
    text = text.replace("</channel>", "<item><title>Cut off</title><wp:post_id>2</wp:post_id>")
    arts, warns = _split(list(iter_articles([write(tmp_path / "cut.xml", text)])))
    assert [a.title for a in arts] == ["Whole"]
    assert warns[0].whole_file and "not well-formed XML" in str(warns[0])


@pytest.mark.parametrize("doctype, ref, fragment", [
    (BILLION_LAUGHS, "&lol9;", "declares an entity 'lol'"),
    ('<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>\n', "&xxe;", "declares an external entity 'file://"),
    ('<!DOCTYPE rss [<!ENTITY % dtd SYSTEM "http://127.0.0.1:9/evil.dtd"> %dtd;]>\n', "",
     "external entity 'http://127.0.0.1:9/evil.dtd'"),
])
def test_hostile_export_is_refused_and_nothing_indexed(tmp_path, settings, doctype, ref, fragment):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-PASSWORD")
    hostile = export([item(1, "Hostile", "<p>A post whose description holds the entity.</p>")],
                     doctype=doctype.format(secret=secret)).replace("<description></description>",
                                                                    f"<description>{ref}</description>")
    src = tmp_path / "src"
    write(src / "export.xml", hostile)
    write(src / "good.md", "Good story\n\nA good story about the harbour.\n")
    idx = tmp_path / "idx"
    with pytest.raises(UnsafeXML, match=fragment) as err:
        build_index([src], idx, settings=settings, progress=False)
    assert "nothing was indexed" in str(err.value) and "TOP-SECRET" not in str(err.value)
    assert published_version(idx) is None
    out = subprocess.run([*EDSEARCH, "index", str(src), "--index", str(idx), "--quiet"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "edsearch: error:" in out.stderr and "refused" in out.stderr
    assert "Traceback" not in out.stderr and "TOP-SECRET" not in out.stdout + out.stderr
    assert published_version(idx) is None


def test_export_builds_an_index_whose_citations_link_to_the_live_posts(tmp_path, settings):
    from api import Retriever

    idx = tmp_path / "idx"
    summary = build_index([write(tmp_path / "export.xml", sample_export())], idx, settings=settings, progress=False)
    assert (summary.indexed, summary.skipped, summary.warnings) == (2, 0, [])
    reader = IndexReader(idx)
    assert reader.manifest["counts"]["articles"] == 2
    hit = Retriever(idx, settings).search("CPTPP accession influence", k=1).hits[0]
    assert hit.article.id == "www.eastasiaforum.org/?p=101"
    assert hit.citation.link.startswith(
        "https://www.eastasiaforum.org/2025/08/08/canberra-and-tokyo-can-do-better/#:~:text=Japan%20and%20Australia")
    assert hit.citation.label.startswith('EAF Editorial Board, "Canberra and Tokyo can do better" (2025-08-08)')


@pytest.mark.slow
def test_cli_indexes_an_export_and_says_what_it_left_out(tmp_path):
    import json

    path = write(tmp_path / "export.xml", sample_export())
    idx = tmp_path / "idx"
    out = subprocess.run([*EDSEARCH, "index", str(path), "--index", str(idx), "--quiet"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "2 indexed" in out.stdout and "0 skipped" in out.stdout
    assert "left out (not published posts): 1 attachment, 1 draft post, 1 page, 1 revision" in out.stderr
    found = subprocess.run([*EDSEARCH, "search", "dairy access staged opening", "--index", str(idx), "--json",
                            "--k", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    hit = json.loads(found.stdout)["hits"][0]
    assert hit["article"]["author"] == "Jun Tanaka" and hit["article"]["section"] == "Agriculture"
    assert hit["citation"]["link"].startswith("https://www.eastasiaforum.org/2025/08/08/farm-trade-is-the-hard-part/"
                                              "#:~:text=")
