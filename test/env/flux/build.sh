#!/usr/bin/env bash
# Builds Flux's source-controller and kustomize-controller from their Go modules (through
# the Go module proxy) and caches them, with the CRDs of the same module versions, outside
# the checkout, keyed by version, so a fresh clone reuses them (DESIGN.md §7).
#
# Usage:
#   build.sh                    build if needed, then print the cache dir (bin/, crds/) on the last line
#   build.sh --print-dir        print the cache dir only (no build, no network)
#   build.sh --suggest-version  the newest releases whose go.mod this machine's Go can build
#
# Environment:
#   KIDP_FLUX_SOURCE_VERSION     github.com/fluxcd/source-controller release (default: pin below)
#   KIDP_FLUX_KUSTOMIZE_VERSION  github.com/fluxcd/kustomize-controller release (default: pin below)
#   KIDP_CACHE_DIR               cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/kidp)
set -euo pipefail
umask 022
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# v1.9.6 of both is the newest release whose go.mod says `go 1.26.0`, which this machine's
# Go 1.26.x meets (v1.10.x asks for go 1.27.0). Both require k8s.io/client-go v0.36.4: one
# minor behind the v1.37.2 apiserver, inside client-go's supported skew. They are the pair
# of one Flux release (kustomize-controller v1.9.6 requires source-controller/api v1.9.x).
readonly PINNED_SOURCE_VERSION=v1.9.6
readonly PINNED_KUSTOMIZE_VERSION=v1.9.6
# The module proxy this project reaches does not serve every version: source-controller
# v1.9.4-v1.9.6 require github.com/fluxcd/pkg/artifact v0.18.2/v0.18.3, which it refuses
# ("This module version is not available"); v0.18.1 is the newest patch of that minor it
# serves. Only for the pinned source-controller (another version may need other choices).
readonly SOURCE_CONTROLLER_REPLACES=(github.com/fluxcd/pkg/artifact=github.com/fluxcd/pkg/artifact@v0.18.1)

SOURCE_VERSION=${KIDP_FLUX_SOURCE_VERSION:-$PINNED_SOURCE_VERSION}
KUSTOMIZE_VERSION=${KIDP_FLUX_KUSTOMIZE_VERSION:-$PINNED_KUSTOMIZE_VERSION}
CACHE_ROOT=${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp}/flux
LOG_NAME=flux-build
# shellcheck source=../go-module-build.sh
source "$here/../go-module-build.sh"

readonly SOURCE_MODULE=github.com/fluxcd/source-controller
readonly KUSTOMIZE_MODULE=github.com/fluxcd/kustomize-controller

case ${1:-} in
  --suggest-version) suggest_version "$SOURCE_MODULE"; suggest_version "$KUSTOMIZE_MODULE"; exit 0 ;;
  --print-dir | "") ;;
  -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
  *) die "unknown argument: $1 (see --help)" ;;
esac

OUT_DIR=$CACHE_ROOT/source-controller-$SOURCE_VERSION-kustomize-controller-$KUSTOMIZE_VERSION
if [[ ${1:-} == --print-dir ]]; then echo "$OUT_DIR"; exit 0; fi

is_complete() {
  [[ -x $OUT_DIR/bin/source-controller && -x $OUT_DIR/bin/kustomize-controller && -s $OUT_DIR/crds/kustomizations.yaml ]]
}
if is_complete; then
  log "cached: source-controller $SOURCE_VERSION, kustomize-controller $KUSTOMIZE_VERSION in $OUT_DIR; skipping build"
  echo "$OUT_DIR"
  exit 0
fi

