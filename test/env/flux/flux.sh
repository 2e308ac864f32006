#!/usr/bin/env bash
# Flux on the local control plane: source-controller and kustomize-controller (built by
# build.sh from their Go modules) as processes against the apiserver, with Flux's CRDs of the
# same versions, and a Git server on loopback (git-http.js: git's own http-backend behind
# basic auth) for the GitRepositories to pull from. The control plane must be up
# (env.sh start; KIDP_FLUX=1 env.sh start starts this too).
#
#   flux.sh start        build what is missing, install CRDs and RBAC, start the three processes
#   flux.sh stop         stop them; leaves no process or run directory behind
#   flux.sh status       one line per process
#   flux.sh env          export lines: KIDP_GIT_URL, KIDP_GIT_ROOT, KIDP_GIT_SECRET, KIDP_FLUX_NAMESPACE
#   flux.sh repo NAME    create the bare repository NAME.git (branch main); print its URL
#
# No controller-manager, scheduler or node runs here, and Flux needs none: both controllers
# only talk to the apiserver and to each other over HTTP (kustomize-controller downloads the
# artifact that source-controller serves). What a cluster would give them is made here:
# ServiceAccount tokens (TokenRequest: the apiserver issues them, no token controller needed),
# and leader election is off, since out of a cluster controller-runtime has no namespace for
# its Lease (one replica each anyway).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cp="$here/../control-plane/control-plane.sh"
RUN=${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/flux
readonly NS=flux-system GIT_SECRET=kidp-git-auth
# The controllers' tokens outlive any local session; a cluster's kubelet would rotate them.
readonly TOKEN_DURATION=24h
log() { printf '[%s] flux: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

alive() { [[ -f $RUN/$1.pid ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

load_cp() {
  bash "$cp" status >/dev/null 2>&1 || die "the control plane is not up (bash test/env/env.sh start)"
  eval "$(bash "$cp" env)"
  KUBECTL=$KIDP_KUBECTL
}

free_port() {
  local port
  for port in $(shuf -i 33000-39999 -n 30); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then echo "$port"; return; fi
  done
  return 1
}

# kubeconfig_for SA: a kubeconfig with a TokenRequest token of flux-system/SA.
kubeconfig_for() {
  local sa=$1 file=$RUN/$1.kubeconfig token server ca
  token=$("$KUBECTL" -n "$NS" create token "$sa" --duration="$TOKEN_DURATION")
  server=$("$KUBECTL" config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
  ca=$("$KUBECTL" config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
  (
    umask 077
    cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: local
    cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
  - name: $sa
    user: {token: "$token"}
contexts:
  - name: $sa
    context: {cluster: local, user: $sa, namespace: $NS}
current-context: $sa
EOF
  )
  echo "$file"
}

# wait_ready NAME URL: until URL answers 200, or the process exits, or 60 s.
wait_ready() {
  local name=$1 url=$2 deadline=$((SECONDS + 60))
  until curl -sf -o /dev/null "$url"; do
    alive "$name" || { tail -n 30 "$RUN/$name.log" >&2; die "$name exited during start"; }
    ((SECONDS < deadline)) || { tail -n 30 "$RUN/$name.log" >&2; die "$name not ready within 60 s"; }
    sleep 0.3
  done
}

start_git() {
  if alive git-http; then log "git server already running (pid $(cat "$RUN/git-http.pid"))"; return; fi
  mkdir -p "$RUN/git"
  [[ -s $RUN/git-credentials ]] || (umask 077; printf 'flux:%s\n' "$(openssl rand -hex 16)" >"$RUN/git-credentials")
  rm -f "$RUN/git-http.port"
  nohup node "$here/git-http.js" "$RUN/git" "$RUN/git-http.port" "$RUN/git-credentials" >"$RUN/git-http.log" 2>&1 </dev/null &
  echo $! >"$RUN/git-http.pid"
  local deadline=$((SECONDS + 20))
  until [[ -s $RUN/git-http.port ]]; do
    alive git-http || { cat "$RUN/git-http.log" >&2; die "git server exited during start"; }
    ((SECONDS < deadline)) || die "git server did not listen within 20 s"
    sleep 0.1
  done
  log "git server on http://127.0.0.1:$(cat "$RUN/git-http.port")/ (repositories: $RUN/git, log: $RUN/git-http.log)"
}

# start_controller NAME ARGS...: a Flux controller as flux-system/NAME, JSON logs in $RUN.
start_controller() {
  local name=$1 health metrics kubeconfig
  shift
  if alive "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  health=$(free_port)
  metrics=$(free_port)
  kubeconfig=$(kubeconfig_for "$name")
  log "starting $name (logs: $RUN/$name.log)"
  # RUNTIME_NAMESPACE: where Flux's controllers think they run (events, defaults).
  KUBECONFIG=$kubeconfig RUNTIME_NAMESPACE=$NS nohup "$BIN/$name" \
    --health-addr="127.0.0.1:$health" --metrics-addr="127.0.0.1:$metrics" \
    --enable-leader-election=false --log-encoding=json --log-level=info "$@" \
    >"$RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  echo "$health" >"$RUN/$name.health-port"
  wait_ready "$name" "http://127.0.0.1:$health/readyz"
  log "$name ready"
}

start() {
  local t0=$SECONDS dir storage
  load_cp
  dir=$(bash "$here/build.sh" | tail -n1)
  BIN=$dir/bin
  mkdir -p "$RUN"
  chmod 700 "$RUN"
  log "installing Flux CRDs from $dir/crds (the built module versions)"
  "$KUBECTL" apply --server-side --force-conflicts -f "$dir/crds/" >/dev/null
  "$KUBECTL" wait --for condition=established --timeout=60s -f "$dir/crds/" >/dev/null
  "$KUBECTL" apply --server-side -f "$here/flux-system.yaml" >/dev/null
  start_git
  # The Git credentials as Flux reads them (a basic-auth Secret a GitRepository names).
  "$KUBECTL" -n "$NS" create secret generic "$GIT_SECRET" --from-literal=username=flux \
    --from-literal=password="$(cut -d: -f2- "$RUN/git-credentials")" --dry-run=client -o yaml |
    "$KUBECTL" apply --server-side --force-conflicts -f - >/dev/null
  mkdir -p "$RUN/storage"   # source-controller wants it to exist
  storage=$(cat "$RUN/storage.port" 2>/dev/null || free_port)
  echo "$storage" >"$RUN/storage.port"
  # The artifact server: kustomize-controller downloads from the URL advertised here.
  start_controller source-controller --storage-path="$RUN/storage" \
    --storage-addr="127.0.0.1:$storage" --storage-adv-addr="127.0.0.1:$storage"
  start_controller kustomize-controller --no-remote-bases=true
  log "Flux up in $((SECONDS - t0))s: $(cat "$dir/BUILD-INFO" | tr '\n' ' ')"
}

stop_one() {
  local name=$1 pid
  alive "$name" || { rm -f "$RUN/$name.pid"; return 0; }
  pid=$(cat "$RUN/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN/$name.pid"
  log "stopped $name"
}

stop() {
  stop_one kustomize-controller
  stop_one source-controller
  stop_one git-http
  rm -rf "$RUN"
}

status() {
  local name rc=0
  for name in git-http source-controller kustomize-controller; do
    if alive "$name"; then echo "$name: up (pid $(cat "$RUN/$name.pid"))"; else echo "$name: down"; rc=1; fi
  done
  return $rc
}

env_lines() {
  [[ -s $RUN/git-http.port ]] || die "Flux is not up (flux.sh start)"
  printf 'export KIDP_GIT_URL=%q\n' "http://127.0.0.1:$(cat "$RUN/git-http.port")"
  printf 'export KIDP_GIT_ROOT=%q\n' "$RUN/git"
  printf 'export KIDP_GIT_SECRET=%q\n' "$GIT_SECRET"
  printf 'export KIDP_FLUX_NAMESPACE=%q\n' "$NS"
}

repo() {
  local name=$1
  [[ $name =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "repository names are lowercase letters, digits and '-': $name"
  [[ -d $RUN/git ]] || die "Flux is not up (flux.sh start)"
  if [[ ! -d $RUN/git/$name.git ]]; then
    git init -q --bare --initial-branch=main "$RUN/git/$name.git"
  fi
  echo "http://127.0.0.1:$(cat "$RUN/git-http.port")/$name.git"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_lines ;;
  repo) repo "${2:?usage: $0 repo NAME}" ;;
  *) echo "usage: $0 start|stop|status|env|repo NAME" >&2; exit 2 ;;
esac
