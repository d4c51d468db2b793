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

_skip = pytest.mark.skipif(
    not (CE.ARTIFACT_DIR / "model.xml").exists(),
    reason=f"no trained cross-encoder in {CE.ARTIFACT_DIR}: train it with `make train-cross-encoder`")


def needs_artifact(test):
    """Slow (it loads and runs the trained model), and skipped with the reason while none is trained yet."""
    return pytest.mark.slow(_skip(test))


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
