# wcbundle developer targets. `make demo` and `make test` are the README's two commands.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test unit integration bats lint lab mutants bench world setup sysdeps clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

sysdeps:                       ## Debian packages the builder, tests and lab need (root)
	scripts/sysdeps.sh

demo: sysdeps setup            ## build a real EL7 bundle from the local fixture world
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/demo.sh

world: setup                   ## build (or reuse) the fixture world
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m scripts.world build

lint: setup
	$(BIN)/ruff check bundler scripts tests
	scripts/shellcheck.sh
	python3 scripts/bash42_lint.py installer_stub/install.sh installer_stub/lib/*.sh installer_stub/roles/*.sh

unit: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q tests/unit

integration: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q tests/integration

bats:
	bats tests/bats

test: sysdeps setup lint       ## everything CI runs except the cluster lab
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q tests/unit tests/integration tests/lab
	bats tests/bats

lab: sysdeps setup             ## real Galera + RabbitMQ clusters in network namespaces
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/lab/run.sh

mutants: sysdeps setup         ## the lab on two broken installer copies: each must make it fail (root)
	PATH="$(CURDIR)/$(BIN):$$PATH" scripts/lab/mutants.sh

bench: setup                   ## resolve vs dnf, fetch vs link floor, warm rebuild
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m scripts.bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache out
