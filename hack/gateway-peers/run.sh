#!/usr/bin/env bash
# run.sh tests the gateway against real MCP peers: go-sdk's conformance everything-server behind
# it, the @modelcontextprotocol/conformance server suite (directly and through the gateway, both
# compared with the checked-in baseline) and the @modelcontextprotocol/inspector CLI with a bearer
# token from a local OIDC issuer. Node 22 and the npm packages are installed under .cache/.
# Needs go, npm (to install Node 22), curl and bash.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/hack/gateway-peers
CACHE=$ROOT/.cache
NODE_VERSION=${NODE_VERSION:-22}
CONFORMANCE_VERSION=${CONFORMANCE_VERSION:-0.1.16}
INSPECTOR_VERSION=${INSPECTOR_VERSION:-2.12.0}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

# Tools: Node 22 from the npm registry, then the two MCP packages, pinned.
if [ ! -x "$CACHE/node/node_modules/.bin/node" ]; then
	npm install --prefix "$CACHE/node" --no-audit --no-fund "node@$NODE_VERSION" >/dev/null
fi
export PATH=$CACHE/node/node_modules/.bin:$PATH
if [ ! -x "$CACHE/npm/node_modules/.bin/conformance" ] || [ ! -x "$CACHE/npm/node_modules/.bin/mcp-inspector" ]; then
	npm install --prefix "$CACHE/npm" --no-audit --no-fund \
		"@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >/dev/null
fi
BIN=$CACHE/npm/node_modules/.bin

mkdir -p "$ROOT/bin"
go build -o "$ROOT/bin/gateway" ./cmd/gateway
go build -o "$ROOT/bin/everything-server" github.com/modelcontextprotocol/go-sdk/conformance/everything-server
go build -o "$ROOT/bin/peer-issuer" ./hack/gateway-peers/issuer

USED=" "
port() { # a loopback port nothing listens on, distinct from the ones handed out before
	local p
	while :; do
		p=$((20000 + RANDOM % 12000)) # below the usual ephemeral range, where connections take ports
		case "$USED" in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED="$USED$p "
			echo "$p"
			return
		fi
	done
}
wait_http() { # url
	for _ in $(seq 1 100); do
		if curl -s -o /dev/null "$1"; then return 0; fi
		sleep 0.1
	done
	echo "timed out waiting for $1" >&2
	return 1
}

BACKEND_PORT=$(port); USED="$USED$BACKEND_PORT "
GATEWAY_PORT=$(port); USED="$USED$GATEWAY_PORT "
ADMIN_PORT=$(port); USED="$USED$ADMIN_PORT "
"$ROOT/bin/everything-server" -http="127.0.0.1:$BACKEND_PORT" -stateless=false >"$WORK/backend.log" 2>&1 &
PIDS+=($!)
"$ROOT/bin/peer-issuer" -audience "http://127.0.0.1:$GATEWAY_PORT/secure" -groups peers \
	-token-file "$WORK/token" -url-file "$WORK/issuer" >"$WORK/issuer.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$BACKEND_PORT/mcp"
for _ in $(seq 1 100); do [ -s "$WORK/issuer" ] && break; sleep 0.1; done
ISSUER_URL=$(cat "$WORK/issuer")
sed -e "s|\${GATEWAY_PORT}|$GATEWAY_PORT|g" -e "s|\${BACKEND_PORT}|$BACKEND_PORT|g" -e "s|\${ISSUER_URL}|$ISSUER_URL|g" \
	"$HERE/secure.yaml" >"$WORK/gateway.yaml"
"$ROOT/bin/gateway" --config "$WORK/gateway.yaml" --admin-listen "127.0.0.1:$ADMIN_PORT" --metrics-listen "" \
	--audit-log "$WORK/audit.log" >"$WORK/gateway.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" || { tail -20 "$WORK/gateway.log" >&2; exit 1; }

status=0

# 1. The conformance server suite, directly and through the gateway.
summary() { sed -n '/=== SUMMARY ===/,$p' "$1" | grep -E '^[✓✗] |^Total:' || true; }
(cd "$WORK" && "$BIN/conformance" server --url "http://127.0.0.1:$BACKEND_PORT/mcp" --spec-version 2025-11-25 >conf-direct.log 2>&1) || true
(cd "$WORK" && "$BIN/conformance" server --url "http://127.0.0.1:$GATEWAY_PORT/mcp" --spec-version 2025-11-25 >conf-gateway.log 2>&1) || true
summary "$WORK/conf-direct.log" >"$WORK/direct.txt"
summary "$WORK/conf-gateway.log" >"$WORK/gateway.txt"
if ! diff -u "$HERE/conformance-baseline.txt" "$WORK/direct.txt"; then
	echo "FAIL: everything-server (direct) differs from the baseline" >&2
	status=1
