"""Near-duplicate articles: MinHash signatures of word shingles (datasketch), LSH bands kept in SQLite, groups.

Republished pieces, syndicated wire copy and lightly corrected versions share most of their word 5-grams. Each
article's text is normalised (NFKC, casefolded, words only), cut into overlapping 5-word shingles and summarised
by a 128-value MinHash signature (512 bytes, stored per article). Articles whose estimated Jaccard similarity of
shingle sets is at least the threshold (Settings.near_duplicate_threshold; docs/near-duplicates.md has the
measurements behind the default) are linked; groups are the connected components of those links plus the
byte-identical bodies (equal text_hash). Search collapses a group into one result that names the others.

Incremental: only articles without a stored signature are hashed; their LSH band keys are looked up in SQLite
to find candidates, so a build hashes what it adds, not the archive. Removing an article removes its signature
and links (foreign keys, ON DELETE CASCADE) and its bands (IndexWriter.remove_articles); the groups are
recomputed from the links at every publish.
"""
from __future__ import annotations

import hashlib
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import Iterable

import numpy as np

NUM_PERM = 128
SHINGLE_WORDS = 5
# Shorter texts take no part in near-duplicate links (byte-identical copies still group): one-paragraph briefs
# written from a template differ in a figure or a name, a few shingles, and are not copies of each other.
MIN_SHINGLES = 30
SEED = 1
_WORD = re.compile(r"\w+", re.UNICODE)

SCHEMA = """
CREATE TABLE IF NOT EXISTS article_minhash (
    article_id TEXT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    signature BLOB NOT NULL,                  -- NUM_PERM little-endian uint32 MinHash values
    shingles INTEGER NOT NULL                 -- how many distinct shingles the text has
);
CREATE TABLE IF NOT EXISTS minhash_bands (
    key INTEGER NOT NULL,                     -- 64-bit digest of the band's number and rows
    article_id TEXT NOT NULL,                 -- removed with the article by IndexWriter.remove_articles
    PRIMARY KEY (key, article_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS near_pairs (
    a TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    b TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,   -- a < b
    jaccard REAL NOT NULL,                    -- estimated from the signatures
    PRIMARY KEY (a, b)
);
CREATE INDEX IF NOT EXISTS near_pairs_b ON near_pairs(b);
CREATE TABLE IF NOT EXISTS article_groups (
    article_id TEXT PRIMARY KEY REFERENCES articles(id) ON DELETE CASCADE,
    group_id TEXT NOT NULL                    -- the smallest article id in the group; only groups of 2+ are stored
);
CREATE INDEX IF NOT EXISTS article_groups_group ON article_groups(group_id);
"""


@dataclass
class NearDupStats:
    hashed: int            # articles whose signature was computed in this build
    pairs: int             # near-identical links stored (estimated Jaccard >= threshold)
    groups: int            # groups of 2+ articles (near or byte-identical)
    grouped_articles: int  # articles in those groups
    threshold: float


def words(text: str) -> list[str]:
    """The text as a list of casefolded words: punctuation, case and spacing do not count."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(text: str, n: int = SHINGLE_WORDS) -> set[bytes]:
    """Overlapping n-word shingles (a text shorter than n words is one shingle)."""
    w = words(text)
    if len(w) < n:
        return {" ".join(w).encode()} if w else set()
    return {" ".join(w[i:i + n]).encode() for i in range(len(w) - n + 1)}


def signatures(texts: Iterable[str], counts: list[int] | None = None) -> list[np.ndarray]:
    """One MinHash signature (NUM_PERM uint32) per text; an empty text gets all-max values (matches nothing).
    `counts`, when given, receives each text's number of distinct shingles."""
    from datasketch import MinHash     # build side only: the query side reads stored groups

    sets = [shingles(t) for t in texts]
    if counts is not None:
        counts.extend(len(s) for s in sets)
    out = []
    for m, s in zip(MinHash.bulk([list(s) for s in sets], num_perm=NUM_PERM, seed=SEED), sets):
        out.append(np.asarray(m.hashvalues, dtype="<u4") if s else np.full(NUM_PERM, 0xFFFFFFFF, dtype="<u4"))
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two shingle sets, estimated from their signatures."""
    return float(np.mean(a == b))


def exact_jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


def lsh_params(threshold: float) -> tuple[int, int]:
    """(bands, rows per band) that datasketch's MinHashLSH picks for this threshold and NUM_PERM, weighing a
    missed pair 9 times a needless candidate (candidates are checked against the signatures anyway): at 0.5 that
    is 32 bands of 4 rows, which finds a pair at J=0.5 with probability 0.87, at 0.6 with 0.99 (the default
    weights give 25 x 5: 0.55 at 0.5), while a pair at J=0.02 is a candidate with probability 5e-6."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=(0.1, 0.9))
    return lsh.b, lsh.r


