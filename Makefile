# Every target sets itself up: a fresh clone needs only python3 (3.11+), make and git.
SHELL := /bin/bash
# Python may cache bytecode here even where the environment forbids it: pytest
# rewrites the asserts of every plugin's package (hypothesis, nbval, anyio, ...),
# and without its cache each test process redoes that, about 4 s of CPU apiece.
# The caches are in .venv/ and in __pycache__/ folders, which git ignores.
unexport PYTHONDONTWRITEBYTECODE
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed
MATHJAX := _mathjax/mathjax/es5/tex-chtml-full.js
# nbval's flags are in pyproject.toml's addopts, so a bare `pytest` uses them too.
PYTEST_FLAGS := -n auto --dist loadfile
# Everything ruff checks and formats.
CODE := softmaxlib booktools tests chapters benchmarks scripts _ext conftest.py

.DEFAULT_GOAL := help
.PHONY: help setup book test test-thorough test-book test-portable test-oldest lint format execute lab notebook clean lock bench pdf mutate

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes \
		-r requirements-bootstrap.lock

# `uv pip sync` makes .venv exactly the lock: nothing missing, nothing left over
# (requirements-overrides.txt names what every lock leaves out, and why).
# --compile-bytecode compiles SymPy, Matplotlib and Jupyter once, at install time,
# not in the first kernel or test process that imports them.
# booktools/ is the book's own tooling (benchmark harness, book build, PDF), a
# package of its own so that softmaxlib's wheel holds the library alone.
$(STAMP): $(UV) requirements.lock requirements-overrides.txt pyproject.toml booktools/pyproject.toml
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) --require-hashes requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	$(UV) pip install --quiet --python $(PY) --no-deps -e booktools
	@touch $@

$(MATHJAX): $(STAMP) scripts/fetch_mathjax.py
	$(PY) scripts/fetch_mathjax.py _mathjax

# In a git clone: the pre-commit hook (.pre-commit-config.yaml) and nbdime's diff
# and merge drivers for the notebooks (.gitattributes), both running from .venv.
HOOKS := $(VENV)/.hooks
$(HOOKS): $(STAMP) .pre-commit-config.yaml
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		$(VENV)/bin/pre-commit install --overwrite >/dev/null && \
		git config diff.jupyternotebook.command "$(CURDIR)/$(VENV)/bin/git-nbdiffdriver diff" && \
		git config merge.jupyternotebook.name "nbdime notebook merge" && \
		git config merge.jupyternotebook.driver \
			"$(CURDIR)/$(VENV)/bin/git-nbmergedriver merge %O %A %B %L %P" && \
		echo "git: pre-commit hook and nbdime drivers set up"; \
	fi
	@touch $@

setup: $(STAMP) $(MATHJAX) $(HOOKS)  ## create .venv with the locked dependencies and MathJax

# The preface links to _build/download/softmax-book-notebooks.zip (the chapters, a
# softmaxlib wheel and pinned requirements), which the build writes first and Sphinx
# copies into the site (booktools/download.py).
book: setup  ## build the HTML book into _build/html (warnings are errors) and its notebooks' zip
	$(PY) scripts/build_book.py

pdf: setup  ## print the book to _build/pdf/book.pdf with headless Chromium (apt-get install chromium)
	$(PY) scripts/build_pdf.py

# actionlint checks .github/workflows offline; its shellcheck and pyflakes passes are
# off because those tools are on some machines and not others.
lint: setup  ## ruff on the code and the notebooks, actionlint on the CI workflow
	$(VENV)/bin/ruff check $(CODE)
	$(VENV)/bin/ruff format --check $(CODE)
	$(VENV)/bin/actionlint -shellcheck= -pyflakes=

format: setup  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix $(CODE)
	$(VENV)/bin/ruff format $(CODE)

# pytest-xdist runs one worker per core (-n auto), so each worker's BLAS gets one
# thread: two workers spinning two OpenBLAS threads each on two cores made the run
# a third slower. The stored outputs come from `make execute`, which uses every core,
# so the tests still compare a one-thread run with a many-thread one.
ONE_BLAS_THREAD = OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

