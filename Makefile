# Sillage — build and test entry points. `make test` is what CI runs (.ci/run).
#
#   make test         install test dependencies, gofmt + vet, unit tests (kfake; the S3
#                     tests start private versitygw servers), then real Apache Kafka
#                     (scripts/kafka.sh) and an S3 server (scripts/s3.sh) for the
#                     integration and end-to-end tests; both are always stopped afterwards
#   make test-unit    unit tests only (no Kafka needed)
#   make test-accuracy  accuracy on the whole of the real data (uap-core)
#   make test-integration   real-Kafka and S3 tests only (starts and stops Kafka and S3)
#   make test-race    unit tests with the race detector (slow on 2 cores)
#   make test-spark   README's Spark recipe on a REES46 lake (installs pyspark)
#   make build | bench | lint | kafka-start | kafka-stop | s3-start | s3-stop | clean
#
# Package lists can be narrowed, e.g. `make test-unit UNIT_PKGS=./collector/...`.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

GO ?= go
UNIT_PKGS ?= ./...
VET_PKGS ?= ./...
# Suites that use internal/testkafka run again on real Kafka with -tags integration.
REAL_KAFKA_PKGS ?= ./internal/...
# Suites that use internal/tests3 run again on the server of scripts/s3.sh.
S3_PKGS ?= ./sink
S3_RUN ?= TestS3StoreStartupErrors|TestObjectStoreConformance|TestTaskRemovesIncompleteUploads|TestCompaction
# Packages also run under the race detector in `make test` (all of them is ~5x the
# CPU of a plain run on this 2-core machine: use `make test-race` for that).
RACE_PKGS ?=
BENCH_PKGS ?= ./...
BENCHTIME ?= 1s
UNIT_TIMEOUT ?= 20m
INTEGRATION_TIMEOUT ?= 20m
GOTESTFLAGS ?=
KAFKA_PORT ?= 19092
export KAFKA_PORT

.PHONY: test test-accuracy test-sdk test-spark test-browser test-deps test-deps-apt test-unit test-integration test-e2e test-race test-tag test-deps-tag \
	build bench lint vet fmt-check shellcheck kafka-install mailpit-install kafka-start kafka-stop s3-install s3-start s3-stop clean

test: test-deps lint test-unit test-accuracy test-tag test-browser test-sdk test-spark test-integration

# ---- dependencies of the tests ------------------------------------------------
# Everything a fresh machine needs beyond Go, Java 17 and Maven is installed here.
# Hooks for later issues: Chromium + playwright-core / @segment/analytics-node for
# tag/ — add them as prerequisites.
test-deps: kafka-install s3-install mailpit-install test-deps-tag test-deps-apt

# Debian packages the tests use: kcat reads the embedded broker as a newcomer would;
# curl checks and prepares the S3 test server (scripts/s3.sh).
APT_PKGS ?= kcat curl
test-deps-apt:
	@missing=""; for p in $(APT_PKGS); do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get install -y -q $$missing >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q $$missing; }; \
	fi

kafka-install:
	bash scripts/kafka.sh install

# The S3 test server: versitygw built with go install (Go module proxy) into .tools/s3.
s3-install:
	bash scripts/s3.sh install

# The real SMTP server of the e-mail workflow tests (github.com/axllent/mailpit
# through the Go module proxy, cached in .tools/mailpit/; ~1-2 min to build once).
mailpit-install:
	bash scripts/mailpit.sh install

# HOOK (tag/ browser tests): npm deps, and Debian's chromium when a test needs it.
test-deps-tag:
	@if [ -f tag/package.json ]; then \
		(cd tag && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi); \
	else echo "test-deps-tag: tag/package.json not present yet, nothing to install"; fi

# ---- checks ---------------------------------------------------------------------
lint: fmt-check vet shellcheck

