#!/usr/bin/env bash
# envtest-assets.sh builds kube-apiserver and etcd from the Go module proxy (setup-envtest cannot
# download here) and caches them under $ASSETS (default .cache/envtest). It prints the directory to
# use as KUBEBUILDER_ASSETS. Cold: about 7 minutes on 2 cores; warm: instant.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-$ROOT/.cache}
ASSETS=${ASSETS:-$CACHE/envtest/$K8S_VERSION}
WORK=$CACHE/envtest-build

log() { echo "envtest-assets: $*" >&2; }

build_apiserver() {
  local dir=$WORK/kube-apiserver-$K8S_VERSION
  mkdir -p "$dir"
  (
    cd "$dir"
    if [ ! -f go.mod ]; then
      go mod init envtest.local/kube >/dev/null 2>&1
      go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
      go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
      # k8s.io/kubernetes requires its staging modules at v0.0.0; pin each to the matching tag.
      local staging
      staging=$(awk '$1 ~ /^k8s.io\// && $2 == "v0.0.0" {print $1}' \
        "$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod")
      for m in $staging; do go mod edit -replace "$m=$m@v0${K8S_VERSION#v1}"; done
      printf 'package main\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n\nfunc main() {}\n' > main.go
      go mod tidy >/dev/null 2>&1
    fi
    local ld="" p minor
    minor=$(echo "$K8S_VERSION" | cut -d. -f2)
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
    done
    CGO_ENABLED=0 go build -ldflags "-s -w $ld" -o "$ASSETS/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  )
}

build_etcd() {
  local dir=$WORK/etcd-$ETCD_VERSION
  mkdir -p "$dir"
  (
    cd "$dir"
    if [ ! -f go.mod ]; then
      go mod init envtest.local/etcd >/dev/null 2>&1
      printf 'package main\n\nimport _ "go.etcd.io/etcd/server/v3/etcdmain"\n\nfunc main() {}\n' > main.go
      go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
      go mod tidy >/dev/null 2>&1
    fi
    CGO_ENABLED=0 go build -o "$ASSETS/etcd" go.etcd.io/etcd/server/v3
  )
}

mkdir -p "$ASSETS"
if [ ! -x "$ASSETS/etcd" ]; then log "building etcd $ETCD_VERSION (about 1 minute)"; build_etcd; fi
if [ ! -x "$ASSETS/kube-apiserver" ]; then log "building kube-apiserver $K8S_VERSION (about 6 minutes cold)"; build_apiserver; fi
echo "$ASSETS"
