# Matrix ⇄ OneBot gateway. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
TAGS := goolm
BIN := bin/gateway
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: help build image demo test check fmt vet unit e2e bench bench-quick bench-record profile fuzz clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/gateway
	$(GO) build -tags $(TAGS) -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/gateway

image: ## build the container image matrix-onebot-gateway (docker build -f deploy/Dockerfile; DOCKER=podman works too)
	$${DOCKER:-docker} build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t matrix-onebot-gateway .

demo: ## quickstart: a throwaway local Synapse (127.0.0.1:8008), a demo bot and user, and the gateway (127.0.0.1:5700); flags in DEMO_FLAGS="-fresh -port 8009 -listen 127.0.0.1:5701"
	@mkdir -p .cache && $(GO) build -tags $(TAGS) -o .cache/demo-command ./test/harness/cmd/demo && exec .cache/demo-command $(DEMO_FLAGS)

test: fmt vet ## the whole test suite: format, vet, unit tests, and end-to-end tests against real Synapse and NoneBot2 (installs them into .cache/)
	$(GO) test -tags $(TAGS) -race -count=1 -timeout 30m ./...

check: fmt vet unit ## gofmt, go vet, and the unit tests with the race detector

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet -tags $(TAGS) ./...

unit: ## only the fast tests (no homeserver)
	$(GO) test -tags $(TAGS) -race -count=1 ./internal/... ./cmd/...

BENCH_OUT ?= .cache/bench/latest.md
BENCH_QUICK := -messages 60 -echo-seconds 4 -sends 20 -bots 1,10 -replay-messages 1000 -fanout 1,10 -idle-bots 1,50 -idle-seconds 3 -settle-seconds 1 -failover-bots 9

bench: ## the benchmark table of issues 12/13 (latency, CPU, fan-out, echo, send path, RSS, idle bots, failover; a few minutes; BENCH_FLAGS="-h" lists the knobs)
	@mkdir -p .cache/bench && $(GO) build -tags $(TAGS) -o .cache/bench/bench ./test/bench/cmd/bench && .cache/bench/bench -out $(BENCH_OUT) $(BENCH_FLAGS)

bench-quick: ## the same benchmark with small counts (about a minute after the first install)
	@$(MAKE) --no-print-directory bench BENCH_FLAGS="$(BENCH_QUICK) $(BENCH_FLAGS)" BENCH_OUT=.cache/bench/quick.md

profile: ## pprof CPU and allocation profiles of the gateway under the benchmark's load, into .cache/bench/profiles
	@$(MAKE) --no-print-directory bench BENCH_FLAGS="$(BENCH_QUICK) -profile .cache/bench/profiles $(BENCH_FLAGS)" BENCH_OUT=.cache/bench/profile.md
	@echo "profiles: .cache/bench/profiles (go tool pprof -http=: bin/gateway .cache/bench/profiles/FILE)"

bench-record: ## re-record the /sync stream the benchmark's stand-in homeserver replays (test/fakes/testdata/sync-recording.json)
	$(GO) run -tags $(TAGS) ./test/bench/cmd/bench record

fuzz: ## run every fuzz test for 30s each
	@for pkg in $$(git grep -l '^func Fuzz' -- '*_test.go' | xargs -n1 dirname | sort -u); do \
	  for f in $$($(GO) test -tags $(TAGS) -list 'Fuzz.*' ./$$pkg | grep ^Fuzz); do \
	    $(GO) test -tags $(TAGS) -run '^$$' -fuzz "^$$f$$" -fuzztime 30s ./$$pkg || exit 1; \
	  done; \
	done

clean: ## remove build output (keeps the .cache/ downloads)
	rm -rf bin
