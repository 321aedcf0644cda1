# One target per stage. Settings: DATA_DIR (LFW + CelebA folder), PYTHON (venv interpreter).
SHELL := /bin/bash
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# DATA_DIR defaults to params.yaml data.data_dir (the one place it is written)
DATA_DIR ?= $(shell sed -n 's/^  data_dir: *//p' params.yaml)
STAMP := $(VENV)/.installed

.PHONY: install data pretrain finetune evaluate archive serve stop status demo demo-eval enroll gallery-eval gallery-bench cluster-eval test test-fast lint clean ablation report dvc-dag loadtest faulttest bench bench-stream ui bench-env transfer-ablation

install: $(STAMP)

# Idempotent: re-runs only when the requirement files change. torch/torchvision are
# installed first and alone so pip takes the CPU-capable wheels from the local disk.
$(STAMP): requirements.txt requirements-nodeps.txt
	@bash scripts/check_java.sh
	@bash scripts/check_nginx.sh || true  # only `make serve REPLICAS=N` needs it
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q $$(grep -E '^torch(vision)?==' requirements.txt)
	$(PYTHON) -m pip install -q -r requirements.txt
	$(PYTHON) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

data: install
	$(PYTHON) -m data.face_cache --data-dir $(DATA_DIR) $(ARGS)

# ARGS=--smoke: a tiny run (tests, CI); ARGS=--resume: continue from the last checkpoint.
pretrain: install
	$(PYTHON) -m pretrain.train $(ARGS)

finetune: install
	$(PYTHON) -m finetune.train $(ARGS)

evaluate: install
	$(PYTHON) -m evaluation.evaluate $(ARGS)

ablation: install
	$(PYTHON) -m finetune.ablation $(ARGS)

# (h) SFace alone, (i) SFace + ArcFace, (j) SFace + SimCLR + ArcFace (needs `make finetune`).
transfer-ablation: install
	$(PYTHON) -m finetune.transfer_ablation $(ARGS)

