"""A WordPress export (WXR 1.2) written the way WordPress writes one, for the tests."""
from __future__ import annotations

from pathlib import Path

HEAD = """<?xml version="1.0" encoding="UTF-8" ?>
{doctype}<rss version="2.0"
	xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:wfw="http://wellformedweb.org/CommentAPI/"
	xmlns:dc="http://purl.org/dc/elements/1.1/"
	xmlns:wp="http://wordpress.org/export/1.2/"
>
<channel>
	<title>East Asia Forum</title>
	<link>https://www.eastasiaforum.org</link>
	<description>Economics, Politics and Public Policy in East Asia and the Pacific</description>
	<pubDate>Mon, 30 Nov 2026 06:00:00 +0000</pubDate>
	<language>en-AU</language>
	<wp:wxr_version>1.2</wp:wxr_version>
	<wp:base_site_url>https://www.eastasiaforum.org</wp:base_site_url>
	<wp:base_blog_url>https://www.eastasiaforum.org</wp:base_blog_url>
	<wp:author><wp:author_id>1</wp:author_id><wp:author_login><![CDATA[eafeditor]]></wp:author_login><wp:author_email><![CDATA[ed@example.org]]></wp:author_email><wp:author_display_name><![CDATA[EAF Editorial Board]]></wp:author_display_name><wp:author_first_name><![CDATA[]]></wp:author_first_name><wp:author_last_name><![CDATA[]]></wp:author_last_name></wp:author>
	<wp:author><wp:author_id>2</wp:author_id><wp:author_login><![CDATA[jtanaka]]></wp:author_login><wp:author_email><![CDATA[jt@example.org]]></wp:author_email><wp:author_display_name><![CDATA[Jun Tanaka]]></wp:author_display_name><wp:author_first_name><![CDATA[Jun]]></wp:author_first_name><wp:author_last_name><![CDATA[Tanaka]]></wp:author_last_name></wp:author>
	<wp:category><wp:term_id>3</wp:term_id><wp:category_nicename><![CDATA[trade]]></wp:category_nicename><wp:category_parent><![CDATA[]]></wp:category_parent><wp:cat_name><![CDATA[Trade]]></wp:cat_name></wp:category>
	<generator>https://wordpress.org/?v=6.6.2</generator>
"""

ITEM = """
	<item>
		<title><![CDATA[{title}]]></title>
		<link>{link}</link>
		<pubDate>{pub_date}</pubDate>
		<dc:creator><![CDATA[{creator}]]></dc:creator>
		<guid isPermaLink="false">https://www.eastasiaforum.org/?p={post_id}</guid>
		<description></description>
		<content:encoded><![CDATA[{content}]]></content:encoded>
		<excerpt:encoded><![CDATA[An excerpt that is not the body.]]></excerpt:encoded>
		<wp:post_id>{post_id}</wp:post_id>
		<wp:post_date><![CDATA[{post_date}]]></wp:post_date>
		<wp:post_date_gmt><![CDATA[{post_date}]]></wp:post_date_gmt>
		<wp:comment_status><![CDATA[open]]></wp:comment_status>
		<wp:post_name><![CDATA[{slug}]]></wp:post_name>
		<wp:status><![CDATA[{status}]]></wp:status>
		<wp:post_parent>{parent}</wp:post_parent>
		<wp:menu_order>0</wp:menu_order>
		<wp:post_type><![CDATA[{post_type}]]></wp:post_type>
		<wp:post_password><![CDATA[{password}]]></wp:post_password>
		<wp:is_sticky>0</wp:is_sticky>
		{terms}
		<wp:postmeta><wp:meta_key><![CDATA[_edit_last]]></wp:meta_key><wp:meta_value><![CDATA[1]]></wp:meta_value></wp:postmeta>
	</item>
"""