test: lint  ## lint, unit tests, doctests, strict nbval on every chapter, then test-portable
	$(ONE_BLAS_THREAD) $(VENV)/bin/pytest $(PYTEST_FLAGS) -m "not book"
	@$(MAKE) --no-print-directory test-portable

# The library's unit tests and doctests with the thorough profile (tests/lib/_profile.py):
# more hypothesis examples, every layout with every reduction at the switch sizes,
# scikit-learn's checks for every solver. `make test` runs the default profile, which
# crosses the same switch points in a fraction of the time; CI (.ci/run) runs both.
test-thorough: setup  ## the library's unit tests with the thorough profile (CI runs it)
	SOFTMAXLIB_TESTS=thorough $(ONE_BLAS_THREAD) $(VENV)/bin/pytest $(PYTEST_FLAGS) softmaxlib tests/lib

# The built book's own tests (marker `book`) take longer than all the rest on two
# cores, so they have their own target, which CI runs: every page of _build/html in
# headless Chromium with the network cut off, and the book printed to PDF.
test-book: book  ## build the book, then test its pages in Chromium and its PDF
	BOOK_HTML=$(CURDIR)/_build/html $(ONE_BLAS_THREAD) $(VENV)/bin/pytest $(PYTEST_FLAGS) -m book

# NumPy's baseline code paths: every SIMD target it could dispatch to is switched off,
# so the notebooks meet the arithmetic of another CPU (BLAS on one thread, as above).
# (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are left as the machine has them.)
PORTABLE_ENV = NPY_DISABLE_CPU_FEATURES="$$($(PY) scripts/cpu_dispatch.py)" $(ONE_BLAS_THREAD)

test-portable: setup  ## every notebook again under nbval, on NumPy's baseline SIMD with one BLAS thread
	@echo "portability pass: NPY_DISABLE_CPU_FEATURES=\"$$($(PY) scripts/cpu_dispatch.py)\", one BLAS thread"
	$(PORTABLE_ENV) $(VENV)/bin/pytest $(PYTEST_FLAGS) -p no:hypothesispytest chapters

# The declared floors of numpy and scipy (pyproject.toml), tested: a separate
# environment with exactly those versions (requirements-oldest.lock) runs the
# library's unit tests and doctests (tests/lib, softmaxlib); the book's and the
# repository's tests (tests/book) need the full environment and are left out.
OLDEST := .venv-oldest
OLDEST_STAMP := $(OLDEST)/.installed

$(OLDEST_STAMP): $(UV) requirements-oldest.lock pyproject.toml booktools/pyproject.toml
	rm -rf $(OLDEST)
	$(PYTHON) -m venv --without-pip $(OLDEST)
	$(UV) pip install --quiet --compile-bytecode --python $(OLDEST)/bin/python \
		--require-hashes --override requirements-overrides.txt -r requirements-oldest.lock
	$(UV) pip install --quiet --python $(OLDEST)/bin/python --no-deps -e .
	$(UV) pip install --quiet --python $(OLDEST)/bin/python --no-deps -e booktools
	@touch $@

test-oldest: $(OLDEST_STAMP)  ## the library's tests on the oldest NumPy and SciPy it supports
	@$(OLDEST)/bin/python -c 'import numpy, scipy; print("numpy", numpy.__version__, "scipy", scipy.__version__)'
	$(ONE_BLAS_THREAD) $(OLDEST)/bin/pytest $(PYTEST_FLAGS) softmaxlib tests/lib

# Mutation testing of softmaxlib/ (mutmut 3, configured in pyproject.toml): every
# mutant runs the unit tests and doctests that call its function, one forked worker
# per core; not part of `make test`. It works in a copy under _build/mutate/ and
# keeps its results there, so a second run tests only the functions that changed
# since, and then every mutant that survived before and is not reviewed in
# mutation/equivalent.toml once more (the tests may have changed).
# MUTANTS="softmaxlib._loss.*" tests a part (all of it again); MUTATE_SAMPLE=100
# (again) the same random 100 mutants of each module, and the report scores
# those, an estimate that takes a fraction of the time; MUTATE_FRESH=1 starts
# over. The report, the score per module and every mutant not killed with its
# line, is mutation/REPORT.md; mutation/equivalent.toml holds the mutants
# reviewed as equivalent (no observable difference), each with its reason.
MUTATE_DIR := _build/mutate
# (nproc alone prints OMP_NUM_THREADS when that is set: one worker, not one a core)
MUTMUT = $(ONE_BLAS_THREAD) $(CURDIR)/$(VENV)/bin/mutmut run \
	--max-children $$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)

