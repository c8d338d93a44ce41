# hygiene.winpatch developer entry points.
#   make demo   install into .venv, start the lab's demo fleet and run the compliance sweep against it
#   make test   install into .venv and run the whole suite (unit, integration, lint, sanity, both ansible-core ends)
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
# The newest Python on the machine: on PATH, or one of pyenv's installed versions.
NEW_PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 $$(ls -d $$HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V -r); do \
	"$$p" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1 && { command -v "$$p" || echo "$$p"; break; }; done)
VENV ?= .venv
NEW_VENV ?= .venv-newest
BUILD := .build
COLLECTIONS := $(CURDIR)/$(BUILD)/collections
COLL_LINK := $(COLLECTIONS)/ansible_collections/hygiene/winpatch
ANSIBLE_WHEEL_SPEC := ansible>=12,<13
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export PYTHONPATH := $(COLLECTIONS):$(CURDIR)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
PY := $(CURDIR)/$(VENV)/bin/python
BIN := $(CURDIR)/$(VENV)/bin

.PHONY: help venv collections browser demo test unit integration lint sanity newest newest-sanity bench bench-lab changelog clean

help:
	@echo "make demo   - install everything and run the compliance sweep against the lab's demo fleet"
	@echo "make test   - install everything and run the whole test suite"
	@echo "make bench  - benchmark the sweep against 'ansible -m raw' on 1,000 lab hosts"
	@echo "make bench-lab - requests/second with pywinrm against one lab process and against several"

$(VENV)/.installed: requirements.txt tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q 'ansible-core>=2.19,<2.20' -r tests/requirements.txt
	touch $@

venv: $(VENV)/.installed collections

# The repository root is the collection; link it where ansible looks for collections, and
# unpack ansible.windows (a dependency) from the ansible community package on PyPI.
collections: $(VENV)/.installed
	@mkdir -p $(dir $(COLL_LINK))
	@[ -L $(COLL_LINK) ] || ln -sfn $(CURDIR) $(COLL_LINK)
	@if [ ! -f $(COLLECTIONS)/ansible_collections/ansible/windows/MANIFEST.json ]; then \
		rm -rf $(BUILD)/wheels && mkdir -p $(BUILD)/wheels && \
		$(BIN)/pip download -q --no-deps -d $(BUILD)/wheels '$(ANSIBLE_WHEEL_SPEC)' && \
		$(PY) -c "import glob,zipfile,sys; z=zipfile.ZipFile(glob.glob('$(BUILD)/wheels/ansible-*.whl')[0]); \
			[z.extract(n, '$(COLLECTIONS)') for n in z.namelist() if n.startswith('ansible_collections/ansible/windows/')]" && \
		rm -rf $(BUILD)/wheels; fi

demo: venv
	$(PY) -m tests.demo

test: venv
	$(MAKE) --no-print-directory unit integration lint sanity newest

unit: venv
	$(BIN)/pytest -q -n 2 tests/unit

# The dashboard test needs headless Chromium from Debian's packages; install it when we may (root or sudo).
browser:
	@bash tests/tools/install_chromium.sh || echo "chromium not installed: the browser tests will skip (set WINPATCH_REQUIRE_BROWSER=1 to fail instead)"

integration: venv browser
	$(BIN)/pytest -q tests/integration

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint --profile production --offline
	$(BIN)/antsibull-changelog lint

# ansible-test must run from a path that ends in ansible_collections/<ns>/<name>: run it on a copy of the
# tracked files. Its sanity venvs bootstrap pip from a host outside the package registries, so seed its
# cache with tests/tools/get_pip_standin.py first (see that file).
define run_sanity
	@rm -rf $(BUILD)/sanity && mkdir -p $(BUILD)/sanity/ansible_collections/hygiene/winpatch
	@git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C $(BUILD)/sanity/ansible_collections/hygiene/winpatch
	@v=$$($(1)/bin/python -c "import re,ansible_test._internal.python_requirements as m; \
		print(re.search(r\"pip='([0-9.]+)'\", open(m.__file__).read()).group(1))") && \
		mkdir -p $$HOME/.ansible/test/cache && cp tests/tools/get_pip_standin.py $$HOME/.ansible/test/cache/get_pip_$${v//./_}.py
	cd $(BUILD)/sanity/ansible_collections/hygiene/winpatch && git init -q && git add -A && \
		$(1)/bin/ansible-test sanity --python $(2) --color no 2>&1 | grep -v -E '^(WARNING: Location|Collecting|Downloading|Installing|Successfully|Looking in|  |Processing|Requirement|Using cached)'; \
		exit $${PIPESTATUS[0]}
endef

sanity: venv
	$(call run_sanity,$(CURDIR)/$(VENV),3.11)

# The other end of the supported range: the newest ansible-core on the newest Python here, unit + sanity.
newest: venv
	@if [ -z "$(NEW_PYTHON)" ]; then echo "no python3.12/3.13 here; skipping the newest-ansible-core run"; exit 0; fi; \
	[ -f $(NEW_VENV)/.installed ] || { $(NEW_PYTHON) -m venv $(NEW_VENV) && $(NEW_VENV)/bin/pip install -q --upgrade pip && \
		$(NEW_VENV)/bin/pip install -q 'ansible-core>=2.20' -r tests/requirements.txt && touch $(NEW_VENV)/.installed; }; \
	$(NEW_VENV)/bin/python -c "import sys, ansible.release as r; print(\"ansible-core\", r.__version__, \"on Python\", sys.version.split()[0])"; \
	$(NEW_VENV)/bin/pytest -q -n 2 tests/unit
	@if [ -n "$(NEW_PYTHON)" ]; then $(MAKE) --no-print-directory newest-sanity; fi

newest-sanity:
	$(call run_sanity,$(CURDIR)/$(NEW_VENV),$(shell $(NEW_PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null))

bench: venv
	$(PY) -m tests.bench.sweep

# Bounded (a few seconds per case); options: BENCH_LAB_ARGS="--processes 1,2,4 --seconds 10 --transport ntlm"
bench-lab: venv
	$(PY) -m tests.bench.lab_bench $(BENCH_LAB_ARGS)

changelog: venv
	$(BIN)/antsibull-changelog lint

clean:
	rm -rf $(BUILD) $(VENV) $(NEW_VENV)
