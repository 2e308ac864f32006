#!/usr/bin/env bash
# moto's server mode (PyPI moto[server]) on loopback: the AWS API emulator the `aws` broker
# is tested against (issue 15 item 5). It is an emulator, not AWS: see brokers/aws/README.md
# for what it does not emulate.
#
#   moto.sh install  create the venv in the user cache (once per moto version), pip install moto[server]
#   moto.sh start    install when missing, start moto_server on a free loopback port, wait until it answers
#   moto.sh stop     stop this run dir's moto_server; removes the run dir's moto/ state
#   moto.sh status   exit 0 and say where when running, exit 3 when not
#   moto.sh env      print export lines: KIDP_AWS_ENDPOINT, KIDP_AWS_REGION, KIDP_AWS_ACCESS_KEY_ID, KIDP_AWS_SECRET_ACCESS_KEY
#
# moto keeps everything in memory: a restart forgets every instance, which is what a fresh
# run dir wants. Credentials are not checked by moto; the dummy pair below is what the
# DeploymentTarget's Secret carries, so the broker still signs every call with SigV4.
set -euo pipefail
set +m

MOTO_VERSION="${KIDP_MOTO_VERSION:-5.2.5}"
CACHE_ROOT="${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp}"
VENV="$CACHE_ROOT/moto-$MOTO_VERSION"
RUN_DIR="${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/moto"
START_TIMEOUT="${KIDP_MOTO_START_TIMEOUT:-60}"
REGION=us-east-1
ACCESS_KEY_ID=AKIAKIDPTESTEXAMPLE
SECRET_ACCESS_KEY=kidp-moto-dummy-secret-not-checked

log() { printf 'moto: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

installed() { [[ -x "$VENV/bin/moto_server" && -f "$VENV/.installed" ]]; }

cmd_install() {
  installed && return 0
  command -v python3 >/dev/null || die "no python3: apt-get install -y python3 python3-venv (test/env/install.sh does)"
  log "installing moto[server]==$MOTO_VERSION into $VENV (once per version)"
  # The marker is written last: a half-done install (no marker) is started over.
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed: apt-get install -y python3-venv"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" || die "pip install moto[server]==$MOTO_VERSION failed"
  touch "$VENV/.installed"
}

endpoint() { printf 'http://127.0.0.1:%s' "$(<"$RUN_DIR/port")"; }

# Our server's process: the pid file's, with this run dir's port on its command line.
alive() {
  [[ -f "$RUN_DIR/port" && -f "$RUN_DIR/moto.pid" ]] || return 1
  local pid
  pid=$(<"$RUN_DIR/moto.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "moto_server -H 127.0.0.1 -p $(<"$RUN_DIR/port")"
}

# moto's own API answers only when the server is up. A generous timeout: on a loaded
# machine a slow answer is not a dead server, and a false "down" would start a second one.
answering() { curl -fsS -o /dev/null --max-time 10 "$(endpoint)/moto-api/" 2>/dev/null; }

running() { alive && answering; }

cmd_start() {
  if alive; then
    # Ours is up (or still starting): wait for it rather than start another beside it.
    local tries=0
    until answering; do
      tries=$((tries + 1))
      ((tries < START_TIMEOUT)) || die "moto_server (pid $(<"$RUN_DIR/moto.pid")) runs but does not answer; moto.sh stop, then start"
      sleep 1
    done
    log "already running at $(endpoint)"
    return 0
  fi
  cmd_install
  mkdir -p "$RUN_DIR"
  local port
  port=$(free_port)
  printf '%s\n' "$port" >"$RUN_DIR/port"
  # setsid: the server outlives this script, as the other parts' daemons do.
  setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$RUN_DIR/moto.log" 2>&1 </dev/null &
  printf '%s\n' "$!" >"$RUN_DIR/moto.pid"
  local waited=0
  until running; do
    kill -0 "$(<"$RUN_DIR/moto.pid")" 2>/dev/null || die "moto_server exited: $(tail -n 20 "$RUN_DIR/moto.log")"
    sleep 0.2
    waited=$((waited + 1))
    ((waited < START_TIMEOUT * 5)) || die "not answering after ${START_TIMEOUT}s: $(tail -n 20 "$RUN_DIR/moto.log")"
  done
  log "moto $MOTO_VERSION (AWS API emulator) at $(endpoint), region $REGION"
}

cmd_stop() {
  if alive; then
    local pid i
    pid=$(<"$RUN_DIR/moto.pid")
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do alive || break; sleep 0.1; done
    alive && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$RUN_DIR"
}

cmd_status() {
  if running; then
    echo "moto: running at $(endpoint)"
    return 0
  fi
  echo "moto: not running"
  return 3
}

cmd_env() {
  running || die "not running (moto.sh start)"
  printf 'export KIDP_AWS_ENDPOINT=%q\n' "$(endpoint)"
  printf 'export KIDP_AWS_REGION=%q\n' "$REGION"
  printf 'export KIDP_AWS_ACCESS_KEY_ID=%q\n' "$ACCESS_KEY_ID"
  printf 'export KIDP_AWS_SECRET_ACCESS_KEY=%q\n' "$SECRET_ACCESS_KEY"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
