#!/usr/bin/env bash
# A real single-node Apache Kafka (KRaft: broker and controller in one JVM) on loopback,
# run from Maven Central jars because no Kafka tarball can be downloaded here (DESIGN.md §7).
#
#   kafka.sh start    resolve jars (first run only), format storage, start, wait for health;
#                     prints `export KAFKA_BOOTSTRAP=...` on stdout, progress on stderr
#   kafka.sh stop     TERM, then KILL after KIDP_KAFKA_STOP_TIMEOUT; removes all run state
#   kafka.sh status   exit 0 and say where when running, exit 3 when not
#   kafka.sh env      print `export KAFKA_BOOTSTRAP=... KIDP_KAFKA_CERTS=...` for a running broker
#   kafka.sh cert NAME [DIR]
#                     issue a client certificate for principal NAME from this run's CA into
#                     DIR (default certs/NAME): ca.crt, tls.crt, tls.key (a TLS Secret's layout)
#
# The broker speaks only TLS with client certificates (issue 10): one SSL listener for
# clients, the KRaft controller listener SSL as well, both on loopback. The principal is the
# certificate's CN (User:<CN>); the StandardAuthorizer denies whatever no ACL allows, and
# the ACLs are KIDP's own (`kidp kafka setup`, run at the end of start).
#
# README.md beside this file lists the environment variables and the cache layout.
set -euo pipefail
# Job control off even if inherited: the broker's `setsid` must exec in place (it forks
# when it is a process-group leader), or $! would not be the broker's pid.
set +m

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
RUN_DIR="${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}/kafka"
CACHE_ROOT="${KIDP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kidp}"
# 2-core CI machines spend ~10 s on a warm start; the margin is for a busy machine.
START_TIMEOUT="${KIDP_KAFKA_START_TIMEOUT:-120}"
# A single-node controlled shutdown normally takes a few seconds; past this we KILL.
STOP_TIMEOUT="${KIDP_KAFKA_STOP_TIMEOUT:-30}"
HEAP="${KIDP_KAFKA_HEAP:-512m}"

PID_FILE="$RUN_DIR/kafka.pid"
BOOTSTRAP_FILE="$RUN_DIR/bootstrap"
LOG_DIR="$RUN_DIR/logs"
CERT_DIR="$RUN_DIR/certs"
# Client certificates are short-lived in the local environment; rotation is tested, not waited for.
CERT_DAYS="${KIDP_KAFKA_CERT_DAYS:-7}"
# The principals KIDP's own processes connect as; their ACLs are in brokers/kafka-access.ts.
# kidp-kafka is the broker itself (inter-broker and controller traffic), kidp-admin the
# operator identity that creates topics and ACLs (both super users, nothing else is).
CLIENT_PRINCIPALS=(kidp-admin kidp-controllers kidp-broker-kubernetes-broker kidp-decision-stream)
SUPER_USERS="User:kidp-kafka;User:kidp-admin"
# Applications' principals (a Topic's owner, brokers/reference/topic-access.ts) are issued by
# an intermediate CA that the Topic broker holds, name-constrained to this organisation: it
# can sign CN=kidp-app-<namespace>.<application>,O=kidp-applications and nothing else.
APP_ORG=kidp-applications
APP_ISSUER=kidp-app-issuer

log() { printf 'kafka: %s\n' "$*" >&2; }
elapsed_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
die() { log "error: $*"; exit 1; }

kafka_version() {
  if [[ -n "${KIDP_KAFKA_VERSION:-}" ]]; then
    printf '%s\n' "$KIDP_KAFKA_VERSION"
    return
  fi
  local v
  v=$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$HERE/pom.xml" | head -n 1)
  [[ -n "$v" ]] || die "no <kafka.version> in $HERE/pom.xml"
  printf '%s\n' "$v"
}

