#!/usr/bin/env bash
# scripts/serve.sh start|stop|status — TorchServe with face-verify and face-embed from model_store/.
# `make serve` archives first (stale .mar files only) and then runs `start`; `make stop` runs `stop`.
#
# start: launches TorchServe in the background from the repository root (so its token file is
#        ./key_file.json), logs to logs/, waits until /ping says Healthy and both models have a
#        READY worker (SERVE_TIMEOUT seconds, default 180), then prints the URL, the key file
#        and a curl example. On failure it shows
#        the log tail, stops what it started and exits 1.
# The server's temp dir (pid file, worker sockets, unpacked archives) is private to this clone
# and recorded in .serve/tmpdir, so `stop` finds this server and no other.
# REPLICAS=N (N > 1): N TorchServe replicas on loopback behind nginx on the same address, one
# service key in ./key_file.json (python -m scripts.replicas; state in .serve/replicas.json).
# EMBED_WORKERS=N (single server): face-embed with N workers (bulk enrolment; docs/gallery.md),
# set over the management API once the server is healthy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${VENV:-.venv}
case $venv in /*) ;; *) venv=$root/$venv ;; esac
config=${TS_CONFIG:-config.properties}
timeout=${SERVE_TIMEOUT:-180}
state=.serve
logs=$root/logs
key_file=$root/key_file.json
inference=$(sed -n 's/^inference_address=//p' "$config" | tail -1)
inference=${inference:-http://127.0.0.1:8080}
management=$(sed -n 's/^management_address=//p' "$config" | tail -1)
management=${management:-http://127.0.0.1:8081}
metrics=$(sed -n 's/^metrics_address=//p' "$config" | tail -1)

api_key() {  # api_key inference|management
  "$venv/bin/python" -c 'import sys; from client import read_key_file; print(read_key_file(*sys.argv[1:]))' \
    "$key_file" "$1" 2>/dev/null
}

server_pid() {  # the Java frontend's pid if our server is running
  [ -f "$state/tmpdir" ] || return 1
  local pid_file pid
  pid_file="$(cat "$state/tmpdir")/.model_server.pid"
  [ -f "$pid_file" ] || return 1
  pid=$(cat "$pid_file")
  kill -0 "$pid" 2>/dev/null && grep -q org.pytorch.serve.ModelServer "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

healthy() {  # /ping says Healthy and each model has a READY worker (ping alone is early)
  [ -f "$key_file" ] || return 1
  curl -sf --max-time 5 -H "Authorization: Bearer $(api_key inference)" "$inference/ping" 2>/dev/null \
    | grep -q '"Healthy"' || return 1
  local model
  for model in face-verify face-embed; do
    curl -sf --max-time 5 -H "Authorization: Bearer $(api_key management)" "$management/models/$model" \
      2>/dev/null | grep -q '"status": "READY"' || return 1
  done
}

print_usage() {
  [ -f "$state/examples/cat.jpg" ] || "$venv/bin/python" scripts/example_photos.py "$state/examples" >/dev/null
  cat <<EOF

${served_by:-TorchServe is up: $inference  (management $management, metrics $metrics)}
Token file: $key_file  (the inference key is its ["inference"]["key"])
Logs: $logs/  (ts_log.log, model_log.log, access_log.log)

Try it (sample photos in $state/examples/):
  KEY=\$(python3 -c 'import json; print(json.load(open("key_file.json"))["inference"]["key"])')
  curl -H "Authorization: Bearer \$KEY" $inference/predictions/face-verify \\
       -F reference=@$state/examples/reference.jpg -F test_1=@$state/examples/group.jpg \\
       -F test_2=@$state/examples/other.jpg -F test_3=@$state/examples/cat.jpg

Stop it with: make stop
EOF
}

start() {
  if server_pid >/dev/null; then
    if healthy; then
      echo "TorchServe is already running (pid $(server_pid)); 'make stop' first to reload the models."
      scale_embed
      print_usage
      exit 0
    fi
    echo "A TorchServe of this clone is running (pid $(server_pid)) but not healthy: run 'make stop'." >&2
    exit 1
  fi
  for mar in face-verify face-embed; do
    [ -f "model_store/$mar.mar" ] || { echo "model_store/$mar.mar is missing: run 'make archive'" >&2; exit 1; }
  done
  local address
  for address in "$inference" "$management" "$metrics"; do
    address=${address#*://}
    if (exec 3<>"/dev/tcp/${address%:*}/${address##*:}") 2>/dev/null; then
      echo "serve: $address is already in use (another TorchServe? 'make stop', or change $config)" >&2
      exit 1
    fi
  done
  mkdir -p "$state" "$logs"
  local tmp
  tmp=$(mktemp -d /tmp/face-serve.XXXXXX)  # short path: worker unix sockets live here
  echo "$tmp" > "$state/tmpdir"
  rm -f "$key_file"
  echo "starting TorchServe ($config, logs in $logs/) ..."
  local t0=$SECONDS
  TMPDIR=$tmp TEMP=$tmp LOG_LOCATION=$logs METRICS_LOCATION=$logs PATH="$venv/bin:$PATH" \
    "$venv/bin/torchserve" --start --ncs --ts-config "$config" --model-store model_store \
    --models face-verify=face-verify.mar face-embed=face-embed.mar >"$logs/serve.out" 2>&1 || true
  until healthy; do
    if ! server_pid >/dev/null && [ $((SECONDS - t0)) -gt 5 ]; then
      fail "TorchServe exited during start-up"
    fi
    if [ $((SECONDS - t0)) -ge "$timeout" ]; then
      fail "TorchServe was not healthy after ${timeout}s"
    fi
    sleep 1
  done
  scale_embed
  echo "healthy after $((SECONDS - t0))s"
  print_usage
}

scale_embed() {
  local workers=${EMBED_WORKERS:-1}
  [ "$workers" -gt 1 ] || return 0
  curl -sf --max-time 300 -X PUT -H "Authorization: Bearer $(api_key management)" \
    "$management/models/face-embed?min_worker=$workers&max_worker=$workers&synchronous=true" >/dev/null \
    || fail "could not give face-embed $workers workers"
  echo "face-embed: $workers workers"
}

fail() {
  echo "serve: $1. Log tail:" >&2
  for log in "$logs/serve.out" "$logs/ts_log.log" "$logs/model_log.log"; do
    [ -f "$log" ] && { echo "--- $log" >&2; tail -n 25 "$log" >&2; }
  done
  stop >/dev/null 2>&1 || true
  echo "serve: stopped what was started; full logs in $logs/" >&2
  exit 1
}

stop() {
  local pid tmp
  if ! pid=$(server_pid); then
    echo "TorchServe (this clone) is not running."
    cleanup
    return 0
  fi
  tmp=$(cat "$state/tmpdir")
  TMPDIR=$tmp "$venv/bin/torchserve" --stop >/dev/null
  for _ in $(seq 1 30); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "TorchServe (pid $pid) did not stop in 30s; killing it" >&2
    kill -9 "$pid" 2>/dev/null || true
  fi
  cleanup
  echo "TorchServe stopped."
}

cleanup() {
  if [ -f "$state/tmpdir" ]; then
    local tmp
    tmp=$(cat "$state/tmpdir")
    case $tmp in /tmp/face-serve.*) rm -rf "$tmp" ;; esac
    rm -f "$state/tmpdir"
  fi
  rm -f "$key_file"
}

replicas=${REPLICAS:-1}
replicas_cli() { "$venv/bin/python" -m scripts.replicas "$@"; }

start_replicas() {
  bash scripts/check_nginx.sh
  if server_pid >/dev/null; then
    echo "serve: a single TorchServe of this clone is running: 'make stop' first." >&2
    exit 1
  fi
  replicas_cli start --replicas "$replicas" --config "$config" --timeout "$timeout"
  served_by="nginx is up: $inference, in front of the TorchServe replicas (ports, pids, health: make status)"
  logs="$root/$state/replicas/<n>/logs"
  print_usage
}

case ${1:-} in
  start) if [ "$replicas" -gt 1 ] || { [ -f "$state/replicas.json" ] && replicas_cli status >/dev/null 2>&1; }; then
           start_replicas  # (also when replicas already run: it says so)
         else start; fi ;;
  stop) if [ -f "$state/replicas.json" ]; then replicas_cli stop; fi; stop ;;
  status) if [ -f "$state/replicas.json" ]; then replicas_cli status; exit; fi
          if pid=$(server_pid) && healthy; then echo "healthy (pid $pid) at $inference"; else echo "not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
