# The README's commands. Every target sets up what is missing first (idempotent, fast when present).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: run test test-slow flow serve trigger ui app bench bench-diffusion bench-vit bench-vit-sample bench-text-painter bench-pairs bench-stage-host format clean venv
PREFECT_PORT ?= 4200
MLFLOW_PORT ?= 5000
APP_PORT ?= 8000

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

## run: the whole pipeline with `dvc repro` on the defaults in params.yaml (params validated and dvc.yaml's code deps regenerated from the imports first, in the same process)
run: venv
	bash scripts/ensure-ja-font.sh
	$(PY) -m oekaki repro

## flow: the same pipeline as a Prefect flow (ARGS="--set gmm.n_artworks=500")
flow: venv
	$(PY) -m flows.pipeline $(ARGS)

## serve: the whole loop: Prefect server (unless PREFECT_API_URL is set), deployments of prefect.yaml (the trigger too), a worker, the app (:8000, APP_PORT=...); prints the addresses; Ctrl-C stops all
serve: venv
	OEKAKI_PREFECT_PORT=$(PREFECT_PORT) OEKAKI_APP_PORT=$(APP_PORT) $(PY) -m flows.serve

## trigger: run deployment training-pipeline/manual on the server `make serve` started (ARGS="--param force=true")
trigger: venv
	PREFECT_API_URL=$${PREFECT_API_URL:-http://127.0.0.1:$(PREFECT_PORT)/api} \
	  $(VENV)/bin/prefect deployment run 'training-pipeline/manual' --watch $(ARGS)

## ui: the MLflow UI on 127.0.0.1 against the project's store (one worker, no job runners: ~490 MB)
ui: venv
	$(PY) -m oekaki.pipeline.servers mlflow-ui --port $(MLFLOW_PORT)

## app: the draw-it-yourself page on 127.0.0.1 (a free port, printed; APP_PORT=8000, APP_HOST, APP_ROOT=<trained checkout>)
app: venv
	$(PY) -m oekaki.app

## test: lint, then the default test suite (slow-marked tests excluded); installs chromium if missing (root)
test: venv
	bash scripts/ensure-chromium.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -m "not slow"

## test-slow: the slow-marked tests only (deployments on real servers, e2e, resume drills, MLflow on PostgreSQL; about 11 minutes); fails when it collects none
test-slow: venv
	bash scripts/ensure-postgres.sh
	$(PY) -m pytest -m slow

## bench: pipeline overhead and the CNN comparisons (needs `make run` first), printed as tables
bench: venv
	$(PY) bench/overhead.py
	$(PY) bench/cnn.py
	$(PY) bench/vae.py

## bench-diffusion: the chosen diffusion recipe against DDPM, same network and training seconds (needs `make run`; ~13 min with ARGS="--n 500")
bench-diffusion: venv
	$(PY) bench/diffusion.py $(ARGS)

## bench-vit: CNN and ViT at 1k-60k training images, same seconds each, 3 seeds, full Fashion-MNIST (~35 min; ARGS="--mnist DIR" adds MNIST)
bench-vit: venv
	$(PY) bench/vit.py $(ARGS)

## bench-vit-sample: ViT, CNN (and the pure ViT for the stem ViT's seconds) on data/prepared.npz as their stages train them, 3 seeds; the 97 %-in-120 s goal
bench-vit-sample: venv
	$(PY) bench/vit.py --sample $(ARGS)

## bench-text-painter: the text painter's goals (adherence per attribute and language, held out vs seen) over 3 sampling seeds with their spread, its cost and FID against the pixel painter (needs `make run`; ~2 min)
bench-text-painter: venv
	$(PY) bench/text_painter.py $(ARGS)

## bench-pairs: this checkout's HEAD against a reference commit, back to back in fresh clones (REF=615be87 PAIRS=2; ~10 min a pair)
bench-pairs: venv
	$(PY) bench/pairs.py --ref $(or $(REF),615be87) --pairs $(or $(PAIRS),2)

## bench-stage-host: `python -m oekaki repro` with and without the stage host, back to back in fresh clones (PAIRS=2; ~10 min a pair)
bench-stage-host: venv
	$(PY) bench/stage_host.py --pairs $(or $(PAIRS),2)

## format: apply ruff's formatter and safe fixes
format: venv
	$(PY) -m ruff format . && $(PY) -m ruff check --fix .

## clean: remove what a run generates and git ignores under the output folders (committed files such as metrics/*.json and data/source.json stay, and the contributions store data/contributions/); asks before touching the MLflow store
# `git clean -X` removes only ignored files, so the list of generated files is the .gitignore files' list, kept in one place.
clean:
	git clean -f -d -X -e '!/data/contributions/' -- data models reports metrics .oekaki test-artifacts dvc_plots
	@read -p "Also delete the MLflow store (mlflow.db, mlartifacts/) and Prefect state (.prefect/)? [y/N] " ans; \
	  if [ "$$ans" = y ]; then rm -rf mlflow.db mlartifacts .prefect; echo removed; fi
	@echo "The DVC cache (.dvc/cache) is kept; prune it with: dvc gc --workspace"
