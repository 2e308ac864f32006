#!/usr/bin/env bash
# A real, local Kubernetes control plane for KIDP: etcd + kube-apiserver on loopback, with
# certificates, service-account keys and an admin kubeconfig generated at every start, the
# way envtest runs them (DESIGN.md §7). No controller-manager, scheduler or nodes.
#
# Usage: control-plane.sh start|stop|status|env|identity
#   start   build (cached after the first time), bring up, wait for /readyz; idempotent
#   stop    TERM, then KILL, both processes; remove the run dir
#   status  print up/down; exit 0 when up, 1 when down
#   env     print `export KUBECONFIG=...` and where kubectl is (use with eval)
#   identity user NAME [GROUP...]     a client certificate CN=NAME, O=GROUP... signed by the
#                                     apiserver's client CA, and a kubeconfig for it
#   identity serviceaccount NS NAME   the ServiceAccount (created if missing), a TokenRequest
#                                     token for it (1 h), and a kubeconfig with that token
#   identity anonymous                a kubeconfig with no credentials the apiserver accepts
#   identity forged NAME [GROUP...]   like user, but signed by a throwaway CA the apiserver
#                                     does not trust (an attacker's home-made certificate)
#           each prints the kubeconfig's path (under <run dir>/identities/)
#
# Environment:
#   KIDP_RUN_DIR                state root (default /tmp/kidp-run-$UID); ours is <root>/control-plane
#   KIDP_CONTROL_PLANE_TIMEOUT  seconds to wait for health (default 120)
#   KIDP_CACHE_DIR, KIDP_K8S_VERSION, KIDP_ETCD_VERSION: see build.sh
set -euo pipefail
umask 077 # keys, certificates and the admin kubeconfig are for this user only

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN_ROOT=${KIDP_RUN_DIR:-/tmp/kidp-run-$(id -u)}
RUN=$RUN_ROOT/control-plane
TIMEOUT=${KIDP_CONTROL_PLANE_TIMEOUT:-120}
# A /16 (65,534 ClusterIPs): every Service the reference broker creates takes one, and with
# no controller manager nothing frees them while a namespace lingers; a /24 ran out at
# ~250 (bench:reconcile applies 500). 10.0.0.1 stays the `kubernetes` Service.
readonly SERVICE_CIDR=10.0.0.0/16
# Ports are drawn below the kernel's ephemeral range (32768+), so an outgoing connection
# cannot take one between our check and the server's bind.
readonly PORT_MIN=20000 PORT_MAX=32000
readonly START_ATTEMPTS=3

log() { printf '[%s] control-plane: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---- processes -------------------------------------------------------------------------

# A pid is ours when it is alive (zombies count as gone) and its command line names our
# run dir; this guards against a pid reused by an unrelated process.
is_ours() {
  local pid=$1 state cmdline
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $state != Z && $state != X ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$RUN/"* ]]
}

# Alive and not a zombie; for a pid we spawned moments ago (no reuse is possible yet).
is_alive() {
  local pid=$1 state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ $state != Z && $state != X ]]
}

pid_of() { if [[ -f $RUN/$1.pid ]]; then cat "$RUN/$1.pid"; fi; }

# Everything alive that runs from our run dir, also processes whose pid file was never
# written (a start killed outright between spawn and write).
our_pids() {
  local p comm
  for p in $(pid_of kube-apiserver) $(pid_of etcd); do is_ours "$p" && echo "$p"; done
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
    [[ $comm == kube-apiserver || $comm == etcd ]] || continue
    is_ours "$p" && echo "$p"
  done
  return 0
}

STOPPED_PIDS=()

