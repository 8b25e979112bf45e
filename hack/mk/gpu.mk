# The bundled GPU introspection MCP server (cmd/gpu-mcp-server). Included by the root Makefile.

GPU_PKGS ?= ./cmd/gpu-mcp-server/... ./internal/gpu/... ./internal/gpumcp/... ./internal/redact/...

##@ GPU server

.PHONY: gpu-build
gpu-build: ## Build bin/gpu-mcp-server with cgo (NVML is dlopened at run time).
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/gpu-mcp-server ./cmd/gpu-mcp-server

.PHONY: gpu-build-nocgo
gpu-build-nocgo: ## Prove gpu-mcp-server builds without cgo (NVML then reports a clear error).
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/gpu-mcp-server

.PHONY: gpu-test-nocgo
gpu-test-nocgo: ## Test the packages that must work without cgo that way (the NVML stub included).
	CGO_ENABLED=0 $(GO) test ./internal/gpu/nvmlcollector/ ./internal/gpu/xid/ ./internal/gpu/procmap/ ./internal/gpu/prom/ ./internal/redact/

.PHONY: gpu-test
gpu-test: ## Run only the GPU packages' tests, envtest included.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" $(GO) test $(GPU_PKGS)

.PHONY: gpu-golden
gpu-golden: ## Rewrite the fake scenarios' golden outputs (review the diff).
	$(GO) test ./internal/gpu/agent/ -run TestScenarioGoldens -update

.PHONY: gpu-manifests
gpu-manifests: ## Render the GPU server's kustomizations to check they build.
	kubectl kustomize config/gpu-mcp-server/base >/dev/null
	kubectl kustomize config/gpu-mcp-server/operator >/dev/null

TEST_EXTRA += gpu-build-nocgo gpu-test-nocgo gpu-manifests
