"""edsearch query side: open a published index, search it, answer questions, serve it."""
from indexer.format import IndexNotFound, IndexStoreError
from indexer.reader import Filters

from .models import Answer, ArticleFull, ArticleRef, Citation, Hit, SearchResult
from .retriever import ArticleNotFound, QueryError, Retriever

__all__ = ["Answer", "ArticleFull", "ArticleNotFound", "ArticleRef", "Citation", "Filters", "Hit", "IndexNotFound",
           "IndexStoreError", "QueryError", "Retriever", "SearchResult"]
