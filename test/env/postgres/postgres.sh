#!/usr/bin/env bash
# A real PostgreSQL server (Debian's package) on loopback for the `postgresql` broker
# (issue 15): a fresh cluster per run dir (initdb), a free port, password auth only.
#
#   postgres.sh start    initdb when the run dir has no cluster, start, wait until it accepts logins
#   postgres.sh stop     fast shutdown; removes the run dir's postgres/ state
#   postgres.sh status   exit 0 and say where when running, exit 3 when not
#   postgres.sh env      print export lines: KIDP_POSTGRES_HOST, _PORT, _ADMIN_USER, _ADMIN_PASSWORD_FILE
#
# Two roles: the bootstrap superuser `postgres` (password in superuser.password, used only
# here) and `kidp_admin` (CREATEROLE CREATEDB, not superuser), the operator credential the
# broker provisions with. PostgreSQL refuses to run as root, so as root the server runs as
# the Debian package's `postgres` user (runuser); as anyone else it runs as that user.
set -euo pipefail
set +m

RUN_DIR="${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/postgres"
DATA="$RUN_DIR/data"
START_TIMEOUT="${KIDP_POSTGRES_START_TIMEOUT:-60}"
ADMIN_USER=kidp_admin

log() { printf 'postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/postgres" ]] && { printf '%s\n' "$d"; return; }
  done
  return 1
}

# As root, every server-side command runs as the postgres user.
as_server() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

running() {
  [[ -f "$DATA/postmaster.pid" ]] || return 1
  local bin
  bin=$(bindir) || return 1
  as_server "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

cmd_start() {
  local bin port
  bin=$(bindir) || die "no PostgreSQL server: apt-get install -y postgresql (test/env/install.sh does)"
  if running; then
    log "already running on 127.0.0.1:$(<"$RUN_DIR/port")"
    return 0
  fi
  mkdir -p "$RUN_DIR"
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    rm -rf "$DATA"
    umask 077
    openssl rand -hex 24 >"$RUN_DIR/superuser.password"
    openssl rand -hex 24 >"$RUN_DIR/admin.password"
    umask 022
    mkdir -p "$DATA"
    if [[ $(id -u) -eq 0 ]]; then
      chown postgres: "$DATA" "$RUN_DIR/superuser.password"
      # The run dir's parents must be traversable by the postgres user.
      chmod o+x "$RUN_DIR" "$(dirname "$RUN_DIR")"
    fi
    chmod 700 "$DATA"
    as_server "$bin/initdb" -D "$DATA" -U postgres --pwfile="$RUN_DIR/superuser.password" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$RUN_DIR/initdb.log" 2>&1 ||
      { cat "$RUN_DIR/initdb.log" >&2; die "initdb failed"; }
    # Loopback and password logins only: no trust, no peer, no other address.
    printf 'host all all 127.0.0.1/32 scram-sha-256\n' >"$DATA/pg_hba.conf"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$DATA/pg_hba.conf"
  fi
  port=$(free_port)
  printf '%s\n' "$port" >"$RUN_DIR/port"
  as_server "$bin/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t "$START_TIMEOUT" \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c password_encryption=scram-sha-256" start >/dev/null ||
    { tail -n 30 "$DATA/server.log" >&2 || true; die "server did not start"; }
  # The operator role, created once per cluster; its password is re-set so the file is the truth.
  PGPASSWORD=$(<"$RUN_DIR/superuser.password") "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt \
    -v admin="$ADMIN_USER" -v pw="$(<"$RUN_DIR/admin.password")" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEROLE CREATEDB', :'admin') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'admin') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'admin', :'pw') \gexec
SQL
  log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data $DATA, admin role $ADMIN_USER)"
}

cmd_stop() {
  local bin
  if bin=$(bindir) && [[ -f "$DATA/postmaster.pid" ]]; then
    as_server "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$RUN_DIR"
}

cmd_status() {
  if running; then
    echo "postgres: running on 127.0.0.1:$(<"$RUN_DIR/port")"
    return 0
  fi
  echo "postgres: not running"
  return 3
}

cmd_env() {
  running || die "not running (postgres.sh start)"
  printf 'export KIDP_POSTGRES_HOST=127.0.0.1\n'
  printf 'export KIDP_POSTGRES_PORT=%q\n' "$(<"$RUN_DIR/port")"
  printf 'export KIDP_POSTGRES_ADMIN_USER=%q\n' "$ADMIN_USER"
  printf 'export KIDP_POSTGRES_ADMIN_PASSWORD_FILE=%q\n' "$RUN_DIR/admin.password"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
