#!/usr/bin/env bash
# KIDP's own processes on the local environment (env.sh must be up): the admission webhook
# (registered with the apiserver at https://127.0.0.1:<port>), the controllers with the
# status service, the reference kubernetes broker and the postgresql broker; with KIDP_AWS=1
# also the aws broker, provisioning through moto (an AWS API emulator on loopback, not AWS;
# env.sh starts it). Started from dist/, so run `npm run build` first; `make up` does.
#
#   platform.sh start    start what is not running; wait until the webhook is ready
#   platform.sh stop     stop them and unregister the webhook configurations
#   platform.sh status   one line per process
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
RUN=${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/platform
log() { printf '[%s] platform: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

alive() { [[ -f $RUN/$1.pid ]] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

# Each process's own Kafka client certificate lives under here (test/env/kafka/kafka.sh).
kafka_certs() { bash "$here/env.sh" env | sed -n "s/^export KIDP_KAFKA_CERTS=//p"; }

free_port() {
  local port
  for port in 9443 $(shuf -i 20000-32000 -n 20); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then echo "$port"; return; fi
  done
  return 1
}

start_webhook() {
  if alive webhook; then log "webhook already running (pid $(cat "$RUN/webhook.pid"))"; return; fi
  local port kubeconfig
  port=$(free_port)
  kubeconfig=$(bash "$here/env.sh" env | sed -n "s/^export KUBECONFIG=//p")
  mkdir -p "$RUN/webhook"
  # The control plane presents its webhook client certificate (control-plane/README.md):
  # then only it may send reviews. An older control plane without it gets an open port.
  local cp_run=${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/control-plane client_auth=()
  if [[ -f $cp_run/admission-config.yaml ]]; then
    client_auth=(--client-ca-file "$cp_run/certs/ca.crt" --client-name kube-apiserver-webhook-client)
  fi
  log "starting the admission webhook on https://127.0.0.1:$port (logs: $RUN/webhook.log, decisions: $RUN/webhook/decisions.jsonl)"
  nohup node "$root/dist/cli/main.js" webhook serve --kubeconfig "$kubeconfig" --host 127.0.0.1 --port "$port" --register \
    --cert-dir "$RUN/webhook/certs" --decision-log "$RUN/webhook/decisions.jsonl" "${client_auth[@]}" \
    --decision-stream-brokers "$(bash "$here/env.sh" env | sed -n "s/^export KAFKA_BOOTSTRAP=//p")" \
    --decision-stream-tls-dir "$(kafka_certs)/kidp-decision-stream" \
    >"$RUN/webhook.log" 2>&1 </dev/null &
  echo $! >"$RUN/webhook.pid"
  echo "$port" >"$RUN/webhook.port"
  local deadline=$((SECONDS + 60))
  until grep -q 'webhook configurations registered' "$RUN/webhook.log" 2>/dev/null; do
    if ! alive webhook; then tail -20 "$RUN/webhook.log" >&2; log "ERROR: the webhook exited during start"; exit 1; fi
    if ((SECONDS > deadline)); then tail -20 "$RUN/webhook.log" >&2; log "ERROR: the webhook did not register within 60 s"; exit 1; fi
    sleep 0.3
  done
  log "webhook ready and registered"
}

# start_daemon NAME READY-LOG-LINE ARGS...: a `kidp` daemon in the background, logs in $RUN.
start_daemon() {
  local name=$1 ready=$2
  shift 2
  if alive "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  log "starting $name (logs: $RUN/$name.log)"
  nohup node "$root/dist/cli/main.js" "$@" >"$RUN/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  local deadline=$((SECONDS + 90))
  # An empty READY-LOG-LINE means: ready when its port answers HTTP (the dashboard).
  until if [[ -n $ready ]]; then grep -q "$ready" "$RUN/$name.log" 2>/dev/null; else curl -sf -o /dev/null "http://127.0.0.1:$(cat "$RUN/$name.port")/healthz"; fi; do
    if ! alive "$name"; then tail -20 "$RUN/$name.log" >&2; log "ERROR: $name exited during start"; exit 1; fi
    if ((SECONDS > deadline)); then tail -20 "$RUN/$name.log" >&2; log "ERROR: $name not ready within 90 s"; exit 1; fi
    sleep 0.3
  done
  log "$name ready"
}

start_platform() {
  local kubeconfig kafka status_port broker_port
  kubeconfig=$(bash "$here/env.sh" env | sed -n "s/^export KUBECONFIG=//p")
  kafka=$(bash "$here/env.sh" env | sed -n "s/^export KAFKA_BOOTSTRAP=//p")
  status_port=$(cat "$RUN/status.port" 2>/dev/null || free_port_above 9444)
  broker_port=$(cat "$RUN/broker.port" 2>/dev/null || free_port_above 9445)
  echo "$status_port" >"$RUN/status.port"
  echo "$broker_port" >"$RUN/broker.port"
  # The controllers sign webhook deliveries with this key (created on first start, with
  # dispatch.key.pub beside it); the broker below trusts its public half, so the
  # controllers start first.
  start_daemon controllers 'kidp controllers running' controllers run --kubeconfig "$kubeconfig" --kafka "$kafka" \
    --kafka-tls-dir "$(kafka_certs)/kidp-controllers" --cert-dir "$RUN/platform-certs" --status-port "$status_port" --lease-namespace default \
    --dispatch-signing-key-file "$RUN/controllers/dispatch.key"
  # The platform namespace holds the persisted compliance trend (ConfigMap kidp-compliance-trend).
  local kubectl_bin
  kubectl_bin=$(bash "$here/env.sh" env | sed -n "s/^export KUBECTL=//p")
  KUBECONFIG=$kubeconfig "$kubectl_bin" get namespace kidp-system >/dev/null 2>&1 ||
    KUBECONFIG=$kubeconfig "$kubectl_bin" create namespace kidp-system >/dev/null
  start_daemon reports 'reports controller running' reports run --kubeconfig "$kubeconfig" --lease-namespace default --platform-namespace kidp-system
  local dashboard_port
  dashboard_port=$(cat "$RUN/dashboard.port" 2>/dev/null || free_port_above 8080)
  echo "$dashboard_port" >"$RUN/dashboard.port"
  start_daemon dashboard '' dashboard serve --kubeconfig "$kubeconfig" --host 127.0.0.1 --port "$dashboard_port" --platform-namespace kidp-system
  if [[ ! -f $RUN/controllers/dispatch.key.pub ]]; then
    log "ERROR: $RUN/controllers/dispatch.key.pub is missing; the broker's webhook would have no key to trust"
    exit 1
  fi
  # The broker writes only into the examples' target namespace (examples/02-deploymenttarget.yaml).
  start_daemon broker 'kidp broker running' broker run --kubeconfig "$kubeconfig" --kafka "$kafka" \
    --kafka-tls-dir "$(kafka_certs)/kidp-broker-kubernetes-broker" --kafka-app-issuer-dir "$(kafka_certs)/kidp-app-issuer" --namespace kidp-workloads --platform-namespace kidp-system \
    --cert-dir "$RUN/platform-certs" --webhook-port "$broker_port" --signing-key-file "$RUN/broker/signing.key" \
    --platform-public-key-file "$RUN/controllers/dispatch.key.pub" --status-api-url "https://127.0.0.1:$status_port"
  start_postgresql_broker "$kubeconfig" "$kafka" "$status_port"
  if [[ ${KIDP_AWS:-} == 1 ]]; then start_aws_broker "$kubeconfig" "$kafka" "$status_port"; fi
}

# The aws broker (opt-in, KIDP_AWS=1) provisions the Databases, Caches and Topics of
# examples/aws/ through moto's server mode (test/env/moto: an AWS API emulator, not AWS):
# its own Kafka principal and ACLs, the emulator's dummy keys as a Secret in kidp-system.
start_aws_broker() {
  local kubeconfig=$1 kafka=$2 status_port=$3 identity=aws-broker kubectl_bin
  kubectl_bin=$(bash "$here/env.sh" env | sed -n "s/^export KUBECTL=//p")
  eval "$(bash "$here/env.sh" env | grep '^export KIDP_AWS_')"
  if [[ -z ${KIDP_AWS_ENDPOINT:-} ]]; then log "ERROR: KIDP_AWS=1 but env.sh reports no moto endpoint (is moto up? bash test/env/env.sh status)"; exit 1; fi
  [[ -d $RUN/kafka-certs/kidp-broker-$identity ]] || bash "$here/kafka/kafka.sh" cert "kidp-broker-$identity" "$RUN/kafka-certs/kidp-broker-$identity" >/dev/null
  node "$root/dist/cli/main.js" kafka setup --kafka "$kafka" --kafka-tls-dir "$(kafka_certs)/kidp-admin" --broker-identity "$identity" >/dev/null
  KUBECONFIG=$kubeconfig "$kubectl_bin" -n kidp-system create secret generic aws-credentials --from-literal=accessKeyId="$KIDP_AWS_ACCESS_KEY_ID" \
    --from-literal=secretAccessKey="$KIDP_AWS_SECRET_ACCESS_KEY" --dry-run=client -o yaml | KUBECONFIG=$kubeconfig "$kubectl_bin" apply -f - >/dev/null
  start_daemon broker-aws 'kidp broker running' broker run --provider aws --identity "$identity" --kubeconfig "$kubeconfig" --kafka "$kafka" \
    --kafka-tls-dir "$RUN/kafka-certs/kidp-broker-$identity" --namespace payments --platform-namespace kidp-system \
    --cert-dir "$RUN/platform-certs" --webhook-port "$(free_port_above 9447)" --signing-key-file "$RUN/broker-aws/signing.key" \
    --platform-public-key-file "$RUN/controllers/dispatch.key.pub" --status-api-url "https://127.0.0.1:$status_port"
}

# The postgresql broker (issue 15) provisions Databases of examples/08-deploymenttarget-postgresql.yaml
# into the local PostgreSQL (test/env/postgres): its own Kafka principal and ACLs, the
# operator credentials as a Secret in kidp-system, and connection Secrets in the team's namespace.
start_postgresql_broker() {
  local kubeconfig=$1 kafka=$2 status_port=$3 identity=postgresql-broker kubectl_bin
  kubectl_bin=$(bash "$here/env.sh" env | sed -n "s/^export KUBECTL=//p")
  eval "$(bash "$here/env.sh" env | grep '^export KIDP_POSTGRES_')"
  [[ -d $RUN/kafka-certs/kidp-broker-$identity ]] || bash "$here/kafka/kafka.sh" cert "kidp-broker-$identity" "$RUN/kafka-certs/kidp-broker-$identity" >/dev/null
  node "$root/dist/cli/main.js" kafka setup --kafka "$kafka" --kafka-tls-dir "$(kafka_certs)/kidp-admin" --broker-identity "$identity" >/dev/null
  KUBECONFIG=$kubeconfig "$kubectl_bin" -n kidp-system create secret generic postgres-admin --from-literal=username="$KIDP_POSTGRES_ADMIN_USER" \
    --from-file=password=<(tr -d '\n' <"$KIDP_POSTGRES_ADMIN_PASSWORD_FILE") --dry-run=client -o yaml | KUBECONFIG=$kubeconfig "$kubectl_bin" apply -f - >/dev/null
  start_daemon broker-postgresql 'kidp broker running' broker run --provider postgresql --identity "$identity" --kubeconfig "$kubeconfig" --kafka "$kafka" \
    --kafka-tls-dir "$RUN/kafka-certs/kidp-broker-$identity" --namespace payments --platform-namespace kidp-system \
    --cert-dir "$RUN/platform-certs" --webhook-port "$(free_port_above 9446)" --signing-key-file "$RUN/broker-postgresql/signing.key" \
    --platform-public-key-file "$RUN/controllers/dispatch.key.pub" --status-api-url "https://127.0.0.1:$status_port" --backup-dir "$RUN/backups"
}

free_port_above() {
  local port
  for port in "$1" $(shuf -i 20000-32000 -n 20); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then echo "$port"; return; fi
  done
  return 1
}

# Points a DeploymentTarget at this broker: its JWT public key and webhook (the fallback).
connect_target() {
  local target=$1 kubeconfig kubectl
  eval "$(bash "$here/env.sh" env)"
  "$KUBECTL" patch deploymenttarget "$target" --type merge -p "$(node -e '
    const fs = require("fs");
    const [key, port] = process.argv.slice(1);
    process.stdout.write(JSON.stringify({ spec: { broker: { publicKey: fs.readFileSync(key, "utf8"), webhookURL: `https://127.0.0.1:${port}/v1/requests` } } }));
  ' "$RUN/broker/signing.key.pub" "$(cat "$RUN/broker.port")")" >/dev/null
  log "DeploymentTarget $target trusts this broker's key and falls back to https://127.0.0.1:$(cat "$RUN/broker.port")/v1/requests"
}

# Points a postgresql DeploymentTarget at the local server and the postgresql broker's key.
connect_postgresql_target() {
  local target=$1
  eval "$(bash "$here/env.sh" env)"
  "$KUBECTL" patch deploymenttarget "$target" --type merge -p "$(node -e '
    const fs = require("fs");
    const [key, host, port] = process.argv.slice(1);
    process.stdout.write(JSON.stringify({ spec: { server: { host, port: Number(port) }, broker: { publicKey: fs.readFileSync(key, "utf8") } } }));
  ' "$RUN/broker-postgresql/signing.key.pub" "$KIDP_POSTGRES_HOST" "$KIDP_POSTGRES_PORT")" >/dev/null
  log "DeploymentTarget $target points at PostgreSQL $KIDP_POSTGRES_HOST:$KIDP_POSTGRES_PORT and trusts the postgresql broker's key"
}

# Points an aws DeploymentTarget at the local emulator (moto) and the aws broker's key.
connect_aws_target() {
  local target=$1
  eval "$(bash "$here/env.sh" env)"
  "$KUBECTL" patch deploymenttarget "$target" --type merge -p "$(node -e '
    const fs = require("fs");
    const [key, endpoint, region] = process.argv.slice(1);
    process.stdout.write(JSON.stringify({ spec: { region, aws: { endpoint }, broker: { publicKey: fs.readFileSync(key, "utf8") } } }));
  ' "$RUN/broker-aws/signing.key.pub" "$KIDP_AWS_ENDPOINT" "$KIDP_AWS_REGION")" >/dev/null
  log "DeploymentTarget $target points at moto (an AWS API emulator, not AWS) at $KIDP_AWS_ENDPOINT and trusts the aws broker's key"
}

stop_one() {
  local name=$1 pid
  alive "$name" || { rm -f "$RUN/$name.pid"; return 0; }
  pid=$(cat "$RUN/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN/$name.pid"
  log "stopped $name"
}

case "${1:-}" in
  start)
    mkdir -p "$RUN"
    start_webhook
    start_platform
    ;;
  connect-target)
    connect_target "${2:?usage: $0 connect-target NAME}"
    ;;
  connect-postgresql-target)
    connect_postgresql_target "${2:?usage: $0 connect-postgresql-target NAME}"
    ;;
  connect-aws-target)
    connect_aws_target "${2:?usage: $0 connect-aws-target NAME}"
    ;;
  stop)
    stop_one broker-aws
    stop_one broker-postgresql
    stop_one broker
    stop_one dashboard
    stop_one reports
    stop_one controllers
    stop_one webhook
    # A configuration left behind with failurePolicy Fail would block every KIDP write.
    if kubeconfig=$(bash "$here/env.sh" env 2>/dev/null); then
      eval "$kubeconfig"
      "$KUBECTL" delete mutatingwebhookconfiguration,validatingwebhookconfiguration kidp --ignore-not-found >/dev/null 2>&1 || true
    fi
    rm -rf "$RUN"
    ;;
  status)
    for name in webhook controllers reports dashboard broker broker-postgresql broker-aws; do
      if alive "$name"; then echo "$name: up (pid $(cat "$RUN/$name.pid"))"; else echo "$name: down"; fi
    done
    ;;
  *) echo "usage: $0 start|stop|status|connect-target NAME|connect-postgresql-target NAME|connect-aws-target NAME" >&2; exit 2 ;;
esac
