"""One settings object, read from environment variables (documented defaults in the README)."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_CACHE_DIR = "~/.cache/edsearch"
DTYPES = ("auto", "float32", "fp32", "bfloat16", "bf16")
BACKENDS = ("auto", "openvino", "torch")
DEFAULT_BATCH_SIZE = 16   # texts per encode batch: indexes faster than 64 here (docs/scale.md)


_OPTIONAL_CASTS = {"float | None": float}   # how a setting without a default is read (Settings.from_env; else str)
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _bool(raw: str) -> bool:
    """bool("false") is True; an environment variable says yes or no in words."""
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ValueError(f"use one of {', '.join(_TRUE + _FALSE)}")


def _env(name: str, default, cast=str):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return _bool(raw) if cast is bool else cast(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not a valid {cast.__name__}"
                         + (f" ({exc})" if cast is bool else "")) from exc


@dataclass(frozen=True)
class Settings:
    """Every knob of edsearch; each field has an EDSEARCH_<NAME> environment variable."""

    index: str = "index"                # EDSEARCH_INDEX: the index folder
    model: str = DEFAULT_MODEL          # EDSEARCH_MODEL: sentence-transformers name or path
    dtype: str = "auto"                 # EDSEARCH_DTYPE: auto | float32 | bfloat16
    backend: str = "auto"               # EDSEARCH_BACKEND: auto (OpenVINO on the CPU if installed) | openvino | torch
    cache_dir: str = DEFAULT_CACHE_DIR  # EDSEARCH_CACHE_DIR: models converted for OpenVINO (safe to delete)
    batch_size: int = DEFAULT_BATCH_SIZE  # EDSEARCH_BATCH_SIZE: encode batch size
    chunk_tokens: int = 200             # EDSEARCH_CHUNK_TOKENS: target passage size (cl100k tokens)
    chunk_overlap: int = 40             # EDSEARCH_CHUNK_OVERLAP: overlap between passages (tokens)
    host: str = "127.0.0.1"             # EDSEARCH_HOST
    port: int = 8000                    # EDSEARCH_PORT
    api_token: str = field(default="", repr=False)  # EDSEARCH_API_TOKEN: bearer token; empty = open
    max_query_chars: int = 1000         # EDSEARCH_MAX_QUERY_CHARS
    max_body_bytes: int = 64 * 1024     # EDSEARCH_MAX_BODY_BYTES
    worker_threads: int = 4             # EDSEARCH_WORKER_THREADS: requests served at once (the rest wait)
    max_pending: int = 512              # EDSEARCH_MAX_PENDING: requests in flight beyond which the answer is 503
    reload_interval: float = 1.0        # EDSEARCH_RELOAD_INTERVAL: seconds between checks for a new index
    cors_origins: str = ""              # EDSEARCH_CORS_ORIGINS: origins, comma- or space-separated; empty = off
    llm_url: str = ""                   # EDSEARCH_LLM_URL: OpenAI-compatible base URL; empty = extractive only
    llm_model: str = "default"          # EDSEARCH_LLM_MODEL
    llm_timeout: float = 60.0           # EDSEARCH_LLM_TIMEOUT: seconds
    vector_index: str = "auto"          # EDSEARCH_VECTOR_INDEX: auto | flat | hnsw | ivfpq (docs/scale.md)
    hnsw_threshold: int = 20_000        # EDSEARCH_HNSW_THRESHOLD: auto: a vector segment of this many passages or
    #                                     more is HNSW, a smaller one exact (docs/scale.md)
    segments_per_tier: int = 10         # EDSEARCH_SEGMENTS_PER_TIER: merge this many segments of one size tier
    #                                     into one after a build (0: only `edsearch optimize` merges)
    ivfpq_threshold: int = 0            # EDSEARCH_IVFPQ_THRESHOLD: auto: IVF-PQ above this many (0 = never)
    hnsw_m: int = 32                    # EDSEARCH_HNSW_M: graph degree
    hnsw_ef_construction: int = 128     # EDSEARCH_HNSW_EF_CONSTRUCTION
    hnsw_ef_search: int = 0             # EDSEARCH_HNSW_EF_SEARCH: query-time depth; 0 = as saved (256 when built)
    hnsw_storage: str = "fp16"          # EDSEARCH_HNSW_STORAGE: fp16 (half the memory) | fp32, for new HNSW indexes
    ivf_nlist: int = 0                  # EDSEARCH_IVF_NLIST: 0 = 4 * sqrt(passages)
    ivf_nprobe: int = 32                # EDSEARCH_IVF_NPROBE
    pq_m: int = 48                      # EDSEARCH_PQ_M: PQ sub-quantizers (divides the model dim)
    keyword_all_terms_above: int = 100_000  # EDSEARCH_KEYWORD_ALL_TERMS_ABOVE: bigger: keyword segments (Tantivy)
    near_duplicate_threshold: float = 0.5  # EDSEARCH_NEAR_DUPLICATE_THRESHOLD: MinHash Jaccard of 5-word shingles
    #                                     at or above which articles collapse into one result (docs/near-duplicates.md)
    compact_fraction: float = 0.2       # EDSEARCH_COMPACT_FRACTION: rebuild HNSW when this share is tombstones
    ray_address: str = ""               # EDSEARCH_RAY_ADDRESS: cluster for --engine ray; empty = a local Ray
    ray_embed_cpus: float = 1.0         # EDSEARCH_RAY_EMBED_CPUS: CPUs per embedding actor
    ray_embed_actors: int = 0           # EDSEARCH_RAY_EMBED_ACTORS: 0 = as many as the cluster's CPUs allow
    # EDSEARCH_EMBED_TITLES: embed each passage as "title. passage" (the stored text is the passage alone); an
    # index built the other way is re-embedded by the next build. Off: on the BBC development questions it lowered
    # nDCG@10 and answer hits (docs/retrieval.md)
    embed_titles: bool = False
    # Weighted reciprocal rank fusion of hybrid search: score = sum weight / (60 + rank). Keyword 1.25 was chosen
    # by a stated rule on the development data (SciFact train, BBC questions); its gain is small (docs/retrieval.md)
    rrf_dense_weight: float = 1.0       # EDSEARCH_RRF_DENSE_WEIGHT
    rrf_keyword_weight: float = 1.25    # EDSEARCH_RRF_KEYWORD_WEIGHT
    # A question's hits are reordered by a weighted RRF of their retrieval rank (weight 1) and the rank of their
    # answer span's score (this weight; 0 = retrieval order). 0.5 was chosen on the development questions
    # (bench/retrieval_eval.py --rerank; docs/retrieval.md); it reorders the k hits, it finds no others
    answer_rerank_weight: float = 0.5   # EDSEARCH_ANSWER_RERANK_WEIGHT
    # Ask declines below this confidence; unset: the answer model's own threshold (its config.json, chosen by the
    # rule in docs/ask.md). Raise it where a wrong answer costs more than a declined one (docs/ask.md's tables
    # show what each threshold costs); a request's min_confidence overrides it
    answer_threshold: float | None = None  # EDSEARCH_ANSWER_THRESHOLD

    def __post_init__(self):
        for name, allowed in (("dtype", DTYPES), ("backend", BACKENDS), ("hnsw_storage", ("fp16", "fp32"))):
            if getattr(self, name).lower() not in allowed:
                raise ValueError(f"EDSEARCH_{name.upper()} must be one of {', '.join(allowed)} "
                                 f"(got {getattr(self, name)!r})")
        if not 0 < self.near_duplicate_threshold <= 1:
            raise ValueError("EDSEARCH_NEAR_DUPLICATE_THRESHOLD must be above 0 and at most 1 "
                             f"(got {self.near_duplicate_threshold})")
        for name in ("batch_size", "max_query_chars", "max_body_bytes", "worker_threads", "max_pending"):
            if getattr(self, name) < 1:
                raise ValueError(f"EDSEARCH_{name.upper()} must be at least 1 (got {getattr(self, name)})")
        for name in ("hnsw_ef_search", "ray_embed_actors"):
            if getattr(self, name) < 0:
                raise ValueError(f"EDSEARCH_{name.upper()} must be 0 or more (got {getattr(self, name)})")
        for name in ("reload_interval", "llm_timeout"):      # 0 spins a core (reload) or fails every call (LLM)
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"EDSEARCH_{name.upper()} must be a number of seconds above 0 (got {value!r})")
        # a mounted secret or an env file often ends with a newline that no client sends
        token = self.api_token or ""
        if token and not token.strip():
            raise ValueError("EDSEARCH_API_TOKEN is only spaces: set a token, or leave it empty for an open server")
        object.__setattr__(self, "api_token", token.strip())      # frozen: the one normalisation
        if not self.api_token.isascii():
            raise ValueError("EDSEARCH_API_TOKEN must be ASCII (HTTP headers carry it as bytes; clients differ on "
                             "anything else)")
        for origin in self.cors_list:
            if not re.fullmatch(r"\*|null|[a-z][a-z0-9+.-]*://[^/\s]+", origin):
                raise ValueError(f"EDSEARCH_CORS_ORIGINS: {origin!r} is not an origin; write scheme://host[:port] "
                                 "with no path or trailing slash (or * for any), several separated by commas or "
                                 "spaces")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"EDSEARCH_PORT must be a port from 1 to 65535 (got {self.port})")
        if not self.ray_embed_cpus > 0:
            raise ValueError(f"EDSEARCH_RAY_EMBED_CPUS must be positive (got {self.ray_embed_cpus})")
        for name in ("rrf_dense_weight", "rrf_keyword_weight", "answer_rerank_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise ValueError(f"EDSEARCH_{name.upper()} must be a finite number >= 0 (got {value!r})")
        if self.answer_threshold is not None and not (isinstance(self.answer_threshold, (int, float))
                                                      and 0 <= self.answer_threshold <= 1):
            raise ValueError("EDSEARCH_ANSWER_THRESHOLD must be a confidence from 0 to 1, or unset for the answer "
                             f"model's own threshold (got {self.answer_threshold!r})")
        if self.rrf_dense_weight == 0 and self.rrf_keyword_weight == 0:
            raise ValueError("EDSEARCH_RRF_DENSE_WEIGHT and EDSEARCH_RRF_KEYWORD_WEIGHT are both 0: hybrid search "
                             "would rank nothing; give at least one a positive weight")

    @property
    def cors_list(self) -> list[str]:
        """EDSEARCH_CORS_ORIGINS as origins (commas or spaces between them)."""
        return [o for o in re.split(r"[,\s]+", self.cors_origins) if o]

    @property
    def rrf_weights(self) -> dict[str, float]:
        """The weight of each leg of hybrid search, by the names api/retriever.py gives its ranked lists."""
        return {"dense": float(self.rrf_dense_weight), "keyword": float(self.rrf_keyword_weight)}

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        values = {}
        for f in fields(cls):
            cast = type(f.default) if f.default is not None else _OPTIONAL_CASTS.get(f.type, str)
            values[f.name] = _env("EDSEARCH_" + f.name.upper(), f.default, cast)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
