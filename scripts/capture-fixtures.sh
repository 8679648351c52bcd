#!/usr/bin/env bash
# Captures replay fixtures: starts splunkd-dev on a fresh SPLUNK_HOME with --capture, drives a
# sequence of requests with curl as a user would, and leaves the redacted fixtures in
# fixtures/ (replacing the previous set). Replay runs them in file-name order against a fresh
# store, so the order here is the order state builds up in.
#
#   scripts/capture-fixtures.sh            # rewrite fixtures/
#   OUT=/tmp/x scripts/capture-fixtures.sh # capture elsewhere to compare
set -euo pipefail
top=$(git rev-parse --show-toplevel)
cd "$top"
out=${OUT:-$top/fixtures}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build -q --bin splunkd-dev --bin dsdl-handler
rm -rf "$work/capture" && mkdir -p "$work/capture"
password=capture-$RANDOM$RANDOM
./target/debug/splunkd-dev --splunk-home "$work/home" --port 0 --admin-password "$password" \
  --capture "$work/capture" >"$work/ready" 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do grep -q 'ready:' "$work/ready" 2>/dev/null && break; sleep 0.1; done
base=$(sed -n 's/^splunkd-dev ready: \([^ ]*\).*/\1/p' "$work/ready")
[ -n "$base" ] || { cat "$work/stderr"; echo "splunkd-dev did not start" >&2; exit 1; }

call() { # call METHOD PATH [curl args...]
  local method=$1 path=$2; shift 2
  curl -s -o /dev/null -u "admin:$password" -X "$method" "$@" "$base$path"
}

# The endpoint table in both output modes and both namespace forms.
call GET '/services/mltk?output_mode=json'
call GET '/services/mltk'
call GET '/servicesNS/admin/dsdl_handler/mltk?output_mode=json'
call GET '/servicesNS/-/-/mltk/?output_mode=json&count=5'
# Unknown paths and wrong methods.
call GET '/services/mltk/no_such_endpoint?output_mode=json'
call GET '/services/mltk/container_data/extra'
call DELETE '/services/mltk/container_data?output_mode=json'
call PATCH '/services/mltk/start_container'
call GET '/services/mltk/start_container/model_a?output_mode=json'
# Deployment records and the image catalog (a fresh store holds only the shipped [__dev__]).
call GET '/services/mltk/container_data?output_mode=json'
call GET '/services/mltk/container_data'
call GET '/services/mltk/container_logs?output_mode=json'
call GET '/services/mltk/start_container?output_mode=json'
call GET '/services/mltk/stop_container?output_mode=json'
call DELETE '/services/mltk/start_container/no_such_model?output_mode=json'
call DELETE '/services/mltk/start_container/..%2F..%2Fetc?output_mode=json'
call DELETE '/services/mltk/start_container/__dev__?output_mode=json'
# Endpoints not built yet answer 501 in Splunk's error shape.
call POST '/services/mltk/start_container?output_mode=json' -H 'Content-Type: application/json' \
  --data '{"payload":{"model":"m1","image":"mltk-container-golden-cpu:5.2.1","api_token":"do-not-store-me"}}'
call POST '/services/mltk/container_connection?output_mode=json' \
  --data-urlencode 'container_type=docker' --data-urlencode 'connection_name=local docker' \
  --data-urlencode 'jupyter_passwd=hunter2-jupyter'
call GET '/services/mltk/container_connection/docker/local%20docker'
# Unicode in a path parameter.
call DELETE '/services/mltk/start_container/mod%C3%A8le-%E2%9C%93?output_mode=json'

kill "$pid"; wait "$pid" 2>/dev/null || true
count=$(ls "$work/capture" | wc -l)
[ "$count" -gt 0 ] || { echo "nothing captured" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.json
cp "$work/capture"/*.json "$out"/
echo "captured $count fixtures into $out"
