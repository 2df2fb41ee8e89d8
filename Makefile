# Creating APIs course. Two commands on a fresh machine:
#   make lab    set up .venv if needed and open the course in JupyterLab (JUPYTER_ARGS=--no-browser ...)
#   make test   set up .venv if needed and run every test, notebooks included
# Every target calls course.py (standard-library Python, the same on Windows without make), which (re)builds .venv
# first when it is missing or was built from another pyproject.toml, constraints.txt or PyTorch build.
# TORCH=auto|cpu|cuda chooses the PyTorch build (auto: CPU-only on Linux without an NVIDIA driver).

PYTHON ?= python3
COURSE := $(PYTHON) course.py $(if $(TORCH),--torch $(TORCH))
JUPYTER_ARGS ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup kernel lab test test-fast lint serve train doctor exercises run-notebooks grade bench screenshots site lock clean

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'
	@echo "  (the same without make: $(PYTHON) course.py help)"

setup: ## create or update .venv with the pinned versions and register the Jupyter kernel (TORCH=cpu)
	$(COURSE) setup

kernel: ## re-register the Jupyter kernel 'course-api' for this .venv
	$(COURSE) kernel

lab: ## open the course in JupyterLab (pass options with JUPYTER_ARGS)
	$(COURSE) lab $(JUPYTER_ARGS)

test: ## run every test, notebooks included
	$(COURSE) test $(PYTEST_ARGS)

test-fast: ## the quick loop (under a minute): every test but browser, kernel, docker, load, wrk, subprocess, slow
	$(COURSE) test-fast $(PYTEST_ARGS)

lint: ## ruff check, ruff format --check and mypy (all configured in pyproject.toml)
	$(COURSE) lint

serve: ## run the course server on http://127.0.0.1:8000 (PORT=8001, DEVICE=cuda, WORKERS=2)
	$(COURSE) serve $(if $(PORT),--port $(PORT)) $(if $(DEVICE),--device $(DEVICE)) $(if $(WORKERS),--workers $(WORKERS))

train: ## retrain both models and rewrite the shipped weights and model card (DEVICE=cuda)
	$(COURSE) train $(if $(DEVICE),--device $(DEVICE))

exercises: ## regenerate exercises/ from solutions/ (commit both)
	$(COURSE) exercises

run-notebooks: ## run every walkthrough and solution (DEVICE=cuda OUTPUT=dir PARAMS="base_url=None")
	$(COURSE) run-notebooks $(if $(DEVICE),--device $(DEVICE)) $(if $(OUTPUT),--output $(OUTPUT)) \
	  $(foreach p,$(PARAMS),-p $(p))

grade: ## grade a class: make grade SUBMISSIONS=folder (OUTPUT=grades JOBS=2 TIMEOUT=120)
	@test -n "$(SUBMISSIONS)" || { echo "Say where the worksheets are: make grade SUBMISSIONS=folder (a folder per student)"; exit 2; }
	$(COURSE) grade "$(SUBMISSIONS)" --output "$(or $(OUTPUT),grades)" $(if $(JOBS),--jobs $(JOBS)) \
	  $(if $(TIMEOUT),--timeout $(TIMEOUT))

bench: ## load-test the server with wrk on 127.0.0.1, then 20 s of mixed load with nothing lost (DEVICE=cuda, BENCH_ARGS=--quick)
	$(COURSE) bench $(if $(DEVICE),--device $(DEVICE)) $(BENCH_ARGS)

screenshots: ## retake the README's screenshots: /docs, /playground, a failed check (Chromium)
	$(COURSE) screenshots

site: ## build the course website into site/ (SOLUTIONS=collapsed adds the worked answers, folded)
	$(COURSE) site $(if $(SOLUTIONS),--solutions $(SOLUTIONS))

doctor: ## check versions, device, PyTorch build, weights and the Jupyter kernel
	$(COURSE) doctor

lock: ## re-resolve the newest versions allowed by pyproject.toml into constraints.txt (setup's PyTorch build)
	$(COURSE) lock

clean: ## remove .venv, caches, test artifacts, runs/, site/ and the notebooks' work/ folders (exercises/ stays)
	$(COURSE) clean
