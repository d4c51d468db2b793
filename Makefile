# Two set-up commands on a fresh machine (python3 and make present):
#   make serve   create .venv, install, build the seeds' index if missing or stale, serve it
#   make test    create .venv, install, run the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
INDEX ?= index
PYTEST_ARGS ?=

.PHONY: install index serve test test-fast bench clean train-model train-answer train-cross-encoder

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel; an unbounded torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,ray]'
	touch $(STAMP)

install: $(STAMP)

index: install
	$(BIN)/edsearch index seeds/ --index $(INDEX)

serve: index
	$(BIN)/edsearch serve --index $(INDEX)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The whole answer model (api/answer_model/), from SQuAD v1.1 train in ../shared: the cross-encoder, then the heads
# over its scores (~51 min on 2 cores with bf16 units: 28 + 23; docs/cross-encoder.md, docs/ask.md)
train-model: train-cross-encoder
	$(MAKE) train-answer

# The answer model's heads (api/answer_model/), over the cross-encoder's scores: run train-cross-encoder first
# (docs/ask.md)
train-answer: install
	$(BIN)/python -m pip install -q -e '.[train]'
	PYTHONPATH=. $(BIN)/python training/train_answer.py

# The answer cross-encoder (api/answer_model/cross_encoder/): MiniLM fine-tuned on SQuAD v1.1 train in ../shared,
# exported to OpenVINO (training/train_cross_encoder.py; the shipped one: 6 layers, 24,000 questions, bf16 forward,
# 28 min on 2 cores)
train-cross-encoder: install
	$(BIN)/python -m pip install -q -e '.[train]'
	PYTHONPATH=. $(BIN)/python training/train_cross_encoder.py

clean:
	rm -rf $(VENV) $(INDEX)/edsearch.db* $(INDEX)/segments $(INDEX)/manifest.json $(INDEX)/.lock
