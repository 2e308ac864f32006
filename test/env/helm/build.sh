#!/usr/bin/env bash
# Builds the helm command from its Go module (helm.sh/helm/v4, through the Go module proxy)
# and caches it outside the checkout, keyed by version (DESIGN.md §7). charts/kidp is
# linted, rendered and dry-run installed with it (test/chart.e2e.test.ts).
#
# Usage:
#   build.sh                    build if needed, then print the bin dir on the last line
#   build.sh --print-bin-dir    print the bin dir only (no build, no network)
#   build.sh --suggest-version  the newest helm.sh/helm/v4 release this machine's Go can build
#
# Environment:
#   KIDP_HELM_VERSION  helm.sh/helm/v4 release (default: the pin below)
#   KIDP_CACHE_DIR     cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/kidp)
set -euo pipefail
umask 022
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# v4.3.2 is the newest helm.sh/helm/v4 release; its go.mod says `go 1.26.0` (this machine's
# Go 1.26.x meets it) and requires k8s.io/client-go v0.37.2, the control plane's own version.
readonly PINNED_HELM_VERSION=v4.3.2
HELM_VERSION=${KIDP_HELM_VERSION:-$PINNED_HELM_VERSION}
CACHE_ROOT=${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp}/helm
LOG_NAME=helm-build
# shellcheck source=../go-module-build.sh
source "$here/../go-module-build.sh"
readonly HELM_MODULE=helm.sh/helm/v4

case ${1:-} in
  --suggest-version) suggest_version "$HELM_MODULE"; exit 0 ;;
  --print-bin-dir | "") ;;
  -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
  *) die "unknown argument: $1 (see --help)" ;;
esac

OUT_DIR=$CACHE_ROOT/$HELM_VERSION
if [[ ${1:-} == --print-bin-dir ]]; then echo "$OUT_DIR/bin"; exit 0; fi
is_complete() { [[ -x $OUT_DIR/bin/helm ]]; }
if is_complete; then
  log "cached: helm $HELM_VERSION in $OUT_DIR/bin; skipping build"
  echo "$OUT_DIR/bin"
  exit 0
fi

command -v go >/dev/null || die "go is not installed (need Go for the helm build)"
build_lock
if is_complete; then log "built meanwhile by another process: $OUT_DIR/bin"; echo "$OUT_DIR/bin"; exit 0; fi
build_scratch "helm-$HELM_VERSION"
BUILD_T0=$EPOCHSECONDS
log "cold build of helm $HELM_VERSION with go $(go_version), $(nproc) cores"
TMP_OUT=$(mktemp -d "$CACHE_ROOT/.staging.XXXXXX")
mkdir -p "$TMP_OUT/bin"
module_source "$HELM_MODULE" "$HELM_VERSION"
# Version stamping as helm's Makefile does for a tagged build (metadata empty = a release).
HELM_LDFLAGS="-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
step "download helm dependencies" "$WORK/deps-helm.log" env -C "$SRC" go list -mod=mod -deps -f "{{.ImportPath}}" ./cmd/helm
step "build helm" "$WORK/build-helm.log" env -C "$SRC" go build -mod=mod -v -trimpath -ldflags="$HELM_LDFLAGS" -o "$TMP_OUT/bin/helm" ./cmd/helm
"$TMP_OUT/bin/helm" version --short | grep -q "^$HELM_VERSION" || die "built helm does not report $HELM_VERSION"
cp "$SRC/go.mod" "$TMP_OUT/helm.go.mod"
cp "$SRC/go.sum" "$TMP_OUT/helm.go.sum"
BUILD_SECONDS=$((EPOCHSECONDS - BUILD_T0))
printf 'helm=%s\ngo=%s\nbuilt_at=%s\nbuild_seconds=%s\n' "$HELM_VERSION" "$(go env GOVERSION)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$BUILD_SECONDS" >"$TMP_OUT/BUILD-INFO"
publish "$OUT_DIR"
log "built helm in $((BUILD_SECONDS / 60))m$((BUILD_SECONDS % 60))s: $OUT_DIR/bin ($(du -sh "$OUT_DIR/bin" | cut -f1))"
echo "$OUT_DIR/bin"
