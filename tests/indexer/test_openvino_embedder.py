"""The query side's embedder: the converted model run without torch gives the sentence-transformers vectors."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from indexer import embedding
from indexer.openvino_embedder import NotConverted, OpenVINOEmbedder

TEXTS = ["The harbour board voted to resume dredging in spring.", "Rovers beat United two goals to one.",
         "Inflation eased for a third month as fuel prices fell back after the long winter of strikes and "
         "shortages that had pushed the central bank to raise its rates twice."] * 4


@pytest.fixture(scope="module")
def light(embedder, settings):
    return OpenVINOEmbedder.open(settings.model, embedder.dtype, settings.batch_size, settings.cache_dir)


def test_vectors_match_the_sentence_transformers_path(embedder, light):
    assert embedder.backend == "openvino"        # the build's Embedder converted the model the light one runs
    for batch in (TEXTS[:1], TEXTS[:3], TEXTS):  # one thread for a query, every core for a batch
        assert np.min(np.sum(light.encode(batch) * embedder.encode(batch), axis=1)) >= 0.9999
    for a, b in zip(light.token_embeddings(TEXTS[:3]), embedder.token_embeddings(TEXTS[:3])):
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-3)
    assert light.count_tokens(TEXTS[:3]) == embedder.count_tokens(TEXTS[:3])
    assert (light.dim, light.max_tokens) == (embedder.dim, embedder.max_tokens)


def test_inputs_are_padded_to_few_shapes(light):
    """As the build's Embedder pads (server memory stays flat): a query to a multiple of 8, a batch to 32."""
    seen: list[tuple[int, int]] = []

    class Recorder:              # stands between the embedder and OpenVINO's infer request, noting input shapes
        def __init__(self, request):
            self.request = request

        def infer(self, feeds):
            seen.append(feeds["input_ids"].shape)
            return self.request.infer(feeds)

    one, light._one = light._one, Recorder(light._one)
    try:
        light.encode(TEXTS[:1])
        assert seen[-1][1] % embedding.PAD_MULTIPLE_SMALL == 0 and seen[-1][1] < embedding.PAD_MULTIPLE
        light.encode(TEXTS)
        every = light._every
        light._every = Recorder(every)
        before = len(seen)
        light.encode(TEXTS)
        assert len(seen) > before and all(width % embedding.PAD_MULTIPLE == 0 for _, width in seen[before:])
    finally:
        light._one = one
        if isinstance(light._every, Recorder):
            light._every = every


def test_a_model_not_converted_yet_loads_the_full_path_once_then_runs_without_it(settings, tmp_path, caplog):
    fresh = replace(settings, cache_dir=str(tmp_path))
    with pytest.raises(NotConverted, match="not been converted"):
        OpenVINOEmbedder.open(fresh.model, fresh.dtype, fresh.batch_size, fresh.cache_dir)
    with caplog.at_level(logging.INFO, logger="edsearch"):
        first = embedding.query_embedder_for(fresh)
    assert isinstance(first, embedding.Embedder) and "later processes start faster" in caplog.text
    (entry,) = (tmp_path / "openvino").iterdir()
    assert json.loads((entry / "edsearch.json").read_text())["inputs"]        # checked against PyTorch
    again = OpenVINOEmbedder.open(fresh.model, fresh.dtype, fresh.batch_size, fresh.cache_dir)
    assert np.min(np.sum(again.encode(TEXTS) * first.encode(TEXTS), axis=1)) >= 0.9999
    (entry / "model.bin").write_bytes(b"\0" * 100)                            # damaged: not trusted
    with pytest.raises(NotConverted, match="cannot be read"):
        OpenVINOEmbedder.open(fresh.model, fresh.dtype, fresh.batch_size, fresh.cache_dir)


def test_search_and_ask_import_no_torch(seeds_index, embedder):
    """A new process searching and asking the seeds' index never imports torch, transformers or
    sentence-transformers (the model was converted by the build)."""
    code = f"""
import json, sys
from api import Retriever
r = Retriever({str(seeds_index)!r})
hits = r.search("CPTPP accession", k=3).hits
ans = r.ask("what did the board recommend on CPTPP?")
print(json.dumps({{"hits": any("CPTPP" in h.text for h in hits), "found": ans.found,
                   "heavy": sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"hits": True, "found": True, "heavy": []}
