# Toolmesh — run MCP servers on Kubernetes behind one policy-enforcing gateway.
#
# The two commands a newcomer needs:  make demo   and   make test.
# Everything they need is built into bin/ and .cache/ (git-ignored) from the Go module proxy.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
CACHE     := $(CURDIR)/.cache
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)

GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
CONTROLLER_GEN := $(GO) tool controller-gen
# go-nvml's cgo preamble declares deprecated NVML symbols: keep build logs readable.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
# Binaries built static (no cgo); gpu-mcp-server needs cgo for NVML and is built by gpu-build.
STATIC_CMDS := $(addprefix ./,$(filter-out cmd/gpu-mcp-server,$(wildcard cmd/*)))

# Component makefiles (gateway, GPU server, …) add their targets here, and append the targets
# `make test` must also run to TEST_EXTRA.
TEST_EXTRA :=
include $(wildcard hack/mk/*.mk)

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRDs and the operator's ClusterRole.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=toolmesh-operator paths=./internal/controller/... output:rbac:artifacts:config=config/rbac
	rm -f charts/toolmesh-crds/templates/*.yaml && cp config/crd/bases/*.yaml charts/toolmesh-crds/templates/

.PHONY: generate
generate: ## Generate the API's DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: fmt
fmt: ## gofmt every Go file.
	$(GO) fmt ./...

.PHONY: vet
vet: ## go vet every package.
	$(GO) vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint with .golangci.yml.
	$(GOLANGCI_LINT) run ./...

.PHONY: envtest
envtest: ## Build kube-apiserver and etcd for the tests (cached under .cache/envtest).
	@hack/envtest-assets.sh >/dev/null

.PHONY: test
test: manifests generate vet envtest ## Run every test against a real API server (envtest), then the component suites.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test ./... -count=1
	@for t in $(TEST_EXTRA); do $(MAKE) --no-print-directory $$t; done

.PHONY: verify
verify: manifests generate lint ## Regenerate and lint, then fail on any drift from what is committed.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@git diff --exit-code -- api config charts || { echo "generated files drifted: run make manifests generate and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- api config charts)" || { echo "untracked generated files:"; git status --porcelain -- api config charts; exit 1; }

##@ Build

.PHONY: build
build: gpu-build ## Build the binaries into bin/.
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ $(STATIC_CMDS)

##@ Run

.PHONY: demo
demo: build envtest ## Start a local control plane, run the operator, apply the samples, show what it made, stop.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) run ./hack/demo --manager=$(BIN)/manager --stdio-bridge=$(BIN)/stdio-bridge --gateway=$(BIN)/gateway

##@ Benchmarks

.PHONY: bench-operator
bench-operator: build envtest ## 1,000 MCPServers against a real API server: time, writes per server, idle writes, peak RSS.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test ./test/bench/operator -run '^$$' -bench . -benchtime 1x -count 1 -timeout 20m -manager=$(BIN)/manager

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	GOBIN=$(CACHE)/golangci-lint-build $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(CACHE)/golangci-lint-build/golangci-lint $@