# stop_pid PID NAME [GRACE]: TERM, wait up to GRACE seconds (default 15), then KILL.
stop_pid() {
  local pid=$1 name=$2 grace=${3:-15} i
  is_ours "$pid" || return 0
  STOPPED_PIDS+=("$pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    is_ours "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  log "$name (pid $pid) still running ${grace}s after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    is_ours "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  log "warning: $name (pid $pid) is still alive after SIGKILL"
}

# Stops the apiserver before etcd, so it does not log a storm of etcd errors on the way out.
stop_processes() {
  local p grace=15
  # Without etcd the apiserver's graceful shutdown hangs on storage; no point waiting long.
  is_ours "$(pid_of etcd)" || grace=2
  stop_pid "$(pid_of kube-apiserver)" kube-apiserver "$grace"
  stop_pid "$(pid_of etcd)" etcd
  for p in $(our_pids | sort -u); do stop_pid "$p" "$(cat "/proc/$p/comm" 2>/dev/null || echo process)"; done
  await_reaped
}

# A stopped server that is no longer our child stays a zombie until init reaps it (about a
# second here); wait for that, so `pgrep` right after stop shows nothing.
await_reaped() {
  local i p left
  for ((i = 0; i < 50; i++)); do
    left=0
    for p in "${STOPPED_PIDS[@]}"; do [[ -d /proc/$p ]] && left=1; done
    ((left)) || return 0
    sleep 0.1
  done
}

remove_run_dir() {
  rm -rf "$RUN"
  # The root may hold other components' state (Kafka); only drop it when it is empty.
  rmdir "$RUN_ROOT" 2>/dev/null || true
}

# ---- health ----------------------------------------------------------------------------

state() { sed -n "s/^$1=//p" "$RUN/state.env" 2>/dev/null; }

# admin_get PATH: GET on the apiserver as the admin user; prints the body.
admin_get() {
  curl --silent --show-error --fail --max-time 3 \
    --cacert "$RUN/certs/ca.crt" --cert "$RUN/certs/admin.crt" --key "$RUN/certs/admin.key" \
    "https://127.0.0.1:${APISERVER_PORT:-$(state APISERVER_PORT)}$1"
}

is_healthy() {
  [[ -f $RUN/state.env ]] || return 1
  is_ours "$(pid_of etcd)" && is_ours "$(pid_of kube-apiserver)" || return 1
  [[ $(admin_get /readyz 2>/dev/null) == ok ]]
}

# ---- certificates ----------------------------------------------------------------------

# issue NAME SUBJECT EXTENSIONS: an ECDSA P-256 key and a certificate signed by our CA.
issue() {
  local name=$1 subject=$2 ext=$3 dir=$RUN/certs
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/$name.key" -subj "$subject" -out "$dir/$name.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 30 -sha256 -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}

generate_certs() {
  local dir=$RUN/certs
  mkdir -p "$dir"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 30 -sha256 -subj "/CN=kidp-local-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  local leaf="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature"
  # 10.0.0.1 is the `kubernetes` Service's ClusterIP (first address of SERVICE_CIDR).
  issue apiserver "/CN=kube-apiserver" "$leaf
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:::1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # etcd's gRPC gateway dials etcd itself with the serving certificate, hence clientAuth too.
  issue etcd-server "/CN=etcd" "$leaf
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
  issue apiserver-etcd-client "/CN=kube-apiserver-etcd-client" "$leaf
extendedKeyUsage=clientAuth"
  issue admin "/O=system:masters/CN=kidp-admin" "$leaf
extendedKeyUsage=clientAuth"
  # What the apiserver presents to admission webhooks (admission-config.yaml), so a webhook
  # can verify that its caller is this apiserver.
  issue webhook-client "/CN=kube-apiserver-webhook-client" "$leaf
extendedKeyUsage=clientAuth"
  # Service-account tokens: RSA, as every Kubernetes client and verifier supports RS256.
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/sa.key" 2>/dev/null
  openssl pkey -in "$dir/sa.key" -pubout -out "$dir/sa.pub"
  rm -f "$dir/ca.srl"
}

write_kubeconfig() {
  local b64='base64 -w0'
  cat >"$RUN/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: kidp-local
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      certificate-authority-data: $($b64 <"$RUN/certs/ca.crt")
users:
  - name: kidp-admin
    user:
      client-certificate-data: $($b64 <"$RUN/certs/admin.crt")
      client-key-data: $($b64 <"$RUN/certs/admin.key")
contexts:
  - name: kidp-local
    context:
      cluster: kidp-local
      user: kidp-admin
      namespace: default
current-context: kidp-local
EOF
}

# Metadata for every write, nothing for reads: admission decisions (auditAnnotations from
# KIDP's webhooks) land here, without the noise of watches and list calls.
write_audit_policy() {
  cat >"$RUN/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    verbs: [get, list, watch]
  - level: Metadata
EOF
}

# The apiserver authenticates to admission webhooks with the webhook-client certificate:
# kubeconfig user "*" applies to every webhook host (k8s.io/apiserver
# pkg/util/webhook/authentication.go, the star default match).
write_admission_config() {
  cat >"$RUN/webhook-client.kubeconfig" <<EOF
apiVersion: v1
kind: Config
users:
  - name: "*"
    user:
      client-certificate: $RUN/certs/webhook-client.crt
      client-key: $RUN/certs/webhook-client.key
EOF
  local plugin
  {
    echo 'apiVersion: apiserver.config.k8s.io/v1'
    echo 'kind: AdmissionConfiguration'
    echo 'plugins:'
    for plugin in ValidatingAdmissionWebhook MutatingAdmissionWebhook; do
      cat <<EOF
  - name: $plugin
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: WebhookAdmissionConfiguration
      kubeConfigFile: $RUN/webhook-client.kubeconfig
EOF
    done
  } >"$RUN/admission-config.yaml"
}

# ---- ports -----------------------------------------------------------------------------

listening_ports() {
  if command -v ss >/dev/null; then
    ss -Htln | awk '{ n = split($4, a, ":"); print a[n] }'
  fi
}

# pick_ports: sets ETCD_PORT, ETCD_PEER_PORT, APISERVER_PORT to distinct free ports.
pick_ports() {
  local used chosen=" " p name
  used=" $(listening_ports | tr '\n' ' ') "
  for name in ETCD_PORT ETCD_PEER_PORT APISERVER_PORT; do
    while :; do
      p=$((PORT_MIN + SRANDOM % (PORT_MAX - PORT_MIN)))
      [[ $used == *" $p "* || $chosen == *" $p "* ]] && continue
      # Without ss, a connect that succeeds means the port is taken.
      if ! command -v ss >/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
      break
    done
    chosen+="$p "
    printf -v "$name" '%s' "$p"
  done
}

# ---- start -----------------------------------------------------------------------------

# spawn NAME CMD...: runs a server in its own session (a later Ctrl-C in this terminal or
# the end of this script does not touch it), logs to logs/NAME.log, records its pid.
spawn() {
  local name=$1; shift
  env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy \
    setsid "$@" >>"$RUN/logs/$name.log" 2>&1 </dev/null &
  echo "$!" >"$RUN/$name.pid"
}

# wait_for NAME CHECK...: polls CHECK until it succeeds, the process dies or TIMEOUT passes.
# CHECKs are quiet themselves: redirecting here would also swallow the messages of an
# interrupt trap that fires while a CHECK runs.
wait_for() {
  local name=$1; shift
  local deadline=$((EPOCHSECONDS + TIMEOUT))
  until "$@"; do
    # Alive, not "ours": right after spawn the child may not have exec'd yet, and its
    # command line is still this script's (seen in CI under load as a false "exited").
    if ! is_alive "$(pid_of "$name")"; then
      log "$name exited during startup; last lines of $RUN/logs/$name.log:"
      tail -n 30 "$RUN/logs/$name.log" >&2
      return 1
    fi
    if ((EPOCHSECONDS >= deadline)); then
      log "$name not healthy after ${TIMEOUT}s; last lines of $RUN/logs/$name.log:"
      tail -n 30 "$RUN/logs/$name.log" >&2
      return 1
    fi
    sleep 0.2
  done
}

etcd_healthy() {
  [[ $(curl --silent --fail --max-time 2 --cacert "$RUN/certs/ca.crt" \
    --cert "$RUN/certs/apiserver-etcd-client.crt" --key "$RUN/certs/apiserver-etcd-client.key" \
    "https://127.0.0.1:$ETCD_PORT/health") == *'"health":"true"'* ]]
}
apiserver_ready() { [[ $(admin_get /readyz 2>/dev/null) == ok ]]; }
# /readyz can pass a moment before the bootstrap controller has created `default`.
default_namespace_exists() { admin_get /api/v1/namespaces/default >/dev/null 2>&1; }

start_etcd() {
  rm -rf "$RUN/etcd"
  spawn etcd "$BIN/etcd" \
    --name=kidp \
    --data-dir="$RUN/etcd" \
    --listen-client-urls="https://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="https://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="kidp=http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster-state=new \
    --cert-file="$RUN/certs/etcd-server.crt" --key-file="$RUN/certs/etcd-server.key" \
    --trusted-ca-file="$RUN/certs/ca.crt" --client-cert-auth \
    --unsafe-no-fsync # throwaway data: fsync only slows tests down
}

start_apiserver() {
  # --endpoint-reconciler-type=none: the `kubernetes` endpoints may not point at loopback,
  # and nothing in-cluster needs them. Webhooks must use clientConfig.url
  # (https://127.0.0.1:PORT/...): there are no nodes or Service routing behind ClusterIPs.
  spawn kube-apiserver "$BIN/kube-apiserver" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$APISERVER_PORT" \
    --cert-dir="$RUN/certs" \
    --tls-cert-file="$RUN/certs/apiserver.crt" --tls-private-key-file="$RUN/certs/apiserver.key" \
    --client-ca-file="$RUN/certs/ca.crt" \
    --etcd-servers="https://127.0.0.1:$ETCD_PORT" \
    --etcd-cafile="$RUN/certs/ca.crt" \
    --etcd-certfile="$RUN/certs/apiserver-etcd-client.crt" \
    --etcd-keyfile="$RUN/certs/apiserver-etcd-client.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$RUN/certs/sa.pub" \
    --service-account-signing-key-file="$RUN/certs/sa.key" \
    --authorization-mode=Node,RBAC \
    --allow-privileged=true \
    --disable-admission-plugins=ServiceAccount \
    --endpoint-reconciler-type=none \
    --admission-control-config-file="$RUN/admission-config.yaml" \
    --audit-policy-file="$RUN/audit-policy.yaml" \
    --audit-log-path="$RUN/logs/audit.log" \
    --audit-log-maxsize=100 --audit-log-maxbackup=1 \
    --profiling=false
}

# A port can still be taken between our check and the bind: that, and only that, is retried.
lost_port_race() { grep -qi 'address already in use' "$RUN/logs/etcd.log" "$RUN/logs/kube-apiserver.log" 2>/dev/null; }

bring_up() {
  local attempt
  for ((attempt = 1; attempt <= START_ATTEMPTS; attempt++)); do
    pick_ports
    rm -f "$RUN"/logs/*.log
    log "starting etcd on 127.0.0.1:$ETCD_PORT (peer $ETCD_PEER_PORT)"
    start_etcd
    if wait_for etcd etcd_healthy; then
      log "etcd healthy; starting kube-apiserver on https://127.0.0.1:$APISERVER_PORT"
      start_apiserver
      if wait_for kube-apiserver apiserver_ready && wait_for kube-apiserver default_namespace_exists; then
        return 0
      fi
    fi
    lost_port_race && ((attempt < START_ATTEMPTS)) || return 1
    log "a port was taken meanwhile; retrying with new ports ($((attempt + 1))/$START_ATTEMPTS)"
    stop_processes
  done
  return 1
}

print_info() {
  local kubectl
  kubectl=$(state BIN_DIR)/kubectl
  log "up: https://127.0.0.1:$(state APISERVER_PORT) (etcd 127.0.0.1:$(state ETCD_PORT)); logs in $RUN/logs"
  log "kubeconfig: $RUN/kubeconfig"
  log "try: export KUBECONFIG=$RUN/kubeconfig; $kubectl get ns"
  log "  or: eval \"\$($HERE/control-plane.sh env)\" && kubectl get ns"
}

BUILD_PID=
CLAIMED=false
STARTED=false
on_start_exit() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n $BUILD_PID ]]; then
    kill -TERM "$BUILD_PID" 2>/dev/null || true
    wait "$BUILD_PID" 2>/dev/null || true
  fi
  if $CLAIMED && ! $STARTED; then
    log "start failed or was interrupted (exit $rc): stopping what was started, removing $RUN"
    stop_processes
    remove_run_dir
  fi
  exit "$rc"
}

# Two callers starting the same run dir at once (say, parallel test setups): the second
# waits for the first and shares its control plane.
await_other_start() {
  local deadline=$((EPOCHSECONDS + TIMEOUT + 30))
  log "another start is in progress in $RUN; waiting for it"
  while ((EPOCHSECONDS < deadline)); do
    if is_healthy; then
      log "started by the other process"
      print_info
      return 0
    fi
    [[ -d $RUN ]] || die "the other start failed (see its output); run start again"
    sleep 0.5
  done
  die "the other start did not finish in $((TIMEOUT + 30))s"
}

cmd_start() {
  local t0=$EPOCHSECONDS tool
  for tool in openssl curl setsid; do
    command -v "$tool" >/dev/null || die "$tool is required on PATH"
  done
  if is_healthy; then
    log "already running and healthy"
    print_info
    return 0
  fi
  if [[ -f $RUN/start.pid ]] && is_start_running "$(cat "$RUN/start.pid")"; then
    await_other_start
    return
  fi
  # A start claims the run dir with mkdir and writes start.pid right after: a dir with
  # neither start.pid nor state.env, seconds old, is a start in that instant, not debris.
  if [[ -d $RUN && ! -e $RUN/start.pid && ! -e $RUN/state.env ]] &&
    (($(date +%s) - $(stat -c %Y "$RUN" 2>/dev/null || echo 0) < 5)); then
    await_other_start
    return
  fi
  if [[ -d $RUN ]]; then
    log "found a stale or unhealthy control plane in $RUN; stopping it first"
    stop_processes
    remove_run_dir
  fi

  trap on_start_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP

  # In the background so that a TERM to this script reaches the trap at once.
  "$HERE/build.sh" >/dev/null &
  BUILD_PID=$!
  wait "$BUILD_PID"
  BUILD_PID=
  BIN=$("$HERE/build.sh" --print-bin-dir)

  mkdir -p "$RUN_ROOT"
  if ! mkdir "$RUN" 2>/dev/null; then
    await_other_start
    return
  fi
  CLAIMED=true
  echo "$$" >"$RUN/start.pid"
  mkdir -p "$RUN/logs"

  log "generating CA, serving and client certificates, service-account keys (openssl)"
  generate_certs
  write_audit_policy
  write_admission_config
  bring_up || die "control plane did not come up (logs: $RUN/logs)"

  write_kubeconfig
  cat >"$RUN/state.env" <<EOF
APISERVER_PORT=$APISERVER_PORT
APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
KUBECONFIG=$RUN/kubeconfig
BIN_DIR=$BIN
KUBECTL=$BIN/kubectl
EOF
  rm -f "$RUN/start.pid"
  STARTED=true
  log "control plane started in $((EPOCHSECONDS - t0))s"
  print_info
}

cmd_stop() {
  if [[ ! -d $RUN ]] && [[ -z $(our_pids) ]]; then
    log "not running (no $RUN)"
    return 0
  fi
  if [[ -f $RUN/start.pid ]] && is_start_running "$(cat "$RUN/start.pid")"; then
    # The start's own trap cleans up after it.
    log "interrupting a start in progress (pid $(cat "$RUN/start.pid"))"
    kill -TERM "$(cat "$RUN/start.pid")" 2>/dev/null || true
    local deadline=$((EPOCHSECONDS + 30))
    while [[ -d $RUN ]] && ((EPOCHSECONDS < deadline)); do sleep 0.1; done
  fi
  stop_processes
  remove_run_dir
  log "stopped; removed $RUN"
}

is_start_running() { kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'control-plane.sh start'; }

cmd_status() {
  if is_healthy; then
    echo "up: https://127.0.0.1:$(state APISERVER_PORT) (kubeconfig $RUN/kubeconfig)"
    return 0
  fi
  if [[ -f $RUN/start.pid ]] && is_start_running "$(cat "$RUN/start.pid")"; then
    echo "down (starting: pid $(cat "$RUN/start.pid"))"
  elif [[ -d $RUN ]]; then
    echo "down (state in $RUN but not healthy; run stop to clean up)"
  else
    echo "down"
  fi
  return 1
}

cmd_env() {
  is_healthy || die "control plane is not running; start it with $HERE/control-plane.sh start"
  printf 'export KUBECONFIG=%q\n' "$RUN/kubeconfig"
  printf 'export KIDP_KUBECTL=%q\n' "$(state KUBECTL)"
  # shellcheck disable=SC2016 # $PATH is for the shell that evals this, not for us
  printf 'export PATH=%q:"$PATH"\n' "$(state BIN_DIR)"
}

# ---- identities ------------------------------------------------------------------------

# identity_kubeconfig FILE USER_BLOCK: a kubeconfig for this apiserver with one user.
identity_kubeconfig() {
  local file=$1 user=$2
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: kidp-local
    cluster:
      server: https://127.0.0.1:$(state APISERVER_PORT)
      certificate-authority-data: $(base64 -w0 <"$RUN/certs/ca.crt")
users:
  - name: identity
    user:$user
contexts:
  - name: kidp-local
    context:
      cluster: kidp-local
      user: identity
      namespace: default
current-context: kidp-local
EOF
}

# A name that is safe in an openssl subject and a file name (users like alice@example.com).
check_name() { [[ $1 =~ ^[A-Za-z0-9@._:-]{1,128}$ ]] || die "identity name $1: use letters, digits and @._:- only"; }

# client_cert FILE_BASE CA_CRT CA_KEY NAME GROUP...: CN=NAME, one O= per group.
client_cert() {
  local base=$1 ca_crt=$2 ca_key=$3 name=$4 subject="" group
  shift 4
  for group in "$@"; do check_name "$group"; subject+="/O=$group"; done
  subject+="/CN=$name"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$base.key" -subj "$subject" -out "$base.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$base.ext"
  openssl x509 -req -in "$base.csr" -CA "$ca_crt" -CAkey "$ca_key" -CAcreateserial -CAserial "$base.srl" \
    -days 1 -sha256 -extfile "$base.ext" -out "$base.crt" 2>/dev/null
  rm -f "$base.csr" "$base.ext" "$base.srl"
}

cert_user_block() {
  printf '\n      client-certificate-data: %s\n      client-key-data: %s' "$(base64 -w0 <"$1.crt")" "$(base64 -w0 <"$1.key")"
}

cmd_identity() {
  is_healthy || die "control plane is not running; start it first"
  local kind=${1:-} dir=$RUN/identities file kubectl
  kubectl=$(state KUBECTL)
  mkdir -p "$dir"
  shift || true
  case $kind in
    user)
      [[ $# -ge 1 ]] || die "usage: identity user NAME [GROUP...]"
      check_name "$1"
      file=$dir/user-$1.kubeconfig
      client_cert "$dir/user-$1" "$RUN/certs/ca.crt" "$RUN/certs/ca.key" "$@"
      identity_kubeconfig "$file" "$(cert_user_block "$dir/user-$1")"
      ;;
    forged)
      [[ $# -ge 1 ]] || die "usage: identity forged NAME [GROUP...]"
      check_name "$1"
      file=$dir/forged-$1.kubeconfig
      # Same subject as the real CA: only the key differs, as an attacker would make it.
      openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -sha256 \
        -keyout "$dir/forged-ca.key" -out "$dir/forged-ca.crt" -subj "/CN=kidp-local-ca" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
      client_cert "$dir/forged-$1" "$dir/forged-ca.crt" "$dir/forged-ca.key" "$@"
      identity_kubeconfig "$file" "$(cert_user_block "$dir/forged-$1")"
      ;;
    serviceaccount)
      [[ $# -eq 2 ]] || die "usage: identity serviceaccount NAMESPACE NAME"
      check_name "$1"
      check_name "$2"
      file=$dir/sa-$1-$2.kubeconfig
      local admin=(--kubeconfig "$RUN/kubeconfig") token
      "$kubectl" "${admin[@]}" create namespace "$1" --dry-run=client -o yaml | "$kubectl" "${admin[@]}" apply -f - >/dev/null
      "$kubectl" "${admin[@]}" -n "$1" create serviceaccount "$2" --dry-run=client -o yaml | "$kubectl" "${admin[@]}" apply -f - >/dev/null
      # TokenRequest: a bound, expiring token, as a kubelet mounts (no Secret-based token).
      token=$("$kubectl" "${admin[@]}" -n "$1" create token "$2" --duration=1h)
      identity_kubeconfig "$file" "$(printf '\n      token: %s' "$token")"
      ;;
    anonymous)
      file=$dir/anonymous.kubeconfig
      # A user with no credentials makes kubectl prompt for a password on stdin. A bare
      # username is sent as basic auth, which the apiserver does not accept at all (none
      # since 1.19), so the request is system:anonymous, as with no credentials.
      identity_kubeconfig "$file" "$(printf '\n      username: anonymous')"
      ;;
    *) die "usage: identity user|serviceaccount|anonymous|forged ..." ;;
  esac
  echo "$file"
}

case ${1:-} in
  start) cmd_start ;;
  identity) shift; cmd_identity "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) cmd_env ;;
  -h | --help) sed -n '2,23p' "$0" ;;
  *) sed -n '6,18p' "$0" >&2; exit 2 ;;
esac