# The .mar files are rebuilt only when the weights, handler or model code change.
# face-gallery (the served gallery) carries the client package's gallery rules too.
MARS := model_store/face-verify.mar model_store/face-embed.mar model_store/face-gallery.mar
MAR_DEPS := weights/face_embedder.pt $(wildcard model/*.py handler/*.py client/*.py client/gallery/*.py) \
	handler/model-config.yaml archive/archive.sh

archive: install $(MARS)

model_store/%.mar: $(MAR_DEPS) | $(STAMP)
	VENV=$(VENV) bash archive/archive.sh $* model_store

# REPLICAS=N (N > 1): N TorchServe replicas behind nginx on the same address, one key
# (docs/scaling.md); `make stop` stops them too.
REPLICAS ?= 1
# EMBED_WORKERS=2: face-embed with 2 workers (in each replica too), for bulk enrolment (docs/gallery.md).
EMBED_WORKERS ?= 1
serve: install $(MARS)
	$(PYTHON) -m scripts.serve start --replicas $(REPLICAS) --embed-workers $(EMBED_WORKERS)

stop:
	$(PYTHON) -m scripts.serve stop

# Health; with replicas: .serve/replicas.json (ports, pids, health, restarts) checked live.
status:
	@$(PYTHON) -m scripts.serve status

# The 1 + 15 demo against the running server (started if needed). Own photos:
# make demo REF=path/to/reference.jpg TESTS=path/to/folder. Writes runs/demo/
# (ARGS=--refresh-examples: the committed reports/demo/).
demo: serve
	$(PYTHON) -m demo.run --data-dir "$(DATA_DIR)" $(if $(REF),--reference "$(REF)") $(if $(TESTS),--tests "$(TESTS)") $(ARGS)

# The same protocol over SETS seeded LFW peopleDevTest sets -> runs/demo_eval.json
# (ARGS=--refresh-examples: reports/demo_eval.json).
SETS ?= 50
demo-eval: serve
	$(PYTHON) -m demo.eval --data-dir "$(DATA_DIR)" --sets $(SETS) $(ARGS)

# The gallery (1:N identification): enrol every $(PEOPLE)/<name>/ folder as <name> into
# GALLERY (default: the client's, see docs/gallery.md), and the LFW
# peopleDevTest evaluation -> reports/gallery.json.
PEOPLE ?= people
enroll: serve
	$(PYTHON) -m client gallery enroll-all "$(PEOPLE)" $(if $(GALLERY),--gallery "$(GALLERY)")

gallery-eval: serve
	$(PYTHON) -m demo.gallery_eval --data-dir "$(DATA_DIR)" $(ARGS)

# The gallery's store at 10k / 100k / 1M faces and identification with distractors (needs
# `make data`; resumable, about 30 min on 2 cores) -> reports/gallery_scale.json + plot.
gallery-bench: install
	$(PYTHON) -m bench.gallery_scale $(ARGS)

# The served gallery (face-gallery) against the SDK's gallery in process, on the same stores and
# LFW photos (DATA_DIR; no `make data` cache needed) at 10k and 1M faces: identify p50/p95, 8
# clients, enrolment photos/s; starts its own TorchServe -> reports/gallery_served.json.
# On an idle machine (the 1M store takes minutes to build). ARGS="--smoke --out /tmp/x.json": a check.
.PHONY: gallery-served-bench
gallery-served-bench: archive
	DATA_DIR=$(DATA_DIR) $(PYTHON) -m bench.gallery_served $(ARGS)

# Discover people: grouping the faces of people never trained on (LFW peopleDevTest + held-out
# CelebA), its threshold chosen on the calibration people, beside library baselines ->
# reports/clusters.json + reports/plots/clusters.png (embeddings cached in cache/clusters,
# resumable). ARGS=--scale: also 100k faces grouped and 1,000 added.
cluster-eval: install
	$(PYTHON) -m bench.cluster_eval --data-dir $(DATA_DIR) $(ARGS)

# reports/REPORT.md (+ reports/plots/*.csv for `dvc plots show`) from the run outputs in
# reports/; a missing one is listed with the command that produces it. ARGS=--smoke: smoke runs.
# Then the figures quoted in README.md and docs/ (report/doc_figures.py; not for smoke runs).
report: install
	$(PYTHON) -m report.plot_data $(ARGS)
	$(PYTHON) -m report.report $(ARGS)
	$(if $(findstring --smoke,$(ARGS)),,$(PYTHON) -m report.doc_figures)

# The DVC pipeline (dvc.yaml, the same entry points as the targets above): its graph and
# which stages are stale. Runs nothing; `$(VENV)/bin/dvc repro` would.
dvc-dag: install
	$(VENV)/bin/dvc dag
	$(VENV)/bin/dvc status

# The web page (Gradio) on http://127.0.0.1:7860 against the running server (started if
# needed). UI_ARGS: e.g. "--port 7861"; "--host 0.0.0.0" only with FACE_UI_PASSWORD set.
# LAN=1: on the local network for a phone, over HTTPS with a login (docs/web.md); CERT= KEY=:
# your own certificate (default: a self-signed one, made once and kept).
ui: serve
	DATA_DIR=$(DATA_DIR) $(PYTHON) -m ui $(if $(filter 1,$(LAN)),--lan $(if $(CERT),--cert "$(CERT)") $(if $(KEY),--key "$(KEY)")) $(UI_ARGS)

# Against the running server (started if needed), 127.0.0.1 only; run them on an idle machine.
# loadtest: 4 and 8 clients x 60 s of verify(1 + 15), then workers killed under load (the
# fault phase; `faulttest` runs it alone) -> reports/load.json. LOAD_ARGS: e.g.
# "--concurrency 2 --duration 10 --no-fault". With REPLICAS=N (N > 1) the load goes through
# nginx and the fault phase is a replica killed under load (bench/failover.py; FAILOVER_ARGS)
# -> reports/load_replicas.json. bench: end-to-end latency vs OpenCV's YuNet + SFace
# in process and vs the handler's stages, embedding throughput, every engine and lever, their
# pairsDevTest accuracy -> reports/bench.json, then the stream figures (bench-stream).
loadtest: serve
	if [ -f .serve/replicas.json ]; then \
	  DATA_DIR=$(DATA_DIR) $(PYTHON) -m bench.loadtest --out reports/load_replicas.json $(LOAD_ARGS) && \
	  DATA_DIR=$(DATA_DIR) $(PYTHON) -m bench.failover $(FAILOVER_ARGS); \
	else DATA_DIR=$(DATA_DIR) $(PYTHON) -m bench.loadtest $(LOAD_ARGS); fi

faulttest: serve
	DATA_DIR=$(DATA_DIR) $(PYTHON) -m bench.loadtest --only-fault $(LOAD_ARGS)

bench: serve bench-env
	DATA_DIR=$(DATA_DIR) $(PYTHON) -m bench.serving $(BENCH_ARGS)
	DATA_DIR=$(DATA_DIR) $(PYTHON) -m bench.stream $(STREAM_ARGS)

# The Live tab's frames/s and delay at 1 and 3 faces, gallery look-ups with and without
# tracking, names on the LFW clip, `video identify`'s speed -> reports/stream.json.
bench-stream: serve
	DATA_DIR=$(DATA_DIR) $(PYTHON) -m bench.stream $(STREAM_ARGS)

# OpenCV 4 in its own environment, for the yardstick `make bench` runs in process: OpenCV 5
# (the project's) cannot run the int8 SFace file. Re-made only when requirements-bench.txt changes.
BENCH_VENV := .venv-bench
bench-env: $(BENCH_VENV)/.installed

$(BENCH_VENV)/.installed: requirements-bench.txt
	test -x $(BENCH_VENV)/bin/python || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -r requirements-bench.txt
	touch $@

# A fresh temporary folder each run (pytest empties --basetemp first), so no test sees an
# earlier run's files or a machine-dependent numbered folder.
test: install
	DATA_DIR=$(DATA_DIR) $(PYTHON) -m pytest --basetemp="$${TMPDIR:-/tmp}/face-verify-tests" $(PYTEST_ARGS)

# The edit-run loop: the unit tests, without those that start real services (`integration`:
# TorchServe, nginx, Chromium) or run a pipeline stage (`slow`); `make test` runs them all.
test-fast: install
	DATA_DIR=$(DATA_DIR) $(PYTHON) -m pytest -m "not integration and not slow" \
	  --basetemp="$${TMPDIR:-/tmp}/face-verify-tests-fast" $(PYTEST_ARGS)

# Style and common bugs over the repository (ruff), types of client/ and handler/ (mypy);
# settings in pyproject.toml.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf cache/smoke runs/smoke .pytest_cache logs
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