def band_keys(sig: np.ndarray, bands: int, rows: int) -> list[int]:
    """One integer per LSH band: articles sharing any of them are candidates."""
    return [int.from_bytes(hashlib.blake2b(i.to_bytes(2, "little") + sig[i * rows:(i + 1) * rows].tobytes(),
                                           digest_size=8).digest(), "little", signed=True) for i in range(bands)]


def _components(edges: Iterable[tuple[str, str]]) -> dict[str, str]:
    """article id -> smallest id of its connected component (union-find), for ids in at least one edge."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def update(db: sqlite3.Connection, threshold: float, previous_threshold: float | None = None) -> NearDupStats:
    """Bring signatures, links and groups up to date with the articles table (inside the writer's transaction).

    `previous_threshold` is what the links were computed with; another threshold recomputes every link. The
    tables are part of the index schema (indexer/format.py), created when the writer opens the database."""
    bands, rows = lsh_params(threshold)
    if previous_threshold != threshold:
        db.execute("DELETE FROM near_pairs")
        db.execute("DELETE FROM minhash_bands")        # band layout follows the threshold
        pending_bands = [r[0] for r in db.execute("SELECT article_id FROM article_minhash WHERE shingles >= ?",
                                                  (MIN_SHINGLES,))]
    else:
        pending_bands = []
    missing = db.execute("SELECT a.id, a.text FROM articles a LEFT JOIN article_minhash m ON m.article_id = a.id "
                         "WHERE m.article_id IS NULL ORDER BY a.id").fetchall()
    hashed = 0
    new_ids = pending_bands
    for i in range(0, len(missing), 500):
        part = missing[i:i + 500]
        counts: list[int] = []
        sigs = signatures((r[1] for r in part), counts)
        db.executemany("INSERT INTO article_minhash (article_id, signature, shingles) VALUES (?, ?, ?)",
                       [(r[0], s.tobytes(), n) for r, s, n in zip(part, sigs, counts)])
        new_ids += [r[0] for r, n in zip(part, counts) if n >= MIN_SHINGLES]     # only these get LSH bands
        hashed += len(part)

    def sig_of(article_id: str) -> np.ndarray:
        blob = db.execute("SELECT signature FROM article_minhash WHERE article_id = ?", (article_id,)).fetchone()[0]
        return np.frombuffer(blob, dtype="<u4")

    # Insert every new article's bands first, then look up candidates: two new copies find each other too.
    keys_of = {art_id: band_keys(sig_of(art_id), bands, rows) for art_id in new_ids}
    for art_id, keys in keys_of.items():
        db.executemany("INSERT OR IGNORE INTO minhash_bands (key, article_id) VALUES (?, ?)",
                       [(k, art_id) for k in keys])
    for art_id, keys in keys_of.items():
        sig = sig_of(art_id)
        candidates = [r[0] for r in db.execute(
            f"SELECT DISTINCT article_id FROM minhash_bands WHERE key IN ({','.join('?' * len(keys))}) "
            "AND article_id != ?", (*keys, art_id))]
        for other in candidates:
            j = jaccard(sig, sig_of(other))
            if j >= threshold:
                a, b = sorted((art_id, other))
                db.execute("INSERT OR REPLACE INTO near_pairs (a, b, jaccard) VALUES (?, ?, ?)", (a, b, j))

    edges = [(r[0], r[1]) for r in db.execute("SELECT a, b FROM near_pairs")]
    # Byte-identical bodies are grouped whatever their signatures say (an empty text included).
    for (ids,) in db.execute("SELECT group_concat(id, char(31)) FROM articles GROUP BY text_hash HAVING count(*) > 1"):
        members = ids.split("\x1f")
        edges += [(members[0], m) for m in members[1:]]
    groups = _components(edges)
    db.execute("DELETE FROM article_groups")
    db.executemany("INSERT INTO article_groups (article_id, group_id) VALUES (?, ?)", sorted(groups.items()))
    n_pairs = db.execute("SELECT count(*) FROM near_pairs").fetchone()[0]
    return NearDupStats(hashed=hashed, pairs=n_pairs, groups=len(set(groups.values())),
                        grouped_articles=len(groups), threshold=threshold)
