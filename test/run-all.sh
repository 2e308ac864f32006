#!/usr/bin/env bash
# The test command of the README (`make test`) and of CI (.ci/run): install, lint, build,
# then every jest project: unit tests, and e2e tests on one real control plane + Kafka
# that jest's global setup starts (building and caching it on the first run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
step() { printf '\n[%s] === %s ===\n' "$(date +%H:%M:%S)" "$*"; }
t0=$SECONDS

step "install"
bash test/env/install.sh
step "lint (eslint + tsc --noEmit)"
npm run --silent lint
step "build"
npm run --silent build
step "tests: unit + e2e (jest)"
npm test
if [ -f dist/cli/main.js ] && [ -d policies ]; then
  step "built-in policy suites (kidp test policies/)"
  node dist/cli/main.js test policies
fi
step "all green in $((SECONDS - t0))s"
