#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from their Go modules (through the Go module
# proxy) and caches them outside the checkout, keyed by version, so a fresh clone reuses
# them. No prebuilt Kubernetes downloads exist on this machine (DESIGN.md §7).
#
# Usage:
#   build.sh                    build if needed, then print the bin dir on the last line
#   build.sh --print-bin-dir    print the bin dir only (no build, no network)
#   build.sh --suggest-version  list the newest k8s.io/kubernetes release whose go.mod
#                               this machine's Go can build (how the pin below was chosen)
#
# Environment:
#   KIDP_K8S_VERSION   k8s.io/kubernetes release tag (default: the pin below)
#   KIDP_ETCD_VERSION  go.etcd.io/etcd/server/v3 version (default: the pin below, or the
#                      one the chosen Kubernetes go.mod requires when KIDP_K8S_VERSION is set)
#   KIDP_CACHE_DIR     cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/kidp)
set -euo pipefail
umask 022 # the cache is the same whoever calls us (control-plane.sh runs with 077)

# v1.37.2 is the newest k8s.io/kubernetes release on the module proxy; its go.mod says
# `go 1.26.0`, which this machine's Go 1.26.x satisfies. etcd v3.7.0 is the
# go.etcd.io/etcd/server/v3 version that tag's go.mod requires.
readonly PINNED_K8S_VERSION=v1.37.2
readonly PINNED_ETCD_VERSION=v3.7.0

K8S_VERSION=${KIDP_K8S_VERSION:-$PINNED_K8S_VERSION}
CACHE_ROOT=${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp}/control-plane

# The builds must use the machine's Go, never a toolchain fetched on the fly; CGO off gives
# static binaries, as the Kubernetes release builds do for these three commands.
export GOTOOLCHAIN=local CGO_ENABLED=0

