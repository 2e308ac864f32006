#!/usr/bin/env bash
# Builds the CEL reference evaluator (main.go: cel-go + k8s.io/apiserver at the control
# plane's Kubernetes version) and caches it outside the checkout, keyed by the version and
# a hash of its sources, like test/env/control-plane/build.sh. Prints the binary's path on
# the last line.
#
#   build.sh               build if needed, print the binary path
#   build.sh --print-path  print where the binary is (or would be); no build
#
# Environment: KIDP_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/kidp).
set -euo pipefail
umask 022
here=$(cd "$(dirname "$0")" && pwd)
# The Kubernetes version of the control plane (test/env/control-plane/build.sh pins it);
# go.mod requires the matching k8s.io/apiserver (v0.37.2) and the cel-go its go.mod names.
readonly K8S_VERSION=v1.37.2
export GOTOOLCHAIN=local CGO_ENABLED=0

key=$(cat "$here/main.go" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)
dir=${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp}/oracle/$K8S_VERSION-$key
bin=$dir/cel-oracle
if [[ ${1:-} == --print-path ]]; then
  echo "$bin"
  exit 0
fi
if [[ ! -x $bin ]]; then
  mkdir -p "$dir"
  printf '[%s] oracle: building %s (cel-go + k8s.io/apiserver for %s)\n' "$(date +%H:%M:%S)" "$bin" "$K8S_VERSION" >&2
  (cd "$here" && go build -trimpath -o "$bin.tmp" .)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
