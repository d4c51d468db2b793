"""WordPress exports (WXR): the published posts of an export, streamed, with their metadata mapped to Article.

The export is read element by element (indexer/xmlfiles.py: entity declarations refused) and each <item> is
dropped once read, so a multi-GB export takes the memory of one post (bench/wxr_memory.py)."""
from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from .articles import Article
from .records import LoadWarning, SkipRecord, html_fragment_text, make_article
from .xmlfiles import WP_NAMESPACE, safe_iterparse, split_tag

log = logging.getLogger("edsearch")

CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"


@dataclass
class WxrSite:
    """The channel-level facts of an export: site title and link, author login -> display name."""

    title: str | None = None
    link: str | None = None
    authors: dict[str, str] = field(default_factory=dict)


@dataclass
class WxrItem:
    """One <item> of an export as written: any post type, any status."""

    post_id: str = ""
    post_type: str = ""
    status: str = ""
    title: str = ""
    link: str = ""
    creator: str = ""
    post_date: str = ""
    pub_date: str = ""
    password: str = ""
    content: str = ""
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def _text(elem) -> str:
    return (elem.text or "").strip()


def _item(elem) -> WxrItem:
    item = WxrItem()
    wp = {"post_id": "post_id", "post_type": "post_type", "status": "status", "post_date": "post_date",
          "post_password": "password"}
    for child in elem:
        ns, name = split_tag(child.tag)
        if ns == "" and name == "category":
            bucket = {"category": item.categories, "post_tag": item.tags}.get(child.get("domain", ""))
            if bucket is not None and _text(child) and _text(child) not in bucket:
                bucket.append(_text(child))
        elif ns == "" and name in ("title", "link"):
            setattr(item, name, _text(child))
        elif ns == "" and name == "pubDate":
            item.pub_date = _text(child)
        elif ns == DC_NS and name == "creator":
            item.creator = _text(child)
        elif ns == CONTENT_NS and name == "encoded":
            item.content = child.text or ""
        elif WP_NAMESPACE.match(ns) and name in wp:
            setattr(item, wp[name], _text(child))
    return item


def read_wxr(path: Path) -> Iterator[tuple[WxrSite, WxrItem]]:
    """Every <item> of a WXR file with the site facts read before it (exports list authors before items).

    Raises UnsafeXML for entity declarations; SkipRecord when the XML breaks off (items before it were given)."""
    site = WxrSite()
    depth = 0
    channel = None
    for event, elem in safe_iterparse(path, ("start", "end")):
        if event == "start":
            depth += 1
            if depth == 2 and split_tag(elem.tag)[1] == "channel":
                channel = elem
            continue
        depth -= 1
        if depth != 2 or channel is None:
            continue        # inside an item (kept until the item ends) or the root itself
        ns, name = split_tag(elem.tag)
        if ns == "" and name == "item":
            yield site, _item(elem)
        elif ns == "" and name in ("title", "link"):
            setattr(site, name, _text(elem) or None)
        elif WP_NAMESPACE.match(ns) and name == "author":
            fields = {split_tag(c.tag)[1]: _text(c) for c in elem}
            if fields.get("author_login"):
                site.authors[fields["author_login"]] = fields.get("author_display_name") or fields["author_login"]
        channel.remove(elem)   # read: drop it, so memory stays that of one item


# WordPress stores posts as the editor wrote them and formats them when it renders a page: blank lines become
# paragraphs (wpautop), shortcodes and bare URLs (oEmbed) become media. Only the text is an article's.
_MEDIA_SHORTCODE = re.compile(r"\[(embed|caption|video|audio|playlist|wp_caption)\b[^\]]*\].*?\[/\1\]",
                              re.DOTALL | re.IGNORECASE)
_SELF_SHORTCODE = re.compile(r"\[/?(embed|caption|gallery|video|audio|playlist|wp_caption)\b[^\]]*\]", re.IGNORECASE)
_BARE_URL_LINE = re.compile(r"^[ \t]*https?://\S+[ \t]*$", re.MULTILINE)
_BLOCK_START = re.compile(r"^\s*<(p|div|figure|h[1-6]|ul|ol|li|blockquote|table|pre|hr|section|iframe|!--)\b",
                          re.IGNORECASE)


def post_html(content: str) -> str:
    """A post's stored content as the HTML its page shows: paragraphs wrapped, media shortcodes and embeds out."""
    content = _SELF_SHORTCODE.sub("", _MEDIA_SHORTCODE.sub("", content))
    content = _BARE_URL_LINE.sub("", content.replace("\r\n", "\n"))
    blocks = [b.strip() for b in re.split(r"\n\s*\n", content) if b.strip()]
    return "\n".join(b if _BLOCK_START.match(b) else f"<p>{b}</p>" for b in blocks)


def _article_id(site: WxrSite, item: WxrItem, path: Path) -> str:
    # The site's shortlink: stable when the post's slug, title or the export's file name change.
    host = urlsplit(site.link or "").netloc
    return f"{host}/?p={item.post_id}" if host else f"{path.stem}:{item.post_id}"


def wxr_article(site: WxrSite, item: WxrItem, path: Path, source: str, notes: list[str]) -> Article:
    """One published post as an Article; raises SkipRecord when it has no text."""
    if not item.content.strip():
        raise SkipRecord("the post has no content")
    body = html_fragment_text(post_html(item.content), "the post's content")
    posted = item.post_date if item.post_date and not item.post_date.startswith("0000") else item.pub_date
    meta = {"id": _article_id(site, item, path), "title": item.title,
            "author": site.authors.get(item.creator, item.creator) or None, "published": posted,
            "url": item.link or None, "section": item.categories[0] if item.categories else None,
            "tags": item.tags, "publication": site.title}
    return make_article(meta, body, f"{path.stem}:{item.post_id}", source, notes=notes)


def load_wordpress(path: Path, source: str) -> Iterator[Article | LoadWarning]:
    """The published posts of a WXR export, with a LoadWarning for each post that was skipped or changed.

    Pages, attachments, revisions, menu items, drafts, private, scheduled and password-protected posts are not
    published articles: they are counted in the log, not indexed."""
    left_out: Counter = Counter()
    for site, item in read_wxr(path):
        if item.post_type != "post":
            left_out[item.post_type or "untyped item"] += 1
            continue
        if item.status != "publish" or item.password:
            left_out["password-protected post" if item.password else f"{item.status or 'unknown'} post"] += 1
            continue
        record = f"post {item.post_id}"
        notes: list[str] = []
        try:
            yield wxr_article(site, item, path, source, notes)
        except SkipRecord as exc:
            yield LoadWarning(source, str(exc), record=record)
        for note in notes:
            yield LoadWarning(source, note, record=record, kept=True)
    if left_out:
        log.info("edsearch: %s: left out (not published posts): %s", path,
                 ", ".join(f"{n} {kind}" for kind, n in sorted(left_out.items())))
