# Creating APIs course. Two commands on a fresh machine:
#   make lab    set up .venv if needed and open the course in JupyterLab (JUPYTER_ARGS=--no-browser ...)
#   make test   set up .venv if needed and run every test, notebooks included
# Every target (re)builds .venv first when it is missing or older than pyproject.toml / constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.course-api-installed
KERNEL := course-api
JUPYTER_ARGS ?=
# JupyterLab refuses to run as root unless told to (containers and CI machines often are root).
LAB_ROOT := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)
PYTEST_ARGS ?=
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help setup kernel lab test test-fast lint serve train doctor exercises run-notebooks grade bench screenshots site lock clean

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
	  "The course needs Python 3.11 or newer; $(PYTHON) is " + sys.version.split()[0] + ". Run e.g. make $(MAKECMDGOALS) PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[lab,site,test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (course-api)" >/dev/null
	$(BIN)/python -m course_api.lab >/dev/null
	@touch $@
	@echo "Environment ready in $(VENV) (Jupyter kernel '$(KERNEL)' registered)."
	@echo "To type course-api commands yourself, activate it first: source $(VENV)/bin/activate"
	@echo "(PowerShell: $(VENV)\\Scripts\\Activate.ps1), or use the make targets: make help."

setup: $(STAMP) ## create or update .venv with the pinned versions and register the Jupyter kernel

kernel: $(STAMP) ## re-register the Jupyter kernel 'course-api' for this .venv
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (course-api)"

lab: $(STAMP) ## open the course in JupyterLab (pass options with JUPYTER_ARGS)
	@$(BIN)/python -m course_api.lab trust notebooks exercises solutions
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" notebooks/00_setup.ipynb $(LAB_ROOT) $(JUPYTER_ARGS)

test: $(STAMP) ## run every test, notebooks included
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The markers are registered (and described) in pyproject.toml; notebooks collected by nbval count as "kernel".
SYSTEM_TESTS := browser or kernel or docker or load or wrk or subprocess or slow
test-fast: $(STAMP) ## the quick loop (under a minute): every test but browser, kernel, docker, load, wrk, subprocess, slow
	$(BIN)/python -m pytest -m "not ($(SYSTEM_TESTS))" $(PYTEST_ARGS)

lint: $(STAMP) ## ruff check, ruff format --check and mypy (all configured in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

serve: $(STAMP) ## run the course server on http://127.0.0.1:8000 (PORT=8001, DEVICE=cuda)
	$(BIN)/course-api serve $(if $(PORT),--port $(PORT)) $(if $(DEVICE),--device $(DEVICE))

train: $(STAMP) ## retrain both models and rewrite the shipped weights and model card (DEVICE=cuda)
	$(BIN)/course-api train $(if $(DEVICE),--device $(DEVICE))

exercises: $(STAMP) ## regenerate exercises/ from solutions/ (commit both)
	$(BIN)/course-api build-exercises

run-notebooks: $(STAMP) ## run every walkthrough and solution (DEVICE=cuda OUTPUT=dir PARAMS="base_url=None")
	$(BIN)/course-api run-notebooks $(if $(DEVICE),--device $(DEVICE)) $(if $(OUTPUT),--output $(OUTPUT)) \
	  $(foreach p,$(PARAMS),-p $(p))

grade: $(STAMP) ## grade a class: make grade SUBMISSIONS=folder (OUTPUT=grades JOBS=2 TIMEOUT=120)
	@test -n "$(SUBMISSIONS)" || { echo "Say where the worksheets are: make grade SUBMISSIONS=folder (a folder per student)"; exit 2; }
	$(BIN)/course-api grade "$(SUBMISSIONS)" --output "$(or $(OUTPUT),grades)" $(if $(JOBS),--jobs $(JOBS)) \
	  $(if $(TIMEOUT),--timeout $(TIMEOUT))

bench: $(STAMP) ## load-test the server with wrk on 127.0.0.1, then 20 s of mixed load with nothing lost (DEVICE=cuda, BENCH_ARGS=--quick)
	$(BIN)/python -m benchmarks.run $(if $(DEVICE),--device $(DEVICE)) $(BENCH_ARGS)
	$(BIN)/python -m benchmarks.nothing_lost $(if $(DEVICE),--device $(DEVICE))

screenshots: $(STAMP) ## retake the README's screenshots of /docs and /playground (needs Chromium)
	COURSE_API_SCREENSHOTS=docs/images $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_browser.py -k "swagger_ui_renders or playground_predicts"

site: $(STAMP) ## build the course website into site/ (SOLUTIONS=collapsed adds the worked answers, folded)
	$(BIN)/course-api build-site $(if $(SOLUTIONS),--solutions $(SOLUTIONS))

doctor: $(STAMP) ## check versions, device, weights and the Jupyter kernel
	$(BIN)/course-api doctor

lock: ## re-resolve the newest versions allowed by pyproject.toml into constraints.txt
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet -e ".[lab,site,test]"
	{ sed -n '1,3p' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable \
	  | grep -v '^course-api' | sed 's/^torch==\([0-9.]*\)+cpu/torch==\1/'; } > constraints.new
	mv constraints.new constraints.txt && rm -rf .lock-venv

clean: ## remove .venv, caches, test artifacts, runs/ and site/ (the weights and notebooks stay)
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache test-artifacts runs build site *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
