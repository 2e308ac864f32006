#!/usr/bin/env bash
# `make up`: everything a newcomer needs to see KIDP work on this machine.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
log() { printf '[%s] up: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

bash test/env/install.sh
log "building KIDP (tsc)"
npm run --silent build
bash test/env/env.sh start
bash test/env/platform.sh start
eval "$(bash test/env/env.sh env)"
log "applying examples/ (through KIDP's admission webhooks)"
# The target first, with this broker's key: status events are checked against it, and one
# signed by a key the target does not hold yet is dead-lettered, not applied.
"$KUBECTL" apply -f examples/02-deploymenttarget.yaml
bash test/env/platform.sh connect-target local-production
"$KUBECTL" apply -f examples/08-deploymenttarget-postgresql.yaml
bash test/env/platform.sh connect-postgresql-target local-postgresql
# Everything else (08 again would put back the placeholder port that connect set).
# shellcheck disable=SC2046
"$KUBECTL" apply $(for f in examples/*.yaml; do [[ $f == */08-deploymenttarget-postgresql.yaml ]] || printf -- '-f %s ' "$f"; done)
log "waiting for the example Service, Database, Cache and Topic to become Ready (deployed by the reference broker over Kafka)"
"$KUBECTL" wait -n payments --for=jsonpath='{.status.phase}'=Ready --timeout=120s \
  services.platform.kidp.io/checkout-api databases/checkout-db caches/checkout-sessions topics/payment-events || \
  log "not all Ready yet: see kubectl get kidp -n payments and the logs in ${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/platform/"
# Opt-in: the aws broker against moto, an AWS API emulator (not AWS).
if [[ ${KIDP_AWS:-} == 1 ]]; then
  "$KUBECTL" apply -f examples/aws/deploymenttarget-aws.yaml
  bash test/env/platform.sh connect-aws-target local-aws
  "$KUBECTL" apply -f examples/aws/resources-aws.yaml
  log "waiting for ledger-rds, sessions-redis and refunds-queue (RDS, ElastiCache, SQS on moto, the AWS API emulator)"
  "$KUBECTL" wait -n payments --for=jsonpath='{.status.phase}'=Ready --timeout=120s databases/ledger-rds caches/sessions-redis topics/refunds-queue || \
    log "not all Ready yet: see ${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/platform/broker-aws.log"
fi
log "waiting for orders-db, a real PostgreSQL database (provisioned by the postgresql broker)"
# The portal authenticates readers by token (TokenReview); the local admin is a client
# certificate a browser cannot present, so make up adds a local reader ServiceAccount.
"$KUBECTL" get serviceaccount kidp-portal-reader -n default >/dev/null 2>&1 || {
  "$KUBECTL" create serviceaccount kidp-portal-reader -n default >/dev/null
  "$KUBECTL" create clusterrolebinding kidp-portal-reader --clusterrole=cluster-admin --serviceaccount=default:kidp-portal-reader >/dev/null
}
"$KUBECTL" wait -n payments --for=jsonpath='{.status.phase}'=Ready --timeout=120s databases/orders-db || \
  log "orders-db not Ready yet: see ${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/platform/broker-postgresql.log"

cat <<MSG

KIDP is up on a local control plane and Kafka (both on loopback).

In your shell, first:
  eval "\$(KIDP_RUN_DIR=${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)} bash test/env/env.sh env)"   # KUBECONFIG, kubectl on PATH, KAFKA_BOOTSTRAP

Try:
  kubectl get kidp -A                       # everything KIDP manages (category 'kidp')
  kubectl get services.platform.kidp.io -n payments -o yaml   # labels and finalizer added by the webhook
  kubectl apply -f - <<'YAML'               # denied by the Enforce policy in examples/
  apiVersion: platform.kidp.io/v1alpha1
  kind: Database
  metadata: {name: no-backup, namespace: payments, labels: {environment: production}}
  spec: {owner: {kind: Application, name: checkout}, engine: postgresql, version: "16"}
  YAML
  kubectl delete team payments              # denied: the team still owns resources
  tail -f ${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/platform/webhook/decisions.jsonl   # the decision log
  kubectl get policyreports -A              # background audit results (wgpolicyk8s.io)
  kubectl create token kidp-portal-reader -n default   # a token for the portal (a local reader make up created)
  open http://127.0.0.1:$(cat "${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/platform/dashboard.port")/login   # the portal and compliance dashboard: sign in with that token
  kubectl get teams,applications -A
  kubectl get databases.platform.kidp.io -n payments -o yaml
  # orders-db is a real PostgreSQL database; its Secret holds what connects (host, port, database, user, password, uri):
  psql "\$(kubectl get secret orders-db-connection -n payments -o jsonpath='{.data.uri}' | base64 -d)" -c 'select current_user, current_database()'
  kubectl get team payments -o jsonpath='{.status.cost}'   # the team's cost by cost center (configurable price table, not AWS's prices)
  kubectl explain teams.spec                # the schema, from crds/
  kubectl apply -f examples/05-database.yaml --dry-run=server

Stop it with: make down
MSG
if [[ ${KIDP_AWS:-} == 1 ]]; then
  cat <<MSG
With KIDP_AWS=1, the aws broker provisions through moto, an AWS API emulator on loopback (not AWS):
  kubectl get databases,caches,topics -n payments -l environment=staging
  kubectl get secret sessions-redis-connection -n payments -o jsonpath='{.data.host}' | base64 -d   # the endpoint ElastiCache (moto) reports; nothing listens there
  kubectl get databases.platform.kidp.io ledger-rds -n payments -o jsonpath='{.status.usage}'
MSG
fi
