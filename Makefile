# Two entry points for a fresh machine: `make dev` and `make test`.
# Everything they need is installed by `make install` (idempotent, fast when nothing changed).
SHELL := /bin/bash
UV_VERSION := 0.13.9
PYTHON_VERSION := 3.12
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never
export UV_COMPILE_BYTECODE := 1

.PHONY: install dev test bench doctor lint lock clean postgres audit

install: $(VENV)/.installed postgres

# Vercel's Python runtime is 3.12: prefer pyenv's build, else a python3.12 on PATH.
$(UV):
	@py=$$(scripts/find-python $(PYTHON_VERSION)) && \
	  $$py -m pip install --quiet --disable-pip-version-check --target $(TOOLS) uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	@py=$$(scripts/find-python $(PYTHON_VERSION)) && \
	  PYTHONPATH=$(TOOLS) $(UV) sync --frozen --python $$py --quiet
	@touch $@

postgres:
	@scripts/ensure-postgres

dev: install
	$(VENV)/bin/openagents dev

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: install
	$(VENV)/bin/openagents bench $(NAME)

doctor: install
	$(VENV)/bin/openagents doctor

lint: install
	$(VENV)/bin/ruff check .

# Known vulnerabilities in uv.lock (pip-audit against PyPI's JSON API; allow-list: dependency-allowlist.toml).
# Not part of `test`: CI reaches PyPI's package index only, not its JSON API (devstack/dependency_audit.py).
audit: install
	$(VENV)/bin/python -m devstack.dependency_audit
	$(VENV)/bin/mypy

lock: $(UV)
	@py=$$(scripts/find-python $(PYTHON_VERSION)) && PYTHONPATH=$(TOOLS) $(UV) lock --python $$py

clean:
	rm -rf $(VENV) $(TOOLS)
