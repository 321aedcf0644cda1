# One target per stage. Settings: DATA_DIR (LFW + CelebA folder), PYTHON (venv interpreter).
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
DATA_DIR ?= ../shared/data
STAMP := $(VENV)/.installed

.PHONY: install data pretrain finetune evaluate archive serve stop demo test clean

install: $(STAMP)

# Idempotent: re-runs only when the requirement files change. torch/torchvision are
# installed first and alone so pip takes the CPU-capable wheels from the local disk.
$(STAMP): requirements.txt requirements-nodeps.txt
	@bash scripts/check_java.sh
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q $$(grep -E '^torch(vision)?==' requirements.txt)
	$(PYTHON) -m pip install -q -r requirements.txt
	$(PYTHON) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

data: install
	$(PYTHON) -m training.face_cache --data-dir $(DATA_DIR)

pretrain: install
	$(PYTHON) -m pretrain.train $(ARGS)

finetune: install
	$(PYTHON) -m finetune.train $(ARGS)

evaluate: install
	$(PYTHON) -m finetune.evaluate $(ARGS)

archive: install
	@echo "archive: not implemented yet" >&2; exit 1

serve: install
	@echo "serve: not implemented yet" >&2; exit 1

stop:
	@echo "stop: not implemented yet" >&2; exit 1

demo: install
	@echo "demo: not implemented yet" >&2; exit 1

test: install
	DATA_DIR=$(DATA_DIR) $(PYTHON) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf cache/smoke runs/smoke .pytest_cache logs
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
