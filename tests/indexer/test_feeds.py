"""RSS and Atom feeds: entries with their metadata, summary-only entries warned about, entities refused."""
from __future__ import annotations

import pytest

from indexer import build_index
from indexer.sources import LoadWarning, iter_articles
from indexer.reader import published_version
from indexer.xmlfiles import UnsafeXML

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>East Asia Forum</title><link>https://www.eastasiaforum.org</link><description>Weekly</description>
  <item>
    <title>Canberra and Tokyo can do better</title>
    <link>https://www.eastasiaforum.org/2025/08/08/canberra-and-tokyo/</link>
    <dc:creator><![CDATA[EAF Editorial Board]]></dc:creator>
    <pubDate>Fri, 08 Aug 2025 09:30:00 +0000</pubDate>
    <category><![CDATA[Trade]]></category><category><![CDATA[CPTPP]]></category>
    <guid isPermaLink="false">https://www.eastasiaforum.org/?p=101</guid>
    <description><![CDATA[A short summary that is not the article.]]></description>
    <content:encoded><![CDATA[<p>Japan and Australia have the opportunity to use their influence over the CPTPP
      accession process.</p><figure><img src="x.jpg"/><figcaption>Leaders. Photo: Reuters</figcaption></figure>
      <p>The trade ministers agreed on a timeline for the review.</p>]]></content:encoded>
  </item>
  <item>
    <title>Rice tariffs stay</title>
    <link>https://www.eastasiaforum.org/2025/08/09/rice/</link>
    <author>desk@example.org (Jun Tanaka)</author>
    <pubDate>Sat, 09 Aug 2025 01:00:00 GMT</pubDate>
    <guid>https://www.eastasiaforum.org/?p=102</guid>
    <description><![CDATA[<p>Only a summary of an article about rice tariffs and beef quotas.</p>]]></description>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Example Economics</title><id>urn:example:feed</id><updated>2025-08-09T01:00:00Z</updated>
  <entry>
    <title>Rates on hold</title>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <link rel="alternate" href="https://example.org/2025/rates-on-hold"/>
    <published>2025-08-08T23:30:00+10:00</published><updated>2025-08-09T01:00:00Z</updated>
    <author><name>Mei Lin</name></author><author><name>Sam Reed</name></author>
    <category term="Economy"/><category term="rates" label="Interest rates"/>
    <content type="html">&lt;p&gt;The central bank held rates steady and signalled patience on
      inflation.&lt;/p&gt;&lt;p&gt;Markets shrugged at the news.&lt;/p&gt;</content>
  </entry>
</feed>
"""


def _split(items):
    return ([i for i in items if not isinstance(i, LoadWarning)], [i for i in items if isinstance(i, LoadWarning)])


def test_rss_entries_with_metadata_and_a_summary_only_warning(tmp_path):
    path = tmp_path / "feeds" / "eaf.rss"
    path.parent.mkdir()
    path.write_text(RSS)
    arts, warns = _split(list(iter_articles([path.parent])))
    full, summary = arts
    assert (full.id, full.title, full.author, full.published, full.url, full.section, full.tags,
            full.publication) == (
        "https://www.eastasiaforum.org/?p=101", "Canberra and Tokyo can do better", "EAF Editorial Board",
        "2025-08-08", "https://www.eastasiaforum.org/2025/08/08/canberra-and-tokyo/", "Trade", ["Trade", "CPTPP"],
        "East Asia Forum")
    assert full.text == ("Japan and Australia have the opportunity to use their influence over the CPTPP accession "
                         "process.\n\nThe trade ministers agreed on a timeline for the review.")
    assert (summary.author, summary.published, summary.section) == ("Jun Tanaka", "2025-08-09", None)
    assert summary.text == "Only a summary of an article about rice tariffs and beef quotas."
    assert len(warns) == 1 and warns[0].kept and warns[0].record == "entry 2"
    assert f"{path} (entry 2): the entry carries only a summary" in str(warns[0])


def test_atom_entry_with_metadata(tmp_path):
    path = tmp_path / "econ.atom"
    path.write_text(ATOM)
    arts, warns = _split(list(iter_articles([path])))
    assert not warns and len(arts) == 1
    a = arts[0]
    assert (a.id, a.title, a.author, a.published, a.url, a.section, a.tags, a.publication) == (
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a", "Rates on hold", "Mei Lin, Sam Reed", "2025-08-08",
        "https://example.org/2025/rates-on-hold", "Economy", ["Economy", "rates"], "Example Economics")
    assert a.text == "The central bank held rates steady and signalled patience on inflation.\n\nMarkets shrugged at the news."


def test_feeds_build_and_a_summary_only_entry_is_indexed_not_skipped(tmp_path, settings):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "eaf.xml").write_text(RSS)
    (tmp_path / "src" / "econ.xml").write_text(ATOM)
    summary = build_index([tmp_path / "src"], tmp_path / "idx", settings=settings, progress=False)
    assert (summary.indexed, summary.skipped) == (3, 0)
    assert len(summary.warnings) == 1 and "only a summary" in summary.warnings[0]


def test_feedparser_alone_neither_fetches_nor_expands_an_external_entity(tmp_path):
    """Why the refusal in indexer/xmlfiles.py is a second wall, not the only one."""
    import feedparser

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-PASSWORD")
    hostile = RSS.replace("<rss ", f'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>\n<rss ').replace(
        "<title>Rice tariffs stay</title>", "<title>Rice &xxe; tariffs</title>")
    parsed = feedparser.parse(hostile.encode())
    assert "TOP-SECRET" not in repr(parsed)


@pytest.mark.parametrize("entity", [
    '<!ENTITY xxe SYSTEM "file:///etc/passwd">',
    '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY xxe "&b;&b;&b;&b;&b;&b;&b;&b;">',
])
def test_hostile_feed_is_refused_and_nothing_indexed(tmp_path, settings, entity):
    src = tmp_path / "src"
    src.mkdir()
    (src / "feed.rss").write_text(RSS.replace("<rss ", f"<!DOCTYPE rss [{entity}]>\n<rss ").replace(
        "<title>Rice tariffs stay</title>", "<title>Rice &xxe; tariffs</title>"))
    (src / "econ.atom").write_text(ATOM)
    with pytest.raises(UnsafeXML, match="refused: the XML declares an"):
        build_index([src], tmp_path / "idx", settings=settings, progress=False)
    assert published_version(tmp_path / "idx") is None
