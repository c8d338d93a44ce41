# hygiene.winpatch developer entry points.
#   make demo   install into .venv, start the lab's demo fleet and run the compliance sweep against it
#   make test   install into .venv and run the whole suite (unit, integration, lint, sanity, both ansible-core ends)
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
NEW_PYTHON ?= $(shell for p in python3.13 python3.12; do command -v $$p >/dev/null 2>&1 && $$p -c 'import sys' 2>/dev/null && { echo $$p; break; }; done)
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

.PHONY: help venv collections demo test unit integration lint sanity newest bench changelog clean

help:
	@echo "make demo   - install everything and run the compliance sweep against the lab's demo fleet"
	@echo "make test   - install everything and run the whole test suite"
	@echo "make bench  - benchmark the sweep against 'ansible -m raw' on 1,000 lab hosts"

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

integration: venv
	$(BIN)/pytest -q tests/integration

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/ansible-lint --profile production --offline
	$(BIN)/antsibull-changelog lint

# ansible-test must run from a path that ends in ansible_collections/<ns>/<name>; use a copy of the tracked files.
sanity: venv
	@rm -rf $(BUILD)/sanity && mkdir -p $(BUILD)/sanity/ansible_collections/hygiene/winpatch
	@git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C $(BUILD)/sanity/ansible_collections/hygiene/winpatch
	cd $(BUILD)/sanity/ansible_collections/hygiene/winpatch && git init -q && git add -A && \
		$(BIN)/ansible-test sanity --python 3.11 --skip-test pylint --color no

# The other end of the supported range: the newest ansible-core on the newest Python here, unit + sanity.
newest: venv
	@if [ -z "$(NEW_PYTHON)" ]; then echo "no python3.12/3.13 here; skipping the newest-ansible-core run"; exit 0; fi; \
	[ -f $(NEW_VENV)/.installed ] || { $(NEW_PYTHON) -m venv $(NEW_VENV) && $(NEW_VENV)/bin/pip install -q --upgrade pip && \
		$(NEW_VENV)/bin/pip install -q 'ansible-core>=2.20' -r tests/requirements.txt && touch $(NEW_VENV)/.installed; }; \
	$(NEW_VENV)/bin/ansible --version | head -1; \
	$(NEW_VENV)/bin/pytest -q -n 2 tests/unit

bench: venv
	$(PY) -m tests.bench.sweep

changelog: venv
	$(BIN)/antsibull-changelog lint

clean:
	rm -rf $(BUILD) $(VENV) $(NEW_VENV)
