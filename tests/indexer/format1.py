"""Turn an index folder into the layout edsearch wrote before segments (format 1), to test the upgrade:
    CURRENT -> v000001/ (edsearch.db without the segment tables, vectors.faiss, manifest.json)."""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from indexer.reader import IndexReader
from indexer.vectors import VectorIndex

NEW_TABLES = ("segments", "tombstones", "retired", "commits")
NEAR_DUPLICATE_TABLES = ("article_groups", "near_pairs", "minhash_bands", "article_minhash")


def make_format_1(index: Path, near_duplicates: bool = True) -> dict:
    """Rewrite `index` in place as format 1 (without near-duplicate tables unless asked); returns the manifest."""
    reader = IndexReader(index)
    manifest = dict(reader.manifest)
    ids, vectors = reader.vectors.export()
    reader.close()

    flat = VectorIndex(manifest["model"]["dim"])
    flat.add(ids, vectors)
    version = index / "v000001"
    version.mkdir()
    src, db = sqlite3.connect(index / "edsearch.db"), sqlite3.connect(version / "edsearch.db")
    src.backup(db)
    src.close()
    for table in NEW_TABLES + (() if near_duplicates else NEAR_DUPLICATE_TABLES):
        db.execute(f"DROP TABLE {table}")
    db.commit()
    db.execute("VACUUM")
    db.close()
    for path in index.glob("edsearch.db*"):
        path.unlink()
    shutil.rmtree(index / "segments")
    (index / "manifest.json").unlink()
    flat.save(version / "vectors.faiss")
    manifest.update(format_version=1, index_version=1, vectors=flat.describe(),
                    files={"vectors": "vectors.faiss", "database": "edsearch.db"})
    if not near_duplicates:
        manifest.pop("near_duplicates", None)
    (version / "manifest.json").write_text(json.dumps(manifest))
    (index / "CURRENT").write_text("v000001\n")
    return manifest
