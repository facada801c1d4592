# mailmon: `make demo` runs the agent against a real local mail stack;
# `make test` installs what the tests need and runs them all.
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PLUGINS := $(filter-out internal,$(notdir $(patsubst %/,%,$(wildcard plugins/*/))))
TOOLS := $(CURDIR)/.cache/bin
PROTOC_GEN_GO := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
DEMO_SECONDS ?= 20

.PHONY: all build test unit demo bench proto deps stack stack-down telegraf lint clean dnsstack fuzz

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/mailmon ./agent/cmd/mailmon
	@for p in $(PLUGINS); do \
		echo "$(GO) build -o $(BIN)/mailmon-check-$$p ./plugins/$$p"; \
		$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/mailmon-check-$$p ./plugins/$$p || exit 1; \
	done
	@chmod 755 $(BIN)/*

# Everything the tests need, installed by the project's own scripts.
deps: stack telegraf dnsstack

stack:
	scripts/mailstack up

stack-down:
	scripts/mailstack down

telegraf:
	scripts/build-telegraf

dnsstack: ; scripts/dnsstack up

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# Unit tests only: no servers needed.
unit:
	$(GO) test -short -count=1 ./...

# Tests named *Exclusive* stop and start shared daemons (Postfix), so they
# run alone after the rest.
test: deps build lint
	$(GO) test -count=1 -timeout 12m -skip Exclusive ./...
	$(MAKE) fuzz
	$(GO) test -count=1 -timeout 5m -run Exclusive ./agent/cmd/mailmon/

# A short, bounded fuzz run of the dnsbl check's answer handling.
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParseAnswer -fuzztime=20s ./plugins/dnsbl/

demo: build stack dnsstack
	scripts/demo $(DEMO_SECONDS)

bench: deps build
	scripts/bench

proto:
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH=$(TOOLS):$$PATH protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative sdk/internal/pluginrpc/check.proto

clean:
	rm -rf $(BIN)
