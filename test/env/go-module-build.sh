# shellcheck shell=bash
# Sourced by test/env/flux/build.sh and test/env/helm/build.sh: build a Go command from a
# released module, as its own main module, and cache the binaries outside the checkout, the
# way control-plane/build.sh does for Kubernetes (DESIGN.md §7).
#
# A release is built inside a copy of its own module source, so its go.mod and go.sum (its
# replace directives, its exact dependency versions) apply as in the project's own release
# builds. A module zip leaves out nested modules (Flux's api/), so a `replace X => ./dir`
# whose directory is missing is pointed at X's published release of the same version.
#
# The caller sets CACHE_ROOT and LOG_NAME before sourcing.

# The builds must use the machine's Go, never a toolchain fetched on the fly; CGO off gives
# static binaries, as the Flux and Helm release builds do.
export GOTOOLCHAIN=local CGO_ENABLED=0

log() { printf '[%s] %s: %s\n' "$(date +%H:%M:%S)" "$LOG_NAME" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

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
go_directive() { awk '$1 == "go" { print $2; exit }' "$1"; }
mod_file() { go list -m -json "$1@$2" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p'; }
required_version() { # required_version GOMOD MODULE
  awk -v m="$2" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$1"
}

# suggest_version MODULE: the newest release whose go directive this machine's Go meets, with
# the k8s.io/client-go it requires (how the pins were chosen).
suggest_version() {
  local module=$1 have v gomod want
  command -v go >/dev/null || die "go is not installed"
  have=$(go_version)
  for v in $(go list -m -versions "$module" | tr ' ' '\n' | grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -rV); do
    gomod=$(mod_file "$module" "$v")
    want=$(go_directive "$gomod")
    if version_ge "$have" "$want"; then
      echo "$module $v (go.mod: go $want; k8s.io/client-go $(required_version "$gomod" k8s.io/client-go))"
      return 0
    fi
    log "$module $v needs go $want (machine: $have): skipped"
  done
  die "no release of $module builds with go $have"
}

# Takes the cache's build lock (fd 9); a second caller waits, then finds the binaries cached.
build_lock() {
  mkdir -p "$CACHE_ROOT"
  exec 9>"$CACHE_ROOT/.build.lock"
  if ! flock -n 9; then
    log "another build is running in $CACHE_ROOT; waiting for it"
    flock 9
  fi
}

STEP_PID=
HEARTBEAT_PID=
WORK=
TMP_OUT=
# Scratch dir under the cache, removed on any exit; an interrupted build caches nothing.
build_scratch() {
  rm -rf "$CACHE_ROOT"/.build-* "$CACHE_ROOT"/.staging.*
  WORK=$(mktemp -d "$CACHE_ROOT/.build-$1.XXXXXX")
  export GOTMPDIR=$WORK/tmp
  mkdir -p "$GOTMPDIR"
  trap build_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

build_cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n $HEARTBEAT_PID ]]; then kill "$HEARTBEAT_PID" 2>/dev/null || true; fi
  if [[ -n $STEP_PID ]]; then
    kill -TERM -- "-$STEP_PID" 2>/dev/null || true
    wait "$STEP_PID" 2>/dev/null || true
  fi
  # Module sources are copied read-only from the module cache.
  [[ -n $WORK ]] && chmod -R u+w "$WORK" 2>/dev/null
  rm -rf "$WORK" "$TMP_OUT"
  if ((rc != 0)); then log "build failed or interrupted (exit $rc); nothing was cached"; fi
  exit "$rc"
}

# step LABEL LOGFILE CMD...: CMD in its own process group, output to LOGFILE, a timestamped
# heartbeat every 30 s (all a CI log sees for minutes), the log tail if it fails.
step() {
  local label=$1 logfile=$2
  shift 2
  local t0=$EPOCHSECONDS rc=0
  log "$label ..."
  (
    trap 'kill "$!" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 30 &
      wait "$!"
      local extra=""
      if [[ $label == build* ]]; then
        extra="; $(wc -l <"$logfile") packages compiled, last: $(tail -n1 "$logfile")"
      elif [[ -s $logfile ]]; then
        extra="; last: $(tail -n1 "$logfile")"
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

# module_source MODULE VERSION: copies the module's source to $WORK/src/<last path element>
# and sets SRC to that directory; checks its go directive against this machine's Go.
SRC=
module_source() {
  local module=$1 version=$2 name dir src need
  name=${module##*/}
  step "download $module@$version source" "$WORK/download-$name.log" go mod download -json "$module@$version"
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' "$WORK/download-$name.log")
  [[ -d $dir ]] || die "no source directory for $module@$version (see $WORK/download-$name.log)"
  src=$WORK/src/$name
  mkdir -p "$WORK/src"
  cp -r "$dir" "$src"
  chmod -R u+w "$src"
  need=$(go_directive "$src/go.mod")
  version_ge "$(go_version)" "$need" ||
    die "$module $version needs go $need but this machine has go $(go_version); pick an older version (build.sh --suggest-version)"
  # Nested modules are not in the zip: their local replace goes to the same released version.
  local path target
  while read -r path target; do
    [[ -n $path ]] || continue
    if [[ ! -d $src/$target ]]; then
      log "replace $path => $target (a nested module, not in the module zip): $path@$version"
      go -C "$src" mod edit -replace "$path=$path@$version"
    fi
  done < <(go -C "$src" mod edit -json | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const r of JSON.parse(s).Replace ?? []) if (/^\.\.?\//.test(r.New.Path)) console.log(r.Old.Path, r.New.Path);
    });')
  SRC=$src
}

# publish OUT_DIR: makes $TMP_OUT (staged under the cache root) OUT_DIR atomically: rename(2)
# of a directory, so readers see either no OUT_DIR or a complete one.
publish() {
  local out=$1
  chmod 755 "$TMP_OUT"
  rm -rf "$out"
  mv -T "$TMP_OUT" "$out"
  TMP_OUT=
}