GUTENBERG = """<!-- wp:paragraph -->
<p>Japan and Australia have the opportunity to use their influence over the <a href="https://example.org/cptpp">CPTPP</a> accession process, and the board argues they should use it well.</p>
<!-- /wp:paragraph -->

<!-- wp:image {{"id":77}} -->
<figure class="wp-block-image size-large"><img src="https://www.eastasiaforum.org/wp-content/uploads/leaders.jpg" alt="Leaders in Tokyo" class="wp-image-77"/><figcaption class="wp-element-caption">Leaders meet in Tokyo. Photo: Reuters</figcaption></figure>
<!-- /wp:image -->

<!-- wp:embed {{"url":"https://www.youtube.com/watch?v=abc123","type":"video"}} -->
<figure class="wp-block-embed is-type-video"><div class="wp-block-embed__wrapper">
https://www.youtube.com/watch?v=abc123
</div></figure>
<!-- /wp:embed -->

<!-- wp:paragraph -->
<p>{second}</p>
<!-- /wp:paragraph -->"""

CLASSIC = """Rice tariffs and beef quotas remain the hardest part of any agricultural deal between the two economies.

[caption id="attachment_88" align="alignnone" width="640"]<img src="https://www.eastasiaforum.org/wp-content/uploads/farm.jpg" alt="" width="640" height="400" /> Farmers at work near Niigata.[/caption]

https://twitter.com/example/status/123456789

[embed]https://www.youtube.com/watch?v=xyz789[/embed]

<iframe src="https://player.vimeo.com/video/42" width="640" height="360"></iframe>

{second}"""


def item(post_id: int, title: str, content: str, *, creator: str = "eafeditor", status: str = "publish",
         post_type: str = "post", post_date: str = "2025-08-08 09:30:00",
         pub_date: str = "Fri, 08 Aug 2025 09:30:00 +0000", categories=(), tags=(), parent: int = 0,
         password: str = "") -> str:
    slug = title.lower().replace(" ", "-")
    terms = "".join(f'<category domain="category" nicename="{c.lower()}"><![CDATA[{c}]]></category>'
                    for c in categories)
    terms += "".join(f'<category domain="post_tag" nicename="{t.lower()}"><![CDATA[{t}]]></category>' for t in tags)
    link = f"https://www.eastasiaforum.org/2025/08/08/{slug}/" if status == "publish" else \
        f"https://www.eastasiaforum.org/?p={post_id}"
    return ITEM.format(title=title, link=link, pub_date=pub_date, creator=creator, post_id=post_id,
                       content=content, post_date=post_date, slug=slug, status=status, parent=parent,
                       post_type=post_type, password=password, terms=terms)


def export(items: list[str], doctype: str = "") -> str:
    return HEAD.format(doctype=doctype) + "".join(items) + "\n</channel>\n</rss>\n"


def sample_export() -> str:
    """Two published posts by two authors, plus a page, a draft, a revision and an attachment."""
    return export([
        item(101, "Canberra and Tokyo can do better", GUTENBERG.format(
            second="The trade ministers agreed on a timeline for the review of the agreement in 2026."),
            categories=["Trade", "Japan"], tags=["CPTPP", "Australia"]),
        item(102, "Farm trade is the hard part", CLASSIC.format(
            second="A fourth paragraph about dairy access closes the argument for a staged opening."),
            creator="jtanaka", post_date="2025-09-01 18:00:00", pub_date="Mon, 01 Sep 2025 08:00:00 +0000",
            categories=["Agriculture"], tags=["rice", "beef"]),
        item(103, "About us", "<p>The page that says who we are, which is not an article at all.</p>",
             post_type="page"),
        item(104, "Unfinished draft", "<p>A draft about semiconductors that must never be published.</p>",
             status="draft", post_date="0000-00-00 00:00:00"),
        item(105, "Canberra and Tokyo can do better", "<p>An old revision of the first post about CPTPP.</p>",
             status="inherit", post_type="revision", parent=101),
        item(106, "leaders.jpg", "", status="inherit", post_type="attachment", parent=101),
    ])


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
