# Lyftr Webhook API. The project brings its own Node 24 (the `node` devDependency): every recipe runs
# with node_modules/.bin first on PATH, whatever Node the machine has.
SHELL := /bin/bash
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

# npm writes node_modules/.package-lock.json at every install, so a manual `npm ci` counts as installed too.
DEPS := node_modules/.package-lock.json
# The service as it runs: plain JavaScript that tsc emits from src/ (tsconfig.build.json). Node could run
# the sources, but its TypeScript stripper then stays in memory in both threads (about 48 MB more, the
# compile cache aside, which a fresh container never has).
BUILD := dist/.built
# The folders too: a folder's time changes when a file in it is added, removed or renamed.
SOURCES := $(shell find src -name '*.ts' -o -type d) $(wildcard src/inbox/*)
NODE_TESTS := node --test --test-concurrency=3
PORT ?= 8000
# V8 flags for the service (npm start, the Dockerfile and the bench use the same; a test keeps them so):
# a 4 MB young generation instead of 16 MB; optimising compiles on the thread that needs them rather than
# on helper threads, whose memory for it stayed resident; the old generation grown by 10 % at a time.
# Together: resident memory as with --optimize-for-size, at about a quarter less CPU a request.
NODE_FLAGS := --max-semi-space-size=4 --no-concurrent-recompilation --heap-growing-percent=10

.DEFAULT_GOAL := help
.PHONY: help build run test test-postgres soak typecheck test-webhook test-messages test-stats test-unit bench up down logs health clean deps

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-16s %s\n", $$1, $$2}'

# Installed only when missing or older than the manifest/lockfile, so a second `make run` starts at once.
$(DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(DEPS) ## Install the pinned dev toolchain (Node 24, TypeScript, c8) into node_modules

# Rebuilt only when a source, the lockfile or a tsconfig changed; emptied first so no stale module stays.
# The inbox page (src/inbox/) is compiled for the browser by its own tsconfig (DOM lib) into dist/inbox/.
$(BUILD): $(DEPS) $(SOURCES) tsconfig.json tsconfig.build.json
	rm -rf dist
	npm run --silent build
	@touch $@

build: $(BUILD) ## Type-check src/ and emit the JavaScript the service runs (dist/)

run: $(BUILD) ## Run the server in the foreground on :8000 (SQLite under ./data unless DATABASE_URL is set)
	DATABASE_URL="$${DATABASE_URL:-sqlite:///data/app.db}" exec node $(NODE_FLAGS) dist/main.js

# Dots while it runs, failures in full, then a short summary; every test's line in coverage/tests.txt and
# the coverage table in coverage/coverage.txt.
test: $(BUILD) ## Type-check, build, then run every test; a summary with the coverage total (reports in coverage/)
	tsc --noEmit -p .
	@started=$$(date +%s); rm -rf coverage; mkdir -p coverage; rc=0; \
	c8 --reporter=json-summary $(NODE_TESTS) --test-reporter=dot --test-reporter-destination=stdout \
	  --test-reporter=spec --test-reporter-destination=coverage/tests.txt 'test/**/*.test.ts' || rc=$$?; \
	c8 report --reporter=text > coverage/coverage.txt; \
	node tools/test-summary.ts coverage/tests.txt coverage/coverage-summary.json coverage/coverage.txt $$started; \
	exit $$rc

# The inbox page in chromium on PostgreSQL, and through HAProxy in front of two replicas (its own cluster database).
PG_BROWSER_TESTS := $(addprefix test/browser/,inbox.test.ts erase-export.test.ts replicas.test.ts)
# The HTTP tests whose subject is not the SQLite file, run with every app on a fresh PostgreSQL database of
# the test process's own throwaway cluster (test/postgres-cluster.ts). The engine's own suites run in
# `make test`. Without PostgreSQL: one line saying so (in CI, CI=true: a failure).
PG_HTTP_TESTS := $(addprefix test/http/,webhook.test.ts messages.test.ts stats.test.ts health.test.ts server.test.ts \
	hostile.test.ts openapi.test.ts whatsapp.test.ts erasure-export.test.ts stream.test.ts) $(PG_BROWSER_TESTS)
test-postgres: $(BUILD) ## Run the HTTP and browser tests against PostgreSQL (a throwaway cluster), and the page behind HAProxy
	@rc=0; node test/postgres-check.ts || rc=$$?; \
	if [ $$rc -eq 3 ]; then exit 0; elif [ $$rc -ne 0 ]; then exit $$rc; fi; \
	echo "TEST_ENGINE=postgres $(NODE_TESTS) $(PG_HTTP_TESTS)"; \
	TEST_ENGINE=postgres $(NODE_TESTS) $(PG_HTTP_TESTS)

# SOAK_ENGINE=postgres: replicas behind HAProxy on a throwaway PostgreSQL, each cycle a SIGKILLed replica
# or a restarted server (tools/soak-postgres.ts).
soak: $(BUILD) ## SIGKILL/restart cycles under signed load, then the signature timing check (SOAK_ENGINE=postgres: replicas)
	node tools/$(if $(filter postgres,$(SOAK_ENGINE)),soak-postgres,soak).ts

typecheck: $(DEPS) ## Type-check only (tsc --noEmit, strict)
	tsc --noEmit -p .

test-webhook: $(DEPS) ## Run the POST /webhook tests
	$(NODE_TESTS) test/http/webhook.test.ts

test-messages: $(DEPS) ## Run the GET /messages tests
	$(NODE_TESTS) test/http/messages.test.ts

test-stats: $(DEPS) ## Run the GET /stats tests
	$(NODE_TESTS) test/http/stats.test.ts

# BENCH_PHASES (bench/run.ts) names the phases to run; the inbox's first paint is the phase `inbox`.
bench: $(BUILD) ## Benchmark ingest and queries at 1M rows (a few minutes; table + bench/results.json)
	node bench/run.ts
	@if [[ -z "$$BENCH_PHASES" || ",$$BENCH_PHASES," == *,inbox,* ]]; then node bench/inbox.ts; fi

# The compose implementation (COMPOSE, else Docker's, else podman-compose), the Node base where no registry
# answers, and only the default profile (COMPOSE_PROFILES=monitoring,scale for more): tools/container-compose.ts.
up: $(DEPS) ## Build and start the container on 127.0.0.1:PORT (compose; docs/compose.md)
	node tools/container-compose.ts up

down: $(DEPS) ## Stop and remove the containers (the data volume stays)
	node tools/container-compose.ts down

logs: $(DEPS) ## Follow the service's logs
	node tools/container-compose.ts logs

health: ## Ask the running service whether it is live and ready
	@curl -fsS http://localhost:$(PORT)/health/live && echo
	@curl -sS http://localhost:$(PORT)/health/ready && echo

.PHONY: send ops-check container-check
# What `make send` passes on reaches the script as given, from the command line or the environment: a `$`
# in a body is the sender's text, never a make variable or function (`$(shell ...)` would run).
override export BODY := $(value BODY)
override export ARGS := $(value ARGS)
override export URL := $(value URL)
send: $(DEPS) ## Sign BODY='{...}' (default: a sample message) and POST it to localhost:PORT/webhook; ARGS='--scheme standard --count 100 ...', ARGS='sign ...'
	@node scripts/send.ts $${ARGS} --url "$${URL:-http://localhost:$(PORT)}" $${BODY:+"$$BODY"}

ops-check: $(DEPS) ## promtool checks: live /metrics, ops/prometheus config, alert rules and their tests (PROMTOOL=path)
	node tools/ops-check.ts

container-check: $(DEPS) ## Build the image on a local Node 24 base, run it as docker-compose.yml does, check it (root, podman)
	node tools/container-check.ts

clean: ## Remove installed packages and reports (never ./data)
	rm -rf node_modules coverage dist
