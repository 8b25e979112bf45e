# GPU MCP server (issue 4). Included by the root Makefile (include hack/mk/*.mk).

GPU_PKGS ?= ./cmd/gpu-mcp-server/... ./internal/gpu/... ./internal/gpumcp/... ./internal/redact/...
GPU_BIN ?= bin/gpu-mcp-server
# go-nvml's cgo preamble declares deprecated NVML symbols; keep the build log readable.
GPU_CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: gpu-build gpu-build-nocgo gpu-test-nocgo gpu-test gpu-vet gpu-golden gpu-manifests

## gpu-build: build the gpu-mcp-server binary (cgo: NVML is loaded at run time).
gpu-build:
	CGO_CFLAGS="$(GPU_CGO_CFLAGS)" go build -o $(GPU_BIN) ./cmd/gpu-mcp-server

## gpu-build-nocgo: prove the binary builds without cgo (NVML then reports a clear error).
gpu-build-nocgo:
	CGO_ENABLED=0 go build -o /dev/null ./cmd/gpu-mcp-server

## gpu-test-nocgo: the packages that must work without cgo, tested that way (the NVML stub included).
gpu-test-nocgo:
	CGO_ENABLED=0 go test ./internal/gpu/nvmlcollector/ ./internal/gpu/xid/ ./internal/gpu/procmap/ ./internal/gpu/prom/ ./internal/redact/

## gpu-test: the GPU packages' tests, envtest included.
gpu-test:
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" CGO_CFLAGS="$(GPU_CGO_CFLAGS)" go test $(GPU_PKGS)

## gpu-vet: go vet over the GPU packages.
gpu-vet:
	CGO_CFLAGS="$(GPU_CGO_CFLAGS)" go vet $(GPU_PKGS)

## gpu-golden: rewrite the fake scenarios' golden outputs (review the diff).
gpu-golden:
	CGO_CFLAGS="$(GPU_CGO_CFLAGS)" go test ./internal/gpu/agent/ -run TestScenarioGoldens -update

## gpu-manifests: render the kustomizations to check they build.
gpu-manifests:
	kubectl kustomize config/gpu-mcp-server/base >/dev/null
	kubectl kustomize config/gpu-mcp-server/operator >/dev/null

TEST_EXTRA += gpu-build-nocgo gpu-test-nocgo