mutate: setup  ## mutation testing of softmaxlib/ (mutmut); writes mutation/REPORT.md
	@if [ -n "$(MUTATE_FRESH)" ]; then rm -rf $(MUTATE_DIR); fi
	rm -rf $(MUTATE_DIR)/softmaxlib $(MUTATE_DIR)/tests
	mkdir -p $(MUTATE_DIR)/tests
	cp -a softmaxlib pyproject.toml conftest.py nbval_sanitize.cfg $(MUTATE_DIR)/
	cp -a tests/lib $(MUTATE_DIR)/tests/
	@set -f; start=$$(date +%s); \
	cd $(MUTATE_DIR) || exit 1; \
	if [ -n "$(MUTATE_SAMPLE)" ]; then \
		$(MUTMUT) $$(cd $(CURDIR) && $(PY) scripts/mutation_report.py $(MUTATE_DIR) \
			--sample $(MUTATE_SAMPLE) --list-sample) || exit 1; \
	elif [ -n "$(MUTANTS)" ]; then \
		$(MUTMUT) $(MUTANTS) || exit 1; \
	else \
		survivors="$$(cd $(CURDIR) && $(PY) scripts/mutation_report.py $(MUTATE_DIR) \
			--survivors --equivalent mutation/equivalent.toml)"; \
		$(MUTMUT) || exit 1; \
		if [ -n "$$survivors" ]; then \
			echo "the $$(echo $$survivors | wc -w) mutants that survived the last run, again:"; \
			$(MUTMUT) $$survivors || exit 1; \
		fi; \
	fi; \
	echo "$$(( $$(date +%s) - start ))" > last_run_seconds; \
	echo "make mutate: $$(cat last_run_seconds) s"
	$(PY) scripts/mutation_report.py $(MUTATE_DIR) --output mutation/REPORT.md \
		--equivalent mutation/equivalent.toml $(if $(MUTATE_SAMPLE),--sample $(MUTATE_SAMPLE))

execute: setup  ## re-run every chapter in place (no timing metadata); NB=path for one
	$(PY) scripts/execute_notebooks.py $(or $(NB),chapters/*.ipynb)

lab: setup  ## start JupyterLab in the project's environment
	$(VENV)/bin/jupyter lab chapters

notebook: lab  ## alias of lab

bench: setup  ## run the benchmarks (prints ratios; writes benchmarks/results/*.json)
	@# torch is an optional peer: taken only from a wheel already on this disk
	@# (never the multi-GB download); the torch column is left out without it.
	-@$(PY) -c "import torch" 2>/dev/null || $(VENV)/bin/pip install --quiet \
		--find-links /opt/wheels "torch==2.13.0+cpu" 2>/dev/null || echo "torch not available"
	$(PY) benchmarks/bench_softmax.py
	$(PY) benchmarks/bench_regression.py
	$(PY) benchmarks/bench_linear.py

# One lock for every reader: --universal resolves for Linux, macOS and Windows and
# for every Python from 3.11 on, with environment markers where they differ
# (tests/book/test_lock.py dry-runs the install for each platform, on 3.11 and 3.13).
# The existing lock is the output file, so uv keeps its pins wherever they still fit.
LOCK := $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes --override requirements-overrides.txt

lock: $(UV)  ## re-resolve requirements*.in into requirements*.lock (every platform, hashes)
	$(LOCK) requirements.in -o requirements.lock
	$(LOCK) requirements-bootstrap.in -o requirements-bootstrap.lock
	$(LOCK) requirements-oldest.in -o requirements-oldest.lock

clean:  ## remove _build, MathJax copy and caches (keeps .venv)
	rm -rf _build _mathjax .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
