# The two commands: `make up` runs the whole pipeline on one machine, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: up test test-cluster bootstrap tools lint type unit integration e2e deploy-check terraform-check bench bench-upload bench-throughput clean

up: bootstrap
	$(BIN)/gallery up

test: bootstrap tools
	@scripts/test.sh

test-cluster: bootstrap tools
	$(BIN)/tox run -e cluster

bootstrap:
	@scripts/bootstrap.sh

tools:
	@scripts/tools.sh
	@scripts/npm.sh
	@scripts/browser.sh

lint type unit integration e2e security: bootstrap tools
	$(BIN)/tox run -e $@

deploy-check: bootstrap tools
	$(BIN)/tox run -e deploy

terraform-check: bootstrap tools
	$(BIN)/tox run -e terraform

bench: bootstrap
	$(BIN)/python -m bench.render

bench-upload: bootstrap
	@scripts/tools.sh minio
	$(BIN)/python -m bench.upload

# Ratio to the ideal and CPU per photo against the libvips floor, on `gallery up`'s defaults.
# Real photos too: `.venv/bin/python -m bench.throughput --corpus wallpapers`.
bench-throughput: bootstrap
	$(BIN)/python -m bench.throughput

clean:
	rm -rf .tox .gallery bench/out .mypy_cache .ruff_cache .pytest_cache
