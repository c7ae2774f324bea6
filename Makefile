# The two commands: `make up` runs the whole pipeline on one machine, `make test` runs every check.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

.PHONY: bench-fairness manifests up test test-cluster bootstrap bootstrap-up tools lint type unit integration e2e deploy-check terraform-check bench bench-upload bench-throughput bench-scale clean

# UP_ARGS: flags for `gallery up`, e.g. UP_ARGS="--port 8090" (`.venv/bin/gallery up --help`).
up: bootstrap-up
	$(BIN)/gallery up $(UP_ARGS)

test: bootstrap tools
	@scripts/test.sh

test-cluster: bootstrap tools
	$(BIN)/tox run -e cluster

# Every extra (tests, linters, tox, plots); `make up` installs the runtime only.
bootstrap:
	@scripts/bootstrap.sh

bootstrap-up:
	@scripts/bootstrap.sh up

tools:
	@scripts/tools.sh
	@scripts/npm.sh
	@scripts/browser.sh
	@# SeaweedFS, the cluster's object store: tests/security/test_credentials.py tries the
	@# roles' S3 identities on it (built through the Go module proxy once, then cached).
	@scripts/cluster/build-go.sh weed >/dev/null

lint type unit integration e2e security: bootstrap tools
	$(BIN)/tox run -e $@

deploy-check: bootstrap tools
	$(BIN)/tox run -e deploy

terraform-check: bootstrap tools
	$(BIN)/tox run -e terraform

# The NACK consumer manifests from the job registry (tests/deploy checks them byte for byte).
manifests: bootstrap
	set -a && . deploy/kustomize/base/gallery.env && set +a && $(BIN)/python -m pipeline.jobs.manifests > deploy/kustomize/components/nats/consumers.yaml

bench: bootstrap
	$(BIN)/python -m bench.render

# Fairness and priority (docs/benchmarks.md, "Fairness"): ARGS="-n 1000 --runs 3 --json".
bench-fairness: bootstrap
	$(BIN)/python -m bench.fairness $(ARGS)

bench-upload: bootstrap
	@scripts/tools.sh minio
	$(BIN)/python -m bench.upload

# Ratio to the ideal and CPU per photo against the libvips floor, on `gallery up`'s defaults.
# Real photos too: `.venv/bin/python -m bench.throughput --corpus wallpapers`.
bench-throughput: bootstrap
	$(BIN)/python -m bench.throughput

# Every cost against the library's size: `make bench-scale SIZES=10000,100000`.
SIZES ?= 10000,100000,1000000
bench-scale: bootstrap
	$(BIN)/python -m bench.scale --sizes $(SIZES)

clean:
	rm -rf .tox .gallery bench/out .mypy_cache .ruff_cache .pytest_cache
