#!/usr/bin/env bash
# A real Redis server (Debian's redis-server) on loopback for the `redis` broker (issue 15):
# a free port, a per-run dir, and ACLs only: the default user is off, the operator user
# `kidp-admin` (password in admin.password) is what the broker provisions with.
#
#   redis.sh start    start (data and ACL file in the run dir), wait until the admin can log in
#   redis.sh stop     SHUTDOWN NOSAVE; removes the run dir's redis/ state
#   redis.sh status   exit 0 and say where when running, exit 3 when not
#   redis.sh env      print export lines: KIDP_REDIS_HOST, _PORT, _ADMIN_USER, _ADMIN_PASSWORD_FILE
set -euo pipefail
set +m

RUN_DIR="${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/redis"
START_TIMEOUT="${KIDP_REDIS_START_TIMEOUT:-30}"
ADMIN_USER=kidp-admin

log() { printf 'redis: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

cli() { REDISCLI_AUTH=$(<"$RUN_DIR/admin.password") redis-cli --no-auth-warning --user "$ADMIN_USER" -h 127.0.0.1 -p "$(<"$RUN_DIR/port")" "$@"; }

running() {
  [[ -f "$RUN_DIR/port" && -f "$RUN_DIR/admin.password" ]] || return 1
  [[ "$(cli PING 2>/dev/null)" == PONG ]]
}

cmd_start() {
  command -v redis-server >/dev/null || die "no redis-server: apt-get install -y redis-server (test/env/install.sh does)"
  if running; then
    log "already running on 127.0.0.1:$(<"$RUN_DIR/port")"
    return 0
  fi
  mkdir -p "$RUN_DIR"
  umask 077
  [[ -s "$RUN_DIR/admin.password" ]] || openssl rand -hex 24 >"$RUN_DIR/admin.password"
  # The ACL file holds the admin only; the broker's users are added with ACL SETUSER and
  # persisted with ACL SAVE, so a restarted server keeps them.
  [[ -f "$RUN_DIR/users.acl" ]] || printf 'user default off\nuser %s on #%s ~* &* +@all\n' "$ADMIN_USER" "$(tr -d '\n' <"$RUN_DIR/admin.password" | sha256sum | cut -d' ' -f1)" >"$RUN_DIR/users.acl"
  umask 022
  local port
  port=$(free_port)
  printf '%s\n' "$port" >"$RUN_DIR/port"
  cat >"$RUN_DIR/redis.conf" <<CONF
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
pidfile $RUN_DIR/redis.pid
logfile $RUN_DIR/redis.log
dir $RUN_DIR
aclfile $RUN_DIR/users.acl
save ""
appendonly no
CONF
  redis-server "$RUN_DIR/redis.conf" || die "redis-server did not start: $(tail -n 20 "$RUN_DIR/redis.log" 2>/dev/null)"
  local waited=0
  until running; do
    sleep 0.2
    waited=$((waited + 1))
    ((waited < START_TIMEOUT * 5)) || die "not answering after ${START_TIMEOUT}s: $(tail -n 20 "$RUN_DIR/redis.log")"
  done
  log "Redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') on 127.0.0.1:$port (admin user $ADMIN_USER)"
}

cmd_stop() {
  if running; then cli SHUTDOWN NOSAVE >/dev/null 2>&1 || true; fi
  if [[ -f "$RUN_DIR/redis.pid" ]]; then
    local pid
    pid=$(<"$RUN_DIR/redis.pid")
    # Only our server: its command line names this run dir's port.
    if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "redis-server 127.0.0.1:$(<"$RUN_DIR/port")"; then kill "$pid" 2>/dev/null || true; fi
  fi
  rm -rf "$RUN_DIR"
}

cmd_status() {
  if running; then
    echo "redis: running on 127.0.0.1:$(<"$RUN_DIR/port")"
    return 0
  fi
  echo "redis: not running"
  return 3
}

cmd_env() {
  running || die "not running (redis.sh start)"
  printf 'export KIDP_REDIS_HOST=127.0.0.1\n'
  printf 'export KIDP_REDIS_PORT=%q\n' "$(<"$RUN_DIR/port")"
  printf 'export KIDP_REDIS_ADMIN_USER=%q\n' "$ADMIN_USER"
  printf 'export KIDP_REDIS_ADMIN_PASSWORD_FILE=%q\n' "$RUN_DIR/admin.password"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