log() { printf '[%s] build: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# A version triple compare that does not need sort -V quirks for "1.26" vs "1.26.0".
version_ge() { # version_ge A B: A >= B, both like 1.26 / 1.26.0 / 1.26.8
  local -a a b
  local i
  IFS=. read -ra a <<<"$1"
  IFS=. read -ra b <<<"$2"
  for i in 0 1 2; do
    local x=${a[i]:-0} y=${b[i]:-0}
    ((10#$x > 10#$y)) && return 0
    ((10#$x < 10#$y)) && return 1
  done
  return 0
}

go_version() { local v; v=$(go env GOVERSION); v=${v#go}; echo "${v%%[!0-9.]*}"; }

# Path of the cached go.mod of a module version (fetches only .info and .mod).
mod_file() { go list -m -json "$1@$2" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'; }

go_directive() { awk '$1 == "go" { print $2; exit }' "$1"; }

required_version() { # required_version GOMOD MODULE -> version required in GOMOD
  awk -v m="$2" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$1"
}

suggest_version() {
  command -v go >/dev/null || die "go is not installed"
  local have v gomod want
  have=$(go_version)
  log "machine Go: $have; checking k8s.io/kubernetes releases, newest first"
  for v in $(go list -m -versions k8s.io/kubernetes | tr ' ' '\n' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -rV); do
    gomod=$(mod_file k8s.io/kubernetes "$v")
    want=$(go_directive "$gomod")
    if version_ge "$have" "$want"; then
      echo "$v (go.mod: go $want; etcd server $(required_version "$gomod" go.etcd.io/etcd/server/v3))"
      return 0
    fi
    log "$v needs go $want: skipped"
  done
  die "no k8s.io/kubernetes release builds with go $have"
}

# etcd's version is part of the cache key, so it must be known without network on a warm
# run: the pin when the Kubernetes version is the pinned one, else an existing cache entry
# for that Kubernetes version, else (cold) what that tag's go.mod requires.
resolve_etcd_version() {
  if [[ -n ${KIDP_ETCD_VERSION:-} ]]; then echo "$KIDP_ETCD_VERSION"; return; fi
  if [[ $K8S_VERSION == "$PINNED_K8S_VERSION" ]]; then echo "$PINNED_ETCD_VERSION"; return; fi
  local d
  for d in "$CACHE_ROOT/$K8S_VERSION"-v*/bin; do
    [[ -d $d ]] || continue
    d=${d%/bin}; echo "${d##*/"$K8S_VERSION"-}"; return
  done
  required_version "$(mod_file k8s.io/kubernetes "$K8S_VERSION")" go.etcd.io/etcd/server/v3
}

case ${1:-} in
  --suggest-version) suggest_version; exit 0 ;;
  --print-bin-dir | "") ;;
  -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
  *) die "unknown argument: $1 (see --help)" ;;
esac

ETCD_VERSION=$(resolve_etcd_version)
[[ -n $ETCD_VERSION ]] || die "could not determine the etcd version for $K8S_VERSION"
OUT_DIR=$CACHE_ROOT/$K8S_VERSION-$ETCD_VERSION
BIN_DIR=$OUT_DIR/bin
readonly BINARIES=(kube-apiserver kubectl etcd)

if [[ ${1:-} == --print-bin-dir ]]; then echo "$BIN_DIR"; exit 0; fi

is_complete() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x $BIN_DIR/$b ]] || return 1; done
}

if is_complete; then
  log "cached: kube-apiserver, kubectl, etcd ($K8S_VERSION, etcd $ETCD_VERSION) in $BIN_DIR; skipping build"
  echo "$BIN_DIR"
  exit 0
fi

# ---- cold build ---------------------------------------------------------------------

command -v go >/dev/null || die "go is not installed (need Go for the control-plane build)"
mkdir -p "$CACHE_ROOT"

# One build at a time per cache: a second caller waits, then finds the binaries cached.
exec 9>"$CACHE_ROOT/.build.lock"
if ! flock -n 9; then
  log "another build is running in $CACHE_ROOT; waiting for it"
  flock 9
fi
if is_complete; then
  log "built meanwhile by another process: $BIN_DIR"
  echo "$BIN_DIR"
  exit 0
fi

# Scratch dirs of builds that were killed outright (no trap ran) are safe to drop while
# we hold the lock.
rm -rf "$CACHE_ROOT"/.build-*

WORK=$(mktemp -d "$CACHE_ROOT/.build-$K8S_VERSION-$ETCD_VERSION.XXXXXX")
# go's own work dirs too: a go command stopped by SIGTERM leaves its $GOTMPDIR/go-build*
# behind, and this one is removed with the rest of the scratch.
export GOTMPDIR=$WORK/tmp
mkdir -p "$GOTMPDIR"
STEP_PID=
HEARTBEAT_PID=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n $HEARTBEAT_PID ]]; then kill "$HEARTBEAT_PID" 2>/dev/null || true; fi
  # Long steps run in their own process group (setsid), so this also stops the compilers
  # that `go build` started.
  if [[ -n $STEP_PID ]]; then
    kill -TERM -- "-$STEP_PID" 2>/dev/null || true
    wait "$STEP_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK" "${TMP_BIN:-}"
  if ((rc != 0)); then log "build failed or interrupted (exit $rc); nothing was cached"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

MODCACHE_DL=$(go env GOMODCACHE)/cache/download

# step LABEL LOGFILE CMD...: runs CMD in its own process group with output to LOGFILE,
# printing a timestamped heartbeat every 30 s (the only output a CI log sees for minutes),
# and the log tail if it fails.
step() {
  local label=$1 logfile=$2; shift 2
  local t0=$EPOCHSECONDS rc=0
  log "$label ..."
  (
    # The sleep is a child of its own: stop it with us, so nothing outlives the build.
    trap 'kill "$!" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 30 &
      wait "$!"
      local extra=""
      if [[ $label == build* ]]; then
        # go build -v prints each package as it compiles it.
        extra="; $(wc -l <"$logfile") packages compiled, last: $(tail -n1 "$logfile")"
      else
        extra="; module download cache $(du -sm "$MODCACHE_DL" 2>/dev/null | cut -f1) MiB"
        [[ -s $logfile ]] && extra+=", last: $(tail -n1 "$logfile")"
      fi
      log "  ... $label: $((EPOCHSECONDS - t0))s$extra"
    done
  ) &
  HEARTBEAT_PID=$!
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  STEP_PID=$!
  wait "$STEP_PID" || rc=$?
  STEP_PID=
  kill "$HEARTBEAT_PID" 2>/dev/null || true
  wait "$HEARTBEAT_PID" 2>/dev/null || true
  HEARTBEAT_PID=
  if ((rc != 0)); then
    log "FAILED: $label (exit $rc); last lines of $logfile:"
    tail -n 40 "$logfile" >&2
    return "$rc"
  fi
  log "done: $label ($((EPOCHSECONDS - t0))s)"
}

