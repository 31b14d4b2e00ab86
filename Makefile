# The one task runner: humans, hooks and CI all call these targets.
SHELL := /bin/bash
UV ?= uv
PY := $(UV) run --frozen

.PHONY: help bootstrap sync up up-infra down status demo test unit test-only lint format bench bench-plot bench-download load chaos images compose-test asyncapi clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

bootstrap: ## install system packages, uv; build FerretDB, MinIO and the Kubernetes tools (cached in ~/.cache/cdds)
	@bash scripts/bootstrap.sh

sync: bootstrap ## install the Python workspace (.venv) from uv.lock
	@$(UV) sync --frozen --quiet

up: sync ## start infrastructure and the four services; idempotent
	@$(PY) cdds-stack up

up-infra: sync ## start only RabbitMQ, PostgreSQL, FerretDB and MinIO
	@$(PY) cdds-stack up --infra-only

down: ## stop everything started by `make up` (and a `make chaos` stack left behind)
	@if [ -x .venv/bin/cdds-stack ]; then .venv/bin/cdds-stack down; fi
	@if [ -x .venv/bin/python ]; then .venv/bin/python -m cdds_tools.chaos --down; fi

status: ## each process, its pid and health
	@$(PY) cdds-stack status

demo: up ## the main job end to end: sample UCS data, a user with a certificate, an export, download, decrypt, verify
	@$(PY) python scripts/demo.py

BENCH_INTERACTIONS ?= 200000
BENCH_PLOT_SIZES ?= 10000 50000 200000 1000000
BENCH_ARGS ?=
bench: up ## export BENCH_INTERACTIONS (default 200k) through the services, gzip, pigz and the source floor
	@set -a && . .local/stack.env && set +a && \
		$(PY) python -m cdds_tools.bench.run --interactions $(BENCH_INTERACTIONS) $(BENCH_ARGS)

bench-plot: up ## make bench at each of BENCH_PLOT_SIZES with 1 and 2 pairs, then docs/bench-*.png
	@set -a && . .local/stack.env && set +a && for size in $(BENCH_PLOT_SIZES); do \
		$(PY) python -m cdds_tools.bench.run --interactions $$size --workers 1,2 $(BENCH_ARGS) \
		|| exit 1; done
	@$(PY) python -m cdds_tools.bench.plot --out docs

BENCH_DOWNLOAD_ARGS ?=
bench-download: up ## one ~35 MB file through the gateway vs a presigned GET from MinIO, single and 8 at once, both download modes
	@set -a && . .local/stack.env && set +a && \
		$(PY) python -m cdds_tools.bench.download $(BENCH_DOWNLOAD_ARGS)

LOAD_ARGS ?=
load: up ## 50 clients for 30 s on the gateway's lists (runs, artifacts, a run): status counts, p50/p99
	@set -a && . .local/stack.env && set +a && \
		$(PY) python -m cdds_tools.load.run $(LOAD_ARGS)

CHAOS_ARGS ?=
chaos: sync ## outages and SIGKILLs mid-run on a private stack (.local/chaos/, ports 25700-25712); docs/chaos.md
	@$(PY) python -m cdds_tools.chaos $(CHAOS_ARGS)

images: sync ## build the four service images from their Dockerfiles with podman (local base-image stand-ins, cached in ~/.cache/cdds/images)
	@$(PY) python -m cdds_tools.images.build

compose-test: sync ## images, then docker-compose.yml up on local server stand-ins, an export through it, and down leaving nothing
	@$(PY) python -m cdds_tools.images.compose_test

asyncapi: sync ## regenerate docs/asyncapi.yaml, docs/asyncapi-integration.yaml and docs/schemas/integration/ from the code
	@$(PY) faststream docs gen --factory cdds_tools.asyncapi:create_app --yaml --out docs/asyncapi.yaml
	@$(PY) faststream docs gen --factory cdds_tools.asyncapi_integration:create_app --yaml \
		--out docs/asyncapi-integration.yaml
	@$(PY) python -m cdds_tools.asyncapi_integration docs/schemas/integration

lint: sync ## the lock matches pyproject, ruff + mypy (strict on cms/, client/, shared/, services/, tools/ and docs/examples/) + deptry (declared = imported)
	@$(UV) lock --check --quiet
	@$(PY) ruff check .
	@$(PY) ruff format --check .
	@$(PY) mypy
	@for member in cms shared services/* tools client; do \
		$(PY) deptry --config $$member/pyproject.toml $$member/src || exit 1; done
	@$(PY) deptry tests scripts docs/examples

format: sync ## apply ruff's formatting and safe fixes
	@$(PY) ruff format .
	@$(PY) ruff check --fix .

test: lint ## lint, then every test against the real servers (started if needed)
	@$(PY) pytest

unit: sync ## the unit tests only: no server, in-memory fakes of the ports (seconds)
	@$(PY) pytest -m unit -q -p no:cacheprovider

test-only: sync ## the tests without lint
	@$(PY) pytest

clean: ## stop everything and delete all local data and logs (.local/)
	@if [ -x .venv/bin/cdds-stack ]; then .venv/bin/cdds-stack clean; else rm -rf .local; fi
