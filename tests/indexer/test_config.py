"""Settings: environment variables, with clear errors for values that cannot work."""
from __future__ import annotations

import pytest

from indexer.config import Settings


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("EDSEARCH_WORKER_THREADS", "2")
    monkeypatch.setenv("EDSEARCH_KEYWORD_ALL_TERMS_ABOVE", "5")
    s = Settings.from_env()
    assert (s.worker_threads, s.keyword_all_terms_above, s.max_pending) == (2, 5, 512)
    monkeypatch.setenv("EDSEARCH_RAY_ADDRESS", "ray://head:10001")
    monkeypatch.setenv("EDSEARCH_HNSW_EF_SEARCH", "64")
    s = Settings.from_env()
    assert (s.ray_address, s.hnsw_ef_search, s.ray_embed_actors) == ("ray://head:10001", 64, 0)
    assert s.answer_threshold is None            # unset: the answer model's own threshold
    monkeypatch.setenv("EDSEARCH_ANSWER_THRESHOLD", "0.5")
    assert Settings.from_env().answer_threshold == 0.5


@pytest.mark.parametrize("name,value,match", [
    ("EDSEARCH_WORKER_THREADS", "0", "EDSEARCH_WORKER_THREADS must be at least 1"),
    ("EDSEARCH_MAX_PENDING", "-3", "EDSEARCH_MAX_PENDING must be at least 1"),
    ("EDSEARCH_BATCH_SIZE", "many", "EDSEARCH_BATCH_SIZE='many' is not a valid int"),
    ("EDSEARCH_BACKEND", "onnx", "EDSEARCH_BACKEND must be one of auto, openvino, torch"),
    ("EDSEARCH_DTYPE", "float16", "EDSEARCH_DTYPE must be one of auto, float32"),
    ("EDSEARCH_HNSW_EF_SEARCH", "-1", "EDSEARCH_HNSW_EF_SEARCH must be 0 or more"),
    ("EDSEARCH_RAY_EMBED_CPUS", "0", "EDSEARCH_RAY_EMBED_CPUS must be positive"),
    ("EDSEARCH_PORT", "70000", "EDSEARCH_PORT must be a port from 1 to 65535"),
    ("EDSEARCH_RELOAD_INTERVAL", "0", "EDSEARCH_RELOAD_INTERVAL must be a number of seconds above 0"),
    ("EDSEARCH_LLM_TIMEOUT", "nan", "EDSEARCH_LLM_TIMEOUT must be a number of seconds above 0"),
    ("EDSEARCH_CORS_ORIGINS", "https://a.example/ https://b.example", "'https://a.example/' is not an origin"),
    ("EDSEARCH_API_TOKEN", "   ", "EDSEARCH_API_TOKEN is only spaces"),
    ("EDSEARCH_API_TOKEN", "t\u00f6k\u00e9n", "EDSEARCH_API_TOKEN must be ASCII"),
    ("EDSEARCH_ANSWER_THRESHOLD", "1.5", "EDSEARCH_ANSWER_THRESHOLD must be a confidence from 0 to 1"),
    ("EDSEARCH_ANSWER_THRESHOLD", "nan", "EDSEARCH_ANSWER_THRESHOLD must be a confidence from 0 to 1"),
    ("EDSEARCH_ANSWER_THRESHOLD", "high", "EDSEARCH_ANSWER_THRESHOLD='high' is not a valid float"),
])
def test_unusable_values_are_named(monkeypatch, name, value, match):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=match):
        Settings.from_env()
