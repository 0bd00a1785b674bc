# Matrix ⇄ OneBot gateway. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
TAGS := goolm
BIN := bin/gateway
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: help build image demo test check fmt vet unit e2e bench fuzz clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

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

bench: ## relay latency: gateway WebSocket client vs a plain sync client, p50/p99 (needs Synapse; installs it)
	$(GO) test -tags $(TAGS) -run '^$$' -bench Relay -benchtime 200x -count=1 ./test/e2e

fuzz: ## run every fuzz test for 30s each
	@for pkg in $$(git grep -l '^func Fuzz' -- '*_test.go' | xargs -n1 dirname | sort -u); do \
	  for f in $$($(GO) test -tags $(TAGS) -list 'Fuzz.*' ./$$pkg | grep ^Fuzz); do \
	    $(GO) test -tags $(TAGS) -run '^$$' -fuzz "^$$f$$" -fuzztime 30s ./$$pkg || exit 1; \
	  done; \
	done

clean: ## remove build output (keeps the .cache/ downloads)
	rm -rf bin