BUILD_T0=$EPOCHSECONDS
HAVE_GO=$(go_version)
log "cold build of Kubernetes $K8S_VERSION + etcd $ETCD_VERSION with go $HAVE_GO, $(nproc) cores"
log "output: $BIN_DIR (scratch: $WORK)"

# --- Kubernetes: a scratch module requiring k8s.io/kubernetes ---
step "download k8s.io/kubernetes@$K8S_VERSION source" "$WORK/download-k8s.log" \
  go mod download -json "k8s.io/kubernetes@$K8S_VERSION"
K8S_GOMOD=$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p' "$WORK/download-k8s.log")
K8S_ORIGIN_HASH=$(sed -n 's/^[[:space:]]*"Hash": "\([0-9a-f]\{40\}\)",\{0,1\}$/\1/p' "$WORK/download-k8s.log" | head -n1)
[[ -f $K8S_GOMOD ]] || die "no go.mod for k8s.io/kubernetes@$K8S_VERSION (see $WORK/download-k8s.log)"

NEED_GO=$(go_directive "$K8S_GOMOD")
version_ge "$HAVE_GO" "$NEED_GO" ||
  die "k8s.io/kubernetes $K8S_VERSION needs go $NEED_GO but this machine has go $HAVE_GO; pick an older KIDP_K8S_VERSION (build.sh --suggest-version)"

K8S_ETCD=$(required_version "$K8S_GOMOD" go.etcd.io/etcd/server/v3)
if [[ -n $K8S_ETCD && $K8S_ETCD != "$ETCD_VERSION" ]]; then
  log "warning: Kubernetes $K8S_VERSION is tested with etcd server $K8S_ETCD, building etcd $ETCD_VERSION as asked"
fi

