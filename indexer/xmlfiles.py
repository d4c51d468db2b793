"""Which kind of XML file this is (a WordPress export or an RSS/Atom feed), read by a parser that refuses entities.

Every XML file passes here before any other reader sees it. defusedxml's expat parser refuses any entity
declaration: an entity bomb (billion laughs) and an external entity (a local file, a URL) are declared in the
DTD, before the root element, so they are refused here whatever reads the file next, and nothing is fetched."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from .records import SkipRecord

WP_NAMESPACE = re.compile(r"^http://wordpress\.org/export/\d+\.\d+/$")   # WXR 1.0, 1.1, 1.2
FEED_ROOTS = {"rss", "feed", "RDF"}   # RSS 0.9x/2.0, Atom, RSS 1.0


class UnsafeXML(ValueError):
    """An XML file declares entities (an entity bomb, an external entity): refused, never expanded."""


def split_tag(tag: str) -> tuple[str, str]:
    """'{namespace}local' -> (namespace, local); ('', tag) without a namespace."""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def safe_iterparse(path: Path, events: tuple[str, ...]) -> Iterator[tuple[str, Element | tuple[str, str]]]:
    """Stream (event, element) pairs; raise UnsafeXML for entity declarations, SkipRecord for broken XML."""
    try:
        yield from SafeET.iterparse(str(path), events=events, forbid_dtd=False, forbid_entities=True,
                                    forbid_external=True)
    except DefusedXmlException as exc:
        what = f"external entity {exc.sysid!r}" if getattr(exc, "sysid", None) else \
            f"entity {getattr(exc, 'name', '?')!r}"
        raise UnsafeXML(f"{path}: refused: the XML declares an {what} in its DTD; entity declarations (entity "
                        "bombs, external entities) are never expanded or fetched, so nothing was indexed. Remove "
                        "the <!DOCTYPE ...> block or export the file again") from None
    except ParseError as exc:
        raise SkipRecord(f"not well-formed XML ({exc}); anything before that point was read, the rest was not: "
                         "fix the file or export it again") from None
    except OSError as exc:
        raise SkipRecord(f"cannot read file ({exc.strerror or exc}); check its permissions") from None


def sniff_xml(path: Path) -> str:
    """'wordpress' (an rss root declaring the WordPress export namespace) or 'feed' (RSS or Atom), by content.

    Reads up to the root element only; raises UnsafeXML or SkipRecord."""
    namespaces: list[str] = []
    for event, item in safe_iterparse(path, ("start-ns", "start")):
        if event == "start-ns":
            namespaces.append(item[1])
            continue
        _, root = split_tag(item.tag)
        if root == "rss" and any(WP_NAMESPACE.match(ns) for ns in namespaces):
            return "wordpress"
        if root in FEED_ROOTS:
            return "feed"
        raise SkipRecord(f"XML root <{root}> is neither a WordPress export (an <rss> with the WordPress export "
                         "namespace) nor an RSS or Atom feed; only those XML files are indexed")
    raise SkipRecord("empty XML file")