fi
if ! diff -u "$WORK/direct.txt" "$WORK/gateway.txt"; then
	echo "FAIL: the conformance pass set through the gateway differs from the direct one" >&2
	status=1
else
	echo "conformance: through the gateway == direct == baseline ($(tail -1 "$WORK/gateway.txt"))"
fi

# 2. The inspector CLI with a bearer token on a route that requires one.
TOKEN=$(cat "$WORK/token")
URL="http://127.0.0.1:$GATEWAY_PORT/secure"
inspect() { "$BIN/mcp-inspector" --cli "$URL" --transport http "$@"; }
expect() { # name, pattern, command...
	local name=$1 pattern=$2 out
	shift 2
	out=$("$@" 2>&1 || true)
	if grep -q -- "$pattern" <<<"$out"; then
		echo "inspector: $name ok"
	else
		echo "FAIL: inspector $name: wanted /$pattern/, got:" >&2
		echo "$out" | head -20 >&2
		status=1
	fi
}
expect "tools/list with a token" 'test_simple_text' inspect --header "Authorization: Bearer $TOKEN" --method tools/list
if inspect --header "Authorization: Bearer $TOKEN" --method tools/list 2>&1 | grep -q 'test_error_handling'; then
	echo "FAIL: inspector saw a tool its policy denies" >&2
	status=1
fi
expect "tools/call with a token" 'simple text' inspect --header "Authorization: Bearer $TOKEN" --method tools/call --tool-name test_simple_text
expect "a tool hidden by policy cannot be called" 'not found' inspect --header "Authorization: Bearer $TOKEN" --method tools/call --tool-name test_error_handling
if out=$(inspect --method tools/list 2>&1); then
	echo "FAIL: inspector without a token was let in: $out" >&2
	status=1
else
	echo "inspector: no token refused ok"
fi
# 3. Two gateway processes sharing a session key: one session, alternating between them.
head -c 32 /dev/urandom | base64 >"$WORK/session.key"
PAIR_A=$(port); USED="$USED$PAIR_A "
PAIR_B=$(port); USED="$USED$PAIR_B "
for p in "$PAIR_A" "$PAIR_B"; do
	cat >"$WORK/pair-$p.yaml" <<YAML
apiVersion: toolmesh.io/gateway-config/v1alpha1
listeners: [{name: http, address: "127.0.0.1:$p"}]
authentication: {anonymous: Allow}
session: {keyFile: "$WORK/session.key"}
routes:
- name: everything
  path: /mcp
  backends: [{name: everything, url: "http://127.0.0.1:$BACKEND_PORT/mcp", sessionMode: Stateful}]
YAML
	"$ROOT/bin/gateway" --config "$WORK/pair-$p.yaml" --admin-listen "" --metrics-listen "" --audit-log "" >"$WORK/pair-$p.log" 2>&1 &
	PIDS+=($!)
done
rpc() { # port, session, body
	curl -s -D "$WORK/headers" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
		${2:+-H "Mcp-Session-Id: $2"} ${2:+-H "Mcp-Protocol-Version: 2025-11-25"} \
		--data "$3" "http://127.0.0.1:$1/mcp"
}
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PAIR_B/mcp" && curl -s -o /dev/null "http://127.0.0.1:$PAIR_A/mcp" && break; sleep 0.1; done
rpc "$PAIR_A" "" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"pair","version":"1"}}}' >/dev/null
SID=$(tr -d '\r' <"$WORK/headers" | awk -F': ' 'tolower($1)=="mcp-session-id"{print $2}')
rpc "$PAIR_B" "$SID" '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
pair_ok=1
for i in 1 2 3 4; do
	p=$([ $((i % 2)) -eq 0 ] && echo "$PAIR_A" || echo "$PAIR_B")
	out=$(rpc "$p" "$SID" "{\"jsonrpc\":\"2.0\",\"id\":$((i + 1)),\"method\":\"tools/call\",\"params\":{\"name\":\"test_simple_text\",\"arguments\":{}}}")
	grep -q 'simple text response' <<<"$out" || pair_ok=0
done
if [ -n "$SID" ] && [ "$pair_ok" -eq 1 ]; then
	echo "sessions: one session served alternately by two gateway processes ok"
else
	echo "FAIL: a session did not work across two gateway processes (session ${SID:+set}${SID:-missing})" >&2
	status=1
fi

if [ "$status" -ne 0 ]; then
	echo "--- gateway log" >&2
	tail -20 "$WORK/gateway.log" >&2
fi
exit $status