# Staging modules: k8s.io/kubernetes replaces each k8s.io/<x> with ./staging/src/k8s.io/<x>,
# which a module zip does not carry. Those replaces only apply when kubernetes is the main
# module, so ours points each one that kubernetes requires to its published v0.<minor>.<patch>.
STAGING_VERSION=v0.${K8S_VERSION#v1.}
mapfile -t STAGING < <(
  awk '
    /^replace[[:space:]]*\(/ { inrep = 1; next }
    inrep && /^\)/ { inrep = 0; next }
    inrep && $2 == "=>" && $3 ~ /^\.\/staging\/src\// { print $1; next }
    /^replace[[:space:]]/ && $3 == "=>" && $4 ~ /^\.\/staging\/src\// { print $2 }
  ' "$K8S_GOMOD"
)
((${#STAGING[@]} > 0)) || die "no staging replace directives found in $K8S_GOMOD"
REPLACES=()
SKIPPED=()
for m in "${STAGING[@]}"; do
  if [[ -n $(required_version "$K8S_GOMOD" "$m") ]]; then REPLACES+=("$m"); else SKIPPED+=("$m"); fi
done
log "generated ${#REPLACES[@]} staging replace directives => $STAGING_VERSION from $K8S_GOMOD${SKIPPED[*]:+ (not required by kubernetes, left out: ${SKIPPED[*]})}"

# The `tool` directive below needs go >= 1.24 in our go.mod; newer tags ask for more anyway.
SCRATCH_GO=$NEED_GO
version_ge "$SCRATCH_GO" 1.24 || SCRATCH_GO=1.24

mkdir -p "$WORK/kube" "$WORK/etcd"
{
  echo "// Generated by test/env/control-plane/build.sh; scratch module, not part of KIDP."
  echo "module kidp.local/control-plane/kube"
  echo
  echo "go $SCRATCH_GO"
  # Same GODEBUG defaults as a build inside the kubernetes repository.
  grep -E '^godebug[[:space:]]' "$K8S_GOMOD" || true
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "tool ("
  echo "	k8s.io/kubernetes/cmd/kube-apiserver"
  echo "	k8s.io/kubernetes/cmd/kubectl"
  echo ")"
  echo
  echo "replace ("
  for m in "${REPLACES[@]}"; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done
  echo ")"
} >"$WORK/kube/go.mod"

step "resolve and download Kubernetes dependencies (go mod tidy)" "$WORK/tidy-kube.log" \
  env -C "$WORK/kube" go mod tidy

# Version stamping as hack/lib/version.sh does, so `kubectl version` and /version report
# the release. The build date is the tag's time: the same inputs give the same binaries.
K8S_TAG_TIME=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' "k8s.io/kubernetes@$K8S_VERSION")
MINOR=${K8S_VERSION#v1.}
MINOR=${MINOR%%.*}
KUBE_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  KUBE_LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$MINOR"
  KUBE_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$K8S_TAG_TIME"
  # The proxy does not always say which commit a tag is; empty beats "$Format:%H$".
  KUBE_LDFLAGS+=" -X $pkg.gitCommit=$K8S_ORIGIN_HASH"
done

TMP_BIN=$(mktemp -d "$WORK/bin.XXXXXX")
for cmd in kube-apiserver kubectl; do
  step "build $cmd" "$WORK/build-$cmd.log" \
    env -C "$WORK/kube" go build -v -trimpath -ldflags="$KUBE_LDFLAGS" -o "$TMP_BIN/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done

# --- etcd: our own tiny main around etcdmain, in a scratch module of its own so that
# etcd's dependency versions are the ones etcd's go.mod asks for ---
cat >"$WORK/etcd/main.go" <<'EOF'
// Command etcd is the etcd server, built from go.etcd.io/etcd/server/v3 for KIDP's local
// control plane: etcdmain is what the upstream etcd binary runs.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
cat >"$WORK/etcd/go.mod" <<EOF
// Generated by test/env/control-plane/build.sh; scratch module, not part of KIDP.
module kidp.local/control-plane/etcd

go $SCRATCH_GO

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
EOF
step "resolve and download etcd $ETCD_VERSION dependencies (go mod tidy)" "$WORK/tidy-etcd.log" \
  env -C "$WORK/etcd" go mod tidy
ETCD_API_VERSION=$(awk '$1 == "go.etcd.io/etcd/api/v3" { print $2; exit }' "$WORK/etcd/go.mod")
[[ $ETCD_API_VERSION == "$ETCD_VERSION" ]] ||
  log "warning: etcd server $ETCD_VERSION resolved go.etcd.io/etcd/api/v3 $ETCD_API_VERSION"
step "build etcd" "$WORK/build-etcd.log" \
  env -C "$WORK/etcd" go build -v -trimpath -ldflags="-s -w" -o "$TMP_BIN/etcd" .

# --- check, then publish atomically ---
# Each output is captured before it is matched: with pipefail, `cmd | grep -q` fails when
# grep exits at the first match and cmd is still writing (SIGPIPE), which a loaded machine
# turns from rare to likely.
kubectl_version=$("$TMP_BIN/kubectl" version --client --output=yaml)
grep -q "gitVersion: $K8S_VERSION" <<<"$kubectl_version" ||
  die "built kubectl does not report $K8S_VERSION"
apiserver_version=$("$TMP_BIN/kube-apiserver" --version)
grep -qx "Kubernetes $K8S_VERSION" <<<"$apiserver_version" ||
  die "built kube-apiserver does not report $K8S_VERSION"
etcd_version=$("$TMP_BIN/etcd" --version)
grep -q "etcd Version: ${ETCD_VERSION#v}" <<<"$etcd_version" ||
  die "built etcd does not report ${ETCD_VERSION#v} (it says: ${etcd_version//$'\n'/; })"

BUILD_SECONDS=$((EPOCHSECONDS - BUILD_T0))
mkdir -p "$OUT_DIR"
cp "$WORK/kube/go.mod" "$OUT_DIR/kube.go.mod"
cp "$WORK/kube/go.sum" "$OUT_DIR/kube.go.sum"
cp "$WORK/etcd/go.mod" "$OUT_DIR/etcd.go.mod"
cp "$WORK/etcd/go.sum" "$OUT_DIR/etcd.go.sum"
cat >"$OUT_DIR/BUILD-INFO" <<EOF
kubernetes=$K8S_VERSION
kubernetes_commit=${K8S_ORIGIN_HASH:-unknown}
staging=$STAGING_VERSION
etcd=$ETCD_VERSION
go=$(go env GOVERSION)
built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
build_seconds=$BUILD_SECONDS
EOF
# rename(2) of a directory is atomic: readers see either no bin/ or a complete one.
chmod 755 "$TMP_BIN"
rm -rf "$BIN_DIR"
mv -T "$TMP_BIN" "$BIN_DIR"
TMP_BIN=
log "built kube-apiserver, kubectl, etcd in $((BUILD_SECONDS / 60))m$((BUILD_SECONDS % 60))s: $BIN_DIR ($(du -sh "$BIN_DIR" | cut -f1))"
echo "$BIN_DIR"
