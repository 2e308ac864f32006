#!/usr/bin/env bash
# Installs what the project needs on a fresh machine of its kind: npm dependencies
# (exact versions from the lockfile) and the Debian tools the scripts call. Go, Java and
# Maven come with the machine; kube-apiserver, etcd, kubectl and Kafka are built or
# fetched by test/env on first start and cached.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
log() { printf '[%s] install: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

missing=()
for tool in openssl curl make; do command -v "$tool" >/dev/null || missing+=("$tool"); done
# The compliance dashboard's e2e test drives Debian's chromium through playwright-core.
command -v chromium >/dev/null || missing+=(chromium)
# The postgresql and redis brokers provision into real servers (test/env/postgres, test/env/redis).
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
# moto (the AWS API emulator, test/env/moto) is pip-installed into a venv in the user cache.
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for tool in go java mvn node npm; do
  command -v "$tool" >/dev/null || { log "$tool is missing: this project expects the polyglot machine kind (Go, JDK 17 + Maven, Node 20)"; exit 1; }
done

# Installs only when the lockfile changed since the last install, so a warm run is instant.
# `npm install --no-save` rather than `npm ci`: the registry this machine kind reaches does
# not serve other platforms' optional binaries (@swc/core-darwin-*, ...), so the lockfile
# cannot list them and `npm ci` refuses it as out of sync. With a lockfile present,
# `npm install` installs the locked versions, and --no-save leaves the lockfile as it is.
stamp=node_modules/.kidp-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  log "npm install (locked versions from package-lock.json)"
  npm install --no-save --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
else
  log "node_modules up to date"
fi
