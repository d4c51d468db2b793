"""edsearch indexer: turn files of articles into a published index folder."""
from .articles import Article
from .build import BuildSummary, build_index
from .chunking import Chunk, chunk_article
from .config import Settings
from .embedding import Embedder, ModelError, get_embedder
from .sources import LoadWarning, iter_articles
from .store import (CorruptIndex, Filters, IndexBusy, IndexNotFound, IndexReader, IndexStoreError,
                    ModelMismatch)
from .watch import Watcher
from .xmlfiles import UnsafeXML

__all__ = ["Article", "BuildSummary", "Chunk", "CorruptIndex", "Embedder", "Filters", "IndexBusy",
           "IndexNotFound", "IndexReader", "IndexStoreError", "LoadWarning", "ModelError", "ModelMismatch",
           "Settings", "UnsafeXML", "Watcher", "build_index", "chunk_article", "get_embedder", "iter_articles"]