# Checks the scripts when shellcheck is installed (Debian: apt-get install shellcheck).
shellcheck:
	@if command -v shellcheck >/dev/null; then shellcheck -x -s bash scripts/*.sh scripts/lib/*.sh .ci/run && echo "shellcheck: ok"; \
	else echo "shellcheck: not installed, skipping"; fi

fmt-check:
	@files=$$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'); \
	bad=$$(if [ -n "$$files" ]; then gofmt -l $$files; fi); \
	if [ -n "$$bad" ]; then echo "gofmt: these files need formatting (run gofmt -w):"; echo "$$bad"; exit 1; fi; \
	echo "gofmt: ok"

vet:
	$(GO) vet $(VET_PKGS)

# ---- tests ----------------------------------------------------------------------
# segmenter/workflow's e-mail tests start mailpit (make mailpit-install): they
# find it in .tools/mailpit/, skip without it, and fail without it under CI.
test-unit:
	SILLAGE_TEST_KAFKA_BROKERS= SILLAGE_TEST_S3_ENDPOINT= $(GO) test -count=1 -timeout $(UNIT_TIMEOUT) $(GOTESTFLAGS) $(UNIT_PKGS)
	@if [ -n "$(strip $(RACE_PKGS))" ]; then \
		echo "go test -race $(RACE_PKGS)"; \
		$(GO) test -count=1 -race -timeout $(UNIT_TIMEOUT) $(GOTESTFLAGS) $(RACE_PKGS); \
	fi

# Accuracy suites on the whole of the real data (the unit run checks samples):
# all 31,327 uap-core cases (~3 s), and the literal prefilter checked against plain
# uap-go on every uap-core and crawler-list agent (~90 s).
test-accuracy:
	$(GO) test -count=1 -run 'TestUAPCoreFixtures|TestPrefilterMatchesUAPGo' ./enricher/ua -ua.full

test-race:
	$(GO) test -count=1 -race -timeout 40m $(GOTESTFLAGS) $(UNIT_PKGS)

# Starts Kafka and the S3 server, runs the real-Kafka suites, the S3 suites and e2e/
# (whose S3 outage test runs a private server it can stop; the e-mail tests start
# their own mailpit), and stops both whatever happens.
test-integration: kafka-install s3-install mailpit-install
	@trap 'bash scripts/kafka.sh stop; bash scripts/s3.sh stop' EXIT; trap 'exit 130' INT TERM; \
	brokers=$$(bash scripts/kafka.sh start); \
	echo "real Kafka at $$brokers"; \
	s3=$$(bash scripts/s3.sh start); \
	echo "S3 server (versitygw) at $$s3"; \
	export SILLAGE_TEST_KAFKA_BROKERS=$$brokers SILLAGE_TEST_KAFKA_SCRIPT=$(CURDIR)/scripts/kafka.sh SILLAGE_TEST_S3_ENDPOINT=$$s3; \
	export SILLAGE_TEST_MAILPIT=$$(bash scripts/mailpit.sh path); \
	$(GO) test -count=1 -tags integration -timeout $(INTEGRATION_TIMEOUT) $(GOTESTFLAGS) $(REAL_KAFKA_PKGS); \
	$(GO) test -count=1 -tags integration -timeout $(INTEGRATION_TIMEOUT) $(GOTESTFLAGS) -run '$(S3_RUN)' $(S3_PKGS); \
	$(E2E)

# Needs SILLAGE_TEST_KAFKA_BROKERS (test-integration sets it); the e-mail
# journey test also needs mailpit (make mailpit-install).
test-e2e:
	@$(E2E)

E2E = if [ -d e2e ]; then \
		$(GO) test -count=1 -tags integration -timeout $(INTEGRATION_TIMEOUT) $(GOTESTFLAGS) ./e2e/...; \
	else echo "test-e2e: e2e/ not present yet, skipping"; fi

# HOOK (tag/): the tag's own tests (in a real browser once they exist).
test-tag:
	@if [ -f tag/package.json ] && grep -q '"test"' tag/package.json; then \
		(cd tag && npm test); \
	else echo "test-tag: tag/ has no npm tests yet, skipping"; fi

# The tag in Debian's headless Chromium (playwright-core) against the real binary.
test-browser:
	bash scripts/test-browser.sh

# @segment/analytics-node (npm) against the real binary: every SDK call accepted.
test-sdk:
	bash scripts/test-sdk.sh

# README's Spark recipe run for real: pyspark (PyPI, into .tools/spark-venv) reads a REES46 lake.
test-spark:
	bash scripts/test-spark.sh

# ---- everything else ----------------------------------------------------------
build:
	$(GO) build ./...
	@if [ -d cmd/sillage ]; then $(GO) build -o sillage ./cmd/sillage && echo "built ./sillage"; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(BENCH_PKGS)

kafka-start: kafka-install
	bash scripts/kafka.sh start

kafka-stop:
	bash scripts/kafka.sh stop

s3-start: s3-install
	bash scripts/s3.sh start

s3-stop:
	bash scripts/s3.sh stop

clean:
	bash scripts/kafka.sh stop
	bash scripts/s3.sh stop
	rm -rf .tools sillage