command -v go >/dev/null || die "go is not installed (need Go for the Flux build)"
build_lock
if is_complete; then log "built meanwhile by another process: $OUT_DIR"; echo "$OUT_DIR"; exit 0; fi
build_scratch "flux-$SOURCE_VERSION-$KUSTOMIZE_VERSION"
BUILD_T0=$EPOCHSECONDS
log "cold build of source-controller $SOURCE_VERSION + kustomize-controller $KUSTOMIZE_VERSION with go $(go_version), $(nproc) cores"
# Staged beside OUT_DIR (same file system), then renamed into place.
TMP_OUT=$(mktemp -d "$CACHE_ROOT/.staging.XXXXXX")
mkdir -p "$TMP_OUT/bin" "$TMP_OUT/crds"

# build_controller MODULE VERSION NAME CRD-FILES...: as upstream's Dockerfile does
# (CGO_ENABLED=0 go build -trimpath), plus -s -w. $REPLACES: go mod edit -replace arguments.
REPLACES=()
build_controller() {
  local module=$1 version=$2 name=$3 src crd r
  shift 3
  module_source "$module" "$version"
  src=$SRC
  for r in "${REPLACES[@]}"; do
    log "replace ${r/=/ => } (see SOURCE_CONTROLLER_REPLACES)"
    go -C "$src" mod edit -replace "$r"
  done
  # -mod=mod: go.sum gains the hashes of the released api module the replace now names.
  # The modules of the packages the command imports (go mod download would fetch test-only ones too).
  step "download $name dependencies" "$WORK/deps-$name.log" env -C "$src" go list -mod=mod -deps -f "{{.ImportPath}}" .
  step "build $name" "$WORK/build-$name.log" env -C "$src" go build -mod=mod -v -trimpath -ldflags="-s -w" -o "$TMP_OUT/bin/$name" .
  cp "$src/go.mod" "$TMP_OUT/$name.go.mod"
  cp "$src/go.sum" "$TMP_OUT/$name.go.sum"
  for crd in "$@"; do
    cp "$src/config/crd/bases/$crd" "$TMP_OUT/crds/${crd#*_}"
  done
}

# Only the kinds KIDP's GitOps path uses: GitRepository (source) and Kustomization. The other
# source kinds (Helm, OCI, Bucket) are installed too, since source-controller watches them all
# and does not start without their CRDs.
if [[ $SOURCE_VERSION == "$PINNED_SOURCE_VERSION" ]]; then REPLACES=("${SOURCE_CONTROLLER_REPLACES[@]}"); fi
build_controller "$SOURCE_MODULE" "$SOURCE_VERSION" source-controller \
  source.toolkit.fluxcd.io_gitrepositories.yaml source.toolkit.fluxcd.io_helmrepositories.yaml \
  source.toolkit.fluxcd.io_helmcharts.yaml source.toolkit.fluxcd.io_buckets.yaml \
  source.toolkit.fluxcd.io_ocirepositories.yaml source.toolkit.fluxcd.io_externalartifacts.yaml
REPLACES=()
build_controller "$KUSTOMIZE_MODULE" "$KUSTOMIZE_VERSION" kustomize-controller \
  kustomize.toolkit.fluxcd.io_kustomizations.yaml

# Whole output first: grep -q closing the pipe early would fail the pipeline (pipefail).
help=$("$TMP_OUT/bin/source-controller" --help 2>&1 || true)
[[ $help == *--storage-adv-addr* ]] || die "built source-controller does not run: $help"
help=$("$TMP_OUT/bin/kustomize-controller" --help 2>&1 || true)
[[ $help == *--custom-apply-stage-kinds* ]] || die "built kustomize-controller does not run: $help"
BUILD_SECONDS=$((EPOCHSECONDS - BUILD_T0))
cat >"$TMP_OUT/BUILD-INFO" <<INFO
source-controller=$SOURCE_VERSION
kustomize-controller=$KUSTOMIZE_VERSION
go=$(go env GOVERSION)
built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_seconds=$BUILD_SECONDS
INFO
publish "$OUT_DIR"
log "built source-controller, kustomize-controller in $((BUILD_SECONDS / 60))m$((BUILD_SECONDS % 60))s: $OUT_DIR ($(du -sh "$OUT_DIR" | cut -f1))"
echo "$OUT_DIR"
