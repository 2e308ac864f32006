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
eval "$(bash test/env/env.sh env)"
log "applying examples/"
"$KUBECTL" apply -f examples/

cat <<MSG

KIDP is up on a local control plane and Kafka (both on loopback).

  $(bash test/env/env.sh env | tr '\n' ' ')

Try:
  kubectl get kidp -A                       # everything KIDP manages (category 'kidp')
  kubectl get teams,applications -A
  kubectl get databases.platform.kidp.io -n payments -o yaml
  kubectl explain teams.spec                # the schema, from crds/
  kubectl apply -f examples/05-database.yaml --dry-run=server

Stop it with: make down
MSG
