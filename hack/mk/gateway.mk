# Gateway data plane targets (issue 3), included by the root Makefile.

TEST_EXTRA += test-gateway-peers

.PHONY: test-gateway
test-gateway: ## Run the gateway's Go tests (IR, data plane, command).
	go test ./internal/ir/... ./internal/gateway/... ./cmd/gateway/...

.PHONY: test-gateway-peers
test-gateway-peers: ## Test the gateway against real MCP peers: the npm conformance suite (direct vs through the gateway, against the baseline) and the inspector CLI with a bearer token. Installs Node 22 and the npm packages under .cache/.
	hack/gateway-peers/run.sh

.PHONY: bench-gateway
bench-gateway: ## Measure the gateway against a direct call and a plain httputil.ReverseProxy in one run, and the per-call authn+authz cost.
	go run ./hack/bench-gateway
	go test ./internal/gateway/ -run '^$$' -bench AuthnAuthzCachedToken -benchmem
