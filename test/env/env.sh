#!/usr/bin/env bash
# The local KIDP environment: a real kube-apiserver + etcd (control-plane/), a real
# Kafka broker in KRaft mode (kafka/), and the PostgreSQL and Redis servers the providers
# provision into (postgres/, redis/), and moto's server mode as the AWS API the aws broker
# provisions through (moto/; an emulator, not AWS), all on loopback, with the KIDP CRDs installed.
#
#   env.sh start    build what is missing (cached in $KIDP_CACHE_DIR), start every part, install CRDs;
#                   with KIDP_FLUX=1 also Flux and a loopback Git server (flux/flux.sh)
#   env.sh stop     stop every part; leaves no process or run directory behind
#   env.sh status   prints "environment: up" or "environment: down" and each part's state
#   env.sh env      prints export lines: KUBECONFIG, KUBECTL, KAFKA_BOOTSTRAP, KIDP_KAFKA_CERTS,
#                   KIDP_POSTGRES_*, KIDP_REDIS_*, KIDP_AWS_*, PATH
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cp="$here/control-plane/control-plane.sh"
kafka="$here/kafka/kafka.sh"
# The shared servers the postgresql and redis brokers provision into (issue 15).
postgres="$here/postgres/postgres.sh"
redis="$here/redis/redis.sh"
flux="$here/flux/flux.sh"
# The AWS API emulator the aws broker is tested against (issue 15 item 5).
moto="$here/moto/moto.sh"

log() { printf '[%s] env: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

part_up() { bash "$1" status >/dev/null 2>&1; }

# Loads KUBECONFIG/KUBECTL/KAFKA_BOOTSTRAP into this shell from the parts' env output.
load_env() {
  eval "$(bash "$cp" env)"
  eval "$(bash "$kafka" env)"
  eval "$(bash "$postgres" env)"
  eval "$(bash "$redis" env)"
  eval "$(bash "$moto" env)"
  KUBECTL=$KIDP_KUBECTL
}

install_crds() {
  load_env
  log "installing CRDs from crds/"
  "$KUBECTL" apply --server-side --force-conflicts -k "$root/crds/" >/dev/null
  "$KUBECTL" wait --for condition=established --timeout=60s crd -l platform.kidp.io/managed-by=kidp >/dev/null
  log "CRDs established: $("$KUBECTL" get crd -l platform.kidp.io/managed-by=kidp -o name | wc -l)"
}

start() {
  local t0=$SECONDS kafka_log kafka_pid
  # Kafka's start (a Maven fetch when cold) runs beside the control-plane build.
  kafka_log="$(mktemp)"
  bash "$kafka" start >"$kafka_log" 2>&1 &
  kafka_pid=$!
  trap 'kill $kafka_pid 2>/dev/null || true; rm -f "$kafka_log"' INT TERM
  if ! bash "$cp" start; then
    wait "$kafka_pid" || true
    cat "$kafka_log" >&2; rm -f "$kafka_log"
    log "control plane failed to start"; exit 1
  fi
  if ! wait "$kafka_pid"; then
    cat "$kafka_log" >&2; rm -f "$kafka_log"
    log "Kafka failed to start"; exit 1
  fi
  sed 's/^/  kafka| /' "$kafka_log" >&2; rm -f "$kafka_log"
  trap - INT TERM
  bash "$postgres" start
  bash "$redis" start
  bash "$moto" start
  install_crds
  # Opt-in: a cold Flux build takes minutes and most tests never use it; the GitOps e2e test
  # starts it itself (flux.sh start is idempotent).
  if [[ ${KIDP_FLUX:-} == 1 ]]; then bash "$flux" start; fi
  log "environment up in $((SECONDS - t0))s; to use it from a shell:"
  env_lines | sed 's/^/    /' >&2
}

stop() {
  bash "$moto" stop || true
  bash "$redis" stop || true
  bash "$postgres" stop || true
  bash "$flux" stop || true
  bash "$kafka" stop || true
  bash "$cp" stop || true
}

status() {
  local cps=down ks=down pgs=down rs=down ms=down
  part_up "$cp" && cps=up
  part_up "$kafka" && ks=up
  part_up "$postgres" && pgs=up
  part_up "$redis" && rs=up
  part_up "$moto" && ms=up
  if [ "$cps" = up ] && [ "$ks" = up ] && [ "$pgs" = up ] && [ "$rs" = up ] && [ "$ms" = up ]; then echo "environment: up"; else echo "environment: down"; fi
  echo "control-plane: $cps"
  echo "kafka: $ks"
  echo "postgres: $pgs"
  echo "redis: $rs"
  if bash "$flux" status >/dev/null 2>&1; then echo "flux: up"; fi
  echo "moto: $ms"
}

# One normalized set of variables for people (eval) and for the jest global setup.
env_lines() {
  load_env
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG"
  printf 'export KUBECTL=%q\n' "$KUBECTL"
  printf 'export KAFKA_BOOTSTRAP=%q\n' "$KAFKA_BOOTSTRAP"
  # Kafka speaks only mTLS: one directory per principal (ca.crt, tls.crt, tls.key).
  printf 'export KIDP_KAFKA_CERTS=%q\n' "$KIDP_KAFKA_CERTS"
  local v
  for v in KIDP_POSTGRES_HOST KIDP_POSTGRES_PORT KIDP_POSTGRES_ADMIN_USER KIDP_POSTGRES_ADMIN_PASSWORD_FILE KIDP_REDIS_HOST KIDP_REDIS_PORT KIDP_REDIS_ADMIN_USER KIDP_REDIS_ADMIN_PASSWORD_FILE KIDP_AWS_ENDPOINT KIDP_AWS_REGION KIDP_AWS_ACCESS_KEY_ID KIDP_AWS_SECRET_ACCESS_KEY; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
  printf 'export KIDP_AUDIT_LOG=%q\n' "${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/control-plane/logs/audit.log"
  printf 'export PATH=%q:"$PATH"\n' "$(dirname "$KUBECTL")"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_lines ;;
  install-crds) install_crds ;;
  *) echo "usage: $0 start|stop|status|env|install-crds" >&2; exit 2 ;;
esac
