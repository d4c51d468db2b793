"""Embedder: the input shapes the model runs on are bounded (server memory stays flat), vectors unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from indexer import embedding


def _shapes_seen(embedder, texts: list[str]) -> list[tuple[int, int]]:
    seen: list[tuple[int, int]] = []
    hook = embedder.model[0].register_forward_pre_hook(    # the transformer module gets the tokenized batch
        lambda _module, args: seen.append(tuple(args[0]["input_ids"].shape)))
    try:
        vecs = embedder.encode(texts)
    finally:
        hook.remove()
    assert vecs.shape == (len(texts), embedder.dim)
    return seen


def test_token_lengths_are_padded_to_few_shapes(embedder):
    words = "the council voted to fund the dredging of the old harbour after a decade of delay".split()
    texts = [" ".join(words[: 3 + i % 13]) * (1 + i % 4) for i in range(40)]       # many different lengths
    batches = _shapes_seen(embedder, texts)
    assert batches and all(length % embedding.PAD_MULTIPLE == 0 for _, length in batches)
    queries = _shapes_seen(embedder, ["harbour dredging"]) + _shapes_seen(embedder, ["who voted on the harbour?"])
    assert all(length % embedding.PAD_MULTIPLE_SMALL == 0 for _, length in queries)
    assert all(length < embedding.PAD_MULTIPLE for _, length in queries)          # a query is not padded to 32


def test_padding_leaves_vectors_unchanged(embedder):
    texts = ["Fishermen asked the council to pause the dredging.", "Rovers beat United two goals to one."] * 5
    alone = np.stack([embedder.encode([t])[0] for t in texts[:2]])    # padded to 8: a query-sized batch
    batched = embedder.encode(texts)[:2]                               # padded to 32
    assert np.min(np.sum(alone * batched, axis=1)) > 0.999


TEXTS = ["The harbour board voted to resume dredging in spring.", "Rovers beat United two goals to one.",
         "Inflation eased for a third month as fuel prices fell back."] * 4


def test_openvino_gives_the_pytorch_vectors(embedder):
    """The default backend on a CPU with OpenVINO installed; the same model in PyTorch gives the same vectors."""
    ov = embedding.Embedder(dtype=embedder.dtype, backend="openvino")
    pt = embedding.Embedder(dtype=embedder.dtype, backend="torch")
    assert (ov.backend, pt.backend) == ("openvino", "torch")
    for batch in (TEXTS[:1], TEXTS):             # one thread for a query, every core for a batch
        assert np.min(np.sum(ov.encode(batch) * pt.encode(batch), axis=1)) > 0.999


def test_converted_model_is_cached_and_a_damaged_entry_is_rewritten(tmp_path):
    first = embedding.Embedder(backend="openvino", cache_dir=str(tmp_path))
    entries = list((tmp_path / "openvino").iterdir())
    assert len(entries) == 1 and (entries[0] / "model.xml").exists()
    expected = first.encode(TEXTS)
    weights = entries[0] / "model.bin"
    weights.write_bytes(weights.read_bytes()[:1000])                       # a cut-off copy
    second = embedding.Embedder(backend="openvino", cache_dir=str(tmp_path))
    assert second.backend == "openvino"
    assert np.allclose(second.encode(TEXTS), expected, atol=1e-4)
    assert weights.stat().st_size > 1000                                    # converted and written again
    assert not [p for p in (tmp_path / "openvino").iterdir() if p.name.startswith(".tmp-")]


def test_a_cache_entry_with_wrong_weights_is_caught_by_the_probe(tmp_path):
    """Weights of the right size but wrong values pass OpenVINO's own checks; the probe against PyTorch does not."""
    import re

    embedding.Embedder(backend="openvino", cache_dir=str(tmp_path))
    (entry,) = (tmp_path / "openvino").iterdir()

    def damage():          # zero the largest float tensor (the word embeddings), leaving shapes and sizes intact
        xml = (entry / "model.xml").read_text()
        consts = re.findall(r'element_type="f32"[^>]*offset="(\d+)"[^>]*size="(\d+)"', xml)
        offset, size = max(((int(o), int(n)) for o, n in consts), key=lambda c: c[1])
        with open(entry / "model.bin", "r+b") as fh:
            fh.seek(offset)
            fh.write(bytes(size))

    damage()
    with pytest.warns(UserWarning, match="runs in PyTorch"):
        fallback = embedding.Embedder(backend="auto", cache_dir=str(tmp_path))
    assert fallback.backend == "torch" and not entry.exists()          # the bad entry is gone
    embedding.Embedder(backend="openvino", cache_dir=str(tmp_path))    # converted again
    damage()
    with pytest.raises(embedding.ModelError, match="EDSEARCH_BACKEND=torch"):
        embedding.Embedder(backend="openvino", cache_dir=str(tmp_path))