# True when every jar named in the classpath file is still on disk: a cleaned ~/.m2
# must send us back to Maven rather than start a JVM that dies on a missing class.
classpath_complete() {
  local jar jars
  IFS=: read -r -a jars <"$1"
  ((${#jars[@]} > 0)) || return 1
  for jar in "${jars[@]}"; do
    [[ -f "$jar" ]] || return 1
  done
}

# Long children run in the background and are waited for: bash runs a trap only after a
# foreground child ends, and ignores a Ctrl-C that the child survived (a JVM exits
# normally on SIGINT), so an interrupted start would go on. cleanup ends CHILD_PID.
# Usage: run_child LOG_FILE COMMAND...; the output goes to LOG_FILE, named here rather than
# redirected by the caller, or the trap's own messages would land in that file too.
CHILD_PID=""
run_child() {
  local out=$1
  shift
  "$@" </dev/null >"$out" 2>&1 9<&- &
  CHILD_PID=$!
  local rc=0
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  return "$rc"
}

PROGRESS_PID=""

# Sets CLASSPATH_VALUE. The classpath is cached per Kafka version and checked against a
# hash of pom.xml, so a warm start (or a fresh clone on the same machine) never runs
# Maven, and editing the pom (say, the log binding) is still picked up.
resolve_classpath() {
  local version=$1
  local dir="$CACHE_ROOT/kafka/$version"
  local cp_file="$dir/classpath.txt" sum_file="$dir/pom.sha256"
  local pom_sum
  pom_sum=$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)
  if [[ -s "$cp_file" && -f "$sum_file" && "$(<"$sum_file")" == "$pom_sum" ]] && classpath_complete "$cp_file"; then
    CLASSPATH_VALUE=$(<"$cp_file")
    return
  fi

  command -v mvn >/dev/null || die "Maven is needed once to fetch the Kafka jars: apt-get install -y maven"
  mkdir -p "$dir"
  local tmp="$dir/classpath.txt.tmp.$$" mvn_log="$dir/mvn.log"
  log "fetching Kafka $version jars from Maven Central (first run only; classpath cached in $dir)"
  local started=$EPOCHREALTIME rc=0
  rm -f "$mvn_log" "$tmp"
  # -B and closed stdin because CI has no terminal. Started like run_child, but with a
  # progress filter beside it: one line per jar fetched, not Maven's hundreds.
  CI=true mvn -B -f "$HERE/pom.xml" \
    -Dkafka.version="$version" -Dmdep.outputFile="$tmp" -Dmdep.includeScope=runtime \
    dependency:build-classpath </dev/null >"$mvn_log" 2>&1 9<&- &
  CHILD_PID=$!
  # tail ends by itself once Maven has (--pid), which ends the filter too.
  tail -s 0.2 -n +1 -F --pid="$CHILD_PID" "$mvn_log" 2>/dev/null 9<&- |
    sed -un \
      -e 's|.*Downloaded from [^ ]*: .*/\([^/ ]*\.jar\) (\([^ ]* [^ ]*\) .*|kafka:   fetched \1 (\2)|p' \
      -e '/\[ERROR\]/p' >&2 &
  PROGRESS_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=""
  wait "$PROGRESS_PID" 2>/dev/null || true
  PROGRESS_PID=""
  if ((rc != 0)) || [[ ! -s "$tmp" ]]; then
    rm -f "$tmp"
    tail -n 30 "$mvn_log" >&2 || true
    die "Maven could not resolve Kafka $version (exit $rc); full log: $mvn_log"
  fi
  grep -q "kafka_2.13-$version.jar" "$tmp" || die "resolved classpath has no kafka_2.13-$version.jar: $tmp"
  mv -f "$tmp" "$cp_file"
  printf '%s\n' "$pom_sum" >"$sum_file"
  rm -f "$mvn_log"
  log "fetched Kafka $version in $(elapsed_since "$started") s"
  CLASSPATH_VALUE=$(<"$cp_file")
}

# The pid file alone is not proof: after a reboot or a crash the pid may belong to
# something else, which stop must never kill.
is_our_broker() {
  local pid=$1 cmdline
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
  [[ "$cmdline" == *kafka.Kafka* && "$cmdline" == *"$RUN_DIR/"* ]]
}

# Alive and not a zombie (a child of ours that died stays a zombie until waited for).
process_alive() {
  local stat
  stat=$(cat 2>/dev/null "/proc/$1/stat") || return 1
  [[ "${stat##*) }" != Z* ]]
}

running() {
  [[ -f "$PID_FILE" && -f "$BOOTSTRAP_FILE" ]] && is_our_broker "$(<"$PID_FILE")"
}

print_env() {
  printf 'export KAFKA_BOOTSTRAP=%s\n' "$(<"$BOOTSTRAP_FILE")"
  printf 'export KIDP_KAFKA_CERTS=%s\n' "$CERT_DIR"
}

# The run's CA: an EC P-256 key and a self-signed certificate, made fresh for each start.
make_ca() {
  mkdir -p "$CERT_DIR/ca"
  chmod 700 "$CERT_DIR" "$CERT_DIR/ca"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days 30 \
    -subj "/CN=kidp-local-kafka-ca" -keyout "$CERT_DIR/ca/ca.key" -out "$CERT_DIR/ca/ca.crt" 2>/dev/null
  chmod 600 "$CERT_DIR/ca/ca.key"
}

# issue_cert NAME DIR [server]: a certificate whose subject is exactly CN=NAME (the
# principal), signed by the run's CA, written as DIR/{ca.crt,tls.crt,tls.key}. The files
# are renamed into place, so a client re-reading them on rotation never sees half a pair.
issue_cert() {
  local name=$1 dir=$2 server=${3:-}
  [[ "$name" =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || die "principal name must be lower-case DNS-like: $name"
  [[ -f "$CERT_DIR/ca/ca.key" ]] || die "no CA in $CERT_DIR/ca; is Kafka running from this run dir?"
  mkdir -p "$dir"
  chmod 700 "$dir"
  local tmp
  tmp=$(mktemp -d "$dir/.issue.XXXXXX")
  local eku=clientAuth
  [[ -n "$server" ]] && eku="serverAuth,clientAuth"
  {
    printf 'basicConstraints=critical,CA:FALSE\n'
    printf 'keyUsage=critical,digitalSignature\n'
    printf 'extendedKeyUsage=%s\n' "$eku"
    [[ -n "$server" ]] && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n'
  } >"$tmp/ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$name" \
    -keyout "$tmp/tls.key" -out "$tmp/csr" 2>/dev/null
  openssl x509 -req -in "$tmp/csr" -CA "$CERT_DIR/ca/ca.crt" -CAkey "$CERT_DIR/ca/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days "$CERT_DAYS" -sha256 -extfile "$tmp/ext" -out "$tmp/tls.crt" 2>/dev/null
  chmod 600 "$tmp/tls.key"
  cp "$CERT_DIR/ca/ca.crt" "$tmp/ca.crt"
  mv -f "$tmp/ca.crt" "$dir/ca.crt"
  # Key before certificate would pair a new key with the old certificate for a moment; a
  # client reading then gets a mismatch and retries, so the order matters less than the
  # renames being atomic. The certificate goes second so a reader keyed on it sees the pair.
  mv -f "$tmp/tls.key" "$dir/tls.key"
  mv -f "$tmp/tls.crt" "$dir/tls.crt"
  rm -rf "$tmp"
}

# The broker's own identity as a PKCS#12 keystore (Kafka reads the CA as a PEM truststore).
make_broker_keystore() {
  issue_cert kidp-kafka "$CERT_DIR/kidp-kafka" server
  KEYSTORE_PASSWORD=$(openssl rand -hex 16)
  openssl pkcs12 -export -name kidp-kafka -in "$CERT_DIR/kidp-kafka/tls.crt" -inkey "$CERT_DIR/kidp-kafka/tls.key" \
    -out "$CERT_DIR/kidp-kafka/keystore.p12" -passout "pass:$KEYSTORE_PASSWORD"
  chmod 600 "$CERT_DIR/kidp-kafka/keystore.p12"
}

# The applications' issuer: a CA below the run's CA with pathlen 0 and a critical
# nameConstraints permitting only subjects under O=kidp-applications, so whoever holds its
# key (the Topic broker) cannot mint kidp-admin or any platform principal: Kafka's (Java's
# PKIX) path validation refuses such a chain at the handshake. Written as
# certs/kidp-app-issuer/{ca.crt (the run's CA), tls.crt (the issuer), tls.key}.
make_app_issuer() {
  local dir="$CERT_DIR/$APP_ISSUER" tmp
  mkdir -p "$dir"
  chmod 700 "$dir"
  tmp=$(mktemp -d "$dir/.issue.XXXXXX")
  printf '[v3]\nbasicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nnameConstraints=critical,permitted;dirName:apps\n[apps]\nO=%s\n' "$APP_ORG" >"$tmp/ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/O=$APP_ORG/CN=$APP_ISSUER" \
    -keyout "$tmp/tls.key" -out "$tmp/csr" 2>/dev/null
  openssl x509 -req -in "$tmp/csr" -CA "$CERT_DIR/ca/ca.crt" -CAkey "$CERT_DIR/ca/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 30 -sha256 -extfile "$tmp/ext" -extensions v3 -out "$tmp/tls.crt" 2>/dev/null
  chmod 600 "$tmp/tls.key"
  cp "$CERT_DIR/ca/ca.crt" "$dir/ca.crt"
  mv -f "$tmp/tls.key" "$dir/tls.key"
  mv -f "$tmp/tls.crt" "$dir/tls.crt"
  rm -rf "$tmp"
}

make_certificates() {
  make_ca
  make_broker_keystore
  make_app_issuer
  local p
  for p in "${CLIENT_PRINCIPALS[@]}"; do issue_cert "$p" "$CERT_DIR/$p"; done
}

# Two distinct free loopback ports, from the kernel rather than guessed.
free_ports() {
  node -e '
    const net = require("node:net");
    const servers = [net.createServer(), net.createServer()];
    let bound = 0;
    for (const s of servers) s.listen(0, "127.0.0.1", () => {
      if (++bound < servers.length) return;
      console.log(servers.map((x) => x.address().port).join(" "));
      for (const x of servers) x.close();
    });'
}

# Kafka cluster ids are 16 random bytes, base64url without padding; like Kafka's own
# Uuid.randomUuid we avoid a leading '-', which command-line parsers take for a flag.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    [[ "$id" != -* ]] && break
  done
  printf '%s\n' "$id"
}

write_config() {
  local broker_port=$1 controller_port=$2
  cat >"$RUN_DIR/server.properties" <<EOF
# Generated by test/env/kafka/kafka.sh; removed by 'kafka.sh stop'.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
# Only TLS with a client certificate, on both listeners: no PLAINTEXT port exists.
listeners=SSL://127.0.0.1:$broker_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=SSL://127.0.0.1:$broker_port
controller.listener.names=CONTROLLER
inter.broker.listener.name=SSL
listener.security.protocol.map=CONTROLLER:SSL,SSL:SSL
ssl.client.auth=required
ssl.keystore.type=PKCS12
ssl.keystore.location=$CERT_DIR/kidp-kafka/keystore.p12
ssl.keystore.password=$KEYSTORE_PASSWORD
ssl.key.password=$KEYSTORE_PASSWORD
ssl.truststore.type=PEM
ssl.truststore.location=$CERT_DIR/ca/ca.crt
ssl.enabled.protocols=TLSv1.3,TLSv1.2
# The principal is the certificate's CN: User:kidp-controllers, not the whole DN. An
# application's certificate (from the name-constrained kidp-app-issuer) maps to its CN only
# when that CN is kidp-app-*. Any other subject keeps its full DN, which no ACL names.
ssl.principal.mapping.rules=RULE:^CN=([a-z0-9.-]+)$/\$1/,RULE:^CN=(kidp-app-[a-z0-9.-]+),O=$APP_ORG$/\$1/,DEFAULT
# Deny by default; KIDP's ACLs (brokers/kafka-access.ts) allow each principal its part.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=$SUPER_USERS
log.dirs=$RUN_DIR/data

# One broker: every internal topic must be satisfiable with a single replica, or
# consumer groups (__consumer_offsets) and idempotent/transactional producers stall.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer offsets partitions than the default 50: the first consumer group of a run
# waits for all of them to be created, which costs seconds on 2 cores.
offsets.topic.num.partitions=5

# Topics are created by the ACL'd setup and the brokers, never by a producer's first write.
auto.create.topics.enable=false
num.partitions=1
# Tests join groups one member at a time; the default 3 s delay would only slow them.
group.initial.rebalance.delay.ms=0
EOF
  cat >"$RUN_DIR/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $LOG_DIR/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
# Per-partition state changes are noise for a test broker.
logger.state.name = state.change.logger
logger.state.level = WARN
EOF
}

show_logs() {
  local f
  for f in "$LOG_DIR/kafka.out" "$LOG_DIR/server.log" "$LOG_DIR/health.log"; do
    [[ -s "$f" ]] || continue
    log "last lines of $f:"
    tail -n 30 "$f" | sed 's/^/  | /' >&2
  done
}

# Ready means the client the project uses gets metadata back, not just an open port.
# Without node_modules (before `npm ci`) we fall back to Kafka's own "started" line.
metadata_ok() {
  local bootstrap=$1
  if [[ -d "$REPO/node_modules/kafkajs" ]]; then
    KIDP_KAFKA_TLS_DIR="$CERT_DIR/kidp-admin" node "$HERE/health-check.js" "$bootstrap" >>"$LOG_DIR/health.log" 2>&1
  else
    grep -q 'Kafka Server started' "$LOG_DIR/server.log" 2>/dev/null
  fi
}

wait_healthy() {
  local pid=$1 bootstrap=$2 port=${2##*:}
  local deadline=$((SECONDS + START_TIMEOUT))
  [[ -d "$REPO/node_modules/kafkajs" ]] ||
    log "kafkajs not installed (run npm ci); judging readiness by the broker's log"
  while :; do
    # Our own child, so liveness is enough: matching its command line would race with
    # the exec that turns the forked shell into java.
    if ! process_alive "$pid"; then
      # The kernel gave us free ports, but another process (the control plane starting
      # beside us does the same) can take one before the broker binds it.
      if grep -qs 'Address already in use' "$LOG_DIR/server.log" "$LOG_DIR/kafka.out"; then
        PORT_TAKEN=1
        return 0
      fi
      show_logs
      die "broker exited during start-up"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && metadata_ok "$bootstrap"; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      show_logs
      die "broker not healthy at $bootstrap after ${START_TIMEOUT}s (KIDP_KAFKA_START_TIMEOUT)"
    fi
    sleep 0.5
  done
}

terminate() {
  local pid=$1 waited=0
  kill -TERM "$pid" 2>/dev/null || true
  while process_alive "$pid" && ((waited < STOP_TIMEOUT * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if process_alive "$pid"; then
    log "broker (pid $pid) ignored TERM for ${STOP_TIMEOUT}s; killing"
    kill -KILL "$pid" 2>/dev/null || true
    while process_alive "$pid"; do sleep 0.1; done
  fi
}

# Serialise start/stop of one run dir (two jest workers, a person and CI). The lock is
# on this script file so nothing is left behind; fd 9 is closed for every child, or a
# long-lived broker would hold the lock forever.
take_lock() {
  exec 9<"$HERE/kafka.sh"
  flock 9
}

# A pid read back from the run dir is only trusted when its command line shows it is the
# broker of this run dir (see is_our_broker).
stop_recorded_broker() {
  local pid
  [[ -f "$PID_FILE" ]] || return 0
  pid=$(<"$PID_FILE")
  if is_our_broker "$pid"; then
    terminate "$pid"
  fi
}

START_DONE=0
BROKER_PID=""
KAFKA_VERSION=""
cleanup_failed_start() {
  if ((START_DONE == 1)); then return; fi
  if [[ -n "$CHILD_PID" ]]; then
    # Waited for so that it cannot write into the run dir after we remove it.
    kill -TERM "$CHILD_PID" 2>/dev/null || true
    wait "$CHILD_PID" 2>/dev/null || true
  fi
  if [[ -n "$PROGRESS_PID" ]]; then kill -TERM "$PROGRESS_PID" 2>/dev/null || true; fi
  if [[ -n "$BROKER_PID" ]]; then
    terminate "$BROKER_PID"
    wait "$BROKER_PID" 2>/dev/null || true
  fi
  rm -rf "$RUN_DIR"
  log "start did not complete; cleaned up $RUN_DIR"
}

# One attempt: fresh storage on fresh ports, then wait for health. Sets BROKER_PID and
# BROKER_PORT, and PORT_TAKEN=1 when a port was lost to another process before binding
# (a flag, not a status: a function called in a condition runs without set -e).
BROKER_PORT=""
PORT_TAKEN=0
launch_broker() {
  PORT_TAKEN=0
  mkdir -p "$RUN_DIR/data" "$LOG_DIR"
  local ports controller_port
  ports=$(free_ports)
  read -r BROKER_PORT controller_port <<<"$ports"
  make_certificates
  write_config "$BROKER_PORT" "$controller_port"

  local jvm=(-Xms128m "-Xmx$HEAP" -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$RUN_DIR/log4j2.properties" "-Dkafka.logs.dir=$LOG_DIR")
  local cluster_id
  cluster_id=$(new_cluster_id)
  if ! run_child "$LOG_DIR/format.log" java "${jvm[@]}" -cp "$CLASSPATH_VALUE" \
    kafka.tools.StorageTool format -t "$cluster_id" -c "$RUN_DIR/server.properties"; then
    sed 's/^/  | /' "$LOG_DIR/format.log" >&2
    die "formatting storage failed"
  fi

  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$BROKER_PORT (controller :$controller_port)"
  # setsid: the broker must outlive this script and not get the terminal's Ctrl-C meant
  # for whatever runs next; all its fds point at files so callers reading our stdout
  # (execFile in jest's globalSetup) are not held open.
  setsid java "${jvm[@]}" -cp "$CLASSPATH_VALUE" kafka.Kafka "$RUN_DIR/server.properties" \
    </dev/null >"$LOG_DIR/kafka.out" 2>&1 9<&- &
  BROKER_PID=$!
  printf '%s\n' "$BROKER_PID" >"$PID_FILE"
  wait_healthy "$BROKER_PID" "127.0.0.1:$BROKER_PORT"
}

cmd_start() {
  take_lock
  if running; then
    log "already running (pid $(<"$PID_FILE")) at $(<"$BOOTSTRAP_FILE")"
    print_env
    return 0
  fi
  if [[ -e "$RUN_DIR" ]]; then
    log "removing state of a broker that is no longer running: $RUN_DIR"
    stop_recorded_broker
    rm -rf "$RUN_DIR"
  fi
  command -v java >/dev/null || die "java (17+) is needed: apt-get install -y openjdk-17-jre-headless"
  command -v node >/dev/null || die "node is needed"
  command -v openssl >/dev/null || die "openssl is needed for the broker's certificates: apt-get install -y openssl"

  trap cleanup_failed_start EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  local started
  KAFKA_VERSION=$(kafka_version)
  resolve_classpath "$KAFKA_VERSION"
  started=$EPOCHREALTIME

  local attempt
  for attempt in 1 2 3; do
    launch_broker
    ((PORT_TAKEN == 1)) || break
    log "a port was taken before the broker bound it (attempt $attempt); retrying on new ports"
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
    rm -rf "$RUN_DIR"
  done
  ((PORT_TAKEN == 0)) || die "broker could not bind its ports in 3 attempts"
  printf '127.0.0.1:%s\n' "$BROKER_PORT" >"$BOOTSTRAP_FILE"
  setup_access "127.0.0.1:$BROKER_PORT"

  START_DONE=1
  trap - EXIT INT TERM
  log "ready in $(elapsed_since "$started") s (pid $BROKER_PID, logs in $LOG_DIR)"
  print_env
}

# KIDP's topics and ACLs, as the admin principal; the same code path as `kidp kafka setup`
# on a real cluster. Without node_modules nothing is allowed yet (deny by default).
setup_access() {
  local bootstrap=$1
  if [[ ! -x "$REPO/node_modules/.bin/tsx" ]]; then
    log "node_modules missing (npm ci): topics and ACLs not created; every client but kidp-admin is refused"
    return 0
  fi
  if ! run_child "$LOG_DIR/setup.log" "$REPO/node_modules/.bin/tsx" "$REPO/cli/main.ts" kafka setup \
    --kafka "$bootstrap" --kafka-tls-dir "$CERT_DIR/kidp-admin" --broker-identity kubernetes-broker; then
    sed 's/^/  | /' "$LOG_DIR/setup.log" >&2
    die "creating KIDP's topics and ACLs failed"
  fi
  log "$(tail -n 1 "$LOG_DIR/setup.log")"
}

cmd_cert() {
  local name=${1:-} dir=${2:-}
  [[ -n "$name" ]] || die "usage: kafka.sh cert NAME [DIR]"
  running || die "not running; start it with: bash test/env/kafka/kafka.sh start"
  issue_cert "$name" "${dir:-$CERT_DIR/$name}"
  printf '%s\n' "${dir:-$CERT_DIR/$name}"
}

cmd_stop() {
  take_lock
  stop_recorded_broker
  rm -rf "$RUN_DIR"
  log "stopped"
}

cmd_status() {
  if running; then
    log "running (pid $(<"$PID_FILE")) at $(<"$BOOTSTRAP_FILE"), logs in $LOG_DIR"
    return 0
  fi
  log "not running"
  return 3
}

cmd_env() {
  running || die "not running; start it with: bash test/env/kafka/kafka.sh start"
  print_env
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  cert) shift; cmd_cert "$@" ;;
  *)
    echo "usage: $0 start|stop|status|env|cert NAME [DIR]" >&2
    exit 2
    ;;
esac
