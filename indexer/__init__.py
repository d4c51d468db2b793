"""edsearch indexer: turn files of articles into a published index folder.

Names are imported on first use (PEP 562), so `import indexer.reader` on the query side does not pay for the build
pipeline's imports.
"""
from importlib import import_module

_WHERE = {"Article": "articles", "BuildSummary": "build", "build_index": "build", "Chunk": "chunking",
          "chunk_article": "chunking", "Settings": "config", "Embedder": "embedding", "ModelError": "embedding",
          "get_embedder": "embedding", "LoadWarning": "sources", "iter_articles": "sources",
          "CorruptIndex": "format", "Filters": "reader", "IndexBusy": "format", "IndexNotFound": "format",
          "IndexReader": "reader", "IndexStoreError": "format", "ModelMismatch": "format", "OldFormat": "format",
          "IndexWriter": "writer", "optimize": "writer", "Watcher": "watch", "UnsafeXML": "xmlfiles"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'indexer' has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
