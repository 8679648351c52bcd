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
# Connection settings: save docker (wrapped JSON) and kubernetes (form) with secrets, read
# them back masked, list them, update, the errors, and delete one with its secrets.
call POST '/services/mltk/container_connection?output_mode=json' -H 'Content-Type: application/json' \
  --data '{"payload":{"container_type":"docker","connection_name":"local docker","docker_url":"unix:///var/run/docker.sock","endpoint_hostname":"localhost","api_token":"capture-api-token-0001","jupyter_passwd":"capture-jupyter-0001"}}'
call POST '/services/mltk/container_connection?output_mode=json' \
  --data-urlencode 'container_type=kubernetes' --data-urlencode 'connection_name=prod-k8s' \
  --data-urlencode 'auth_mode=user-token' --data-urlencode 'cluster_url=https://k8s.example.com:6443' \
  --data-urlencode 'user_token=capture-user-token-0001' --data-urlencode 'namespace=dsdl' \
  --data-urlencode 'service_type=node_port' --data-urlencode 'hpa_enabled=yes'
call GET '/services/mltk/container_connection?output_mode=json'
call GET '/services/mltk/container_connection'
call GET '/services/mltk/container_connection/kubernetes?output_mode=json'
call GET '/services/mltk/container_connection/docker/local%20docker?output_mode=json'
call GET '/services/mltk/test_container_connection?output_mode=json'
call PUT '/services/mltk/container_connection?output_mode=json' -H 'Content-Type: application/json' \
  --data '{"container_type":"docker","connection_name":"local docker","docker_url":"tcp://127.0.0.1:2375","api_token":"default_token","description":"updated"}'
call POST '/services/mltk/container_connection?output_mode=json' -H 'Content-Type: application/json' \
  --data '{"container_type":"docker","connection_name":"other","docker_url":"unix:///var/run/docker.sock"}'
call POST '/services/mltk/container_connection?output_mode=json' -H 'Content-Type: application/json' \
  --data '{"container_type":"docker","connection_name":"x","docker_url":"http://nope","colour":"blue"}'
call POST '/services/mltk/container_connection' --data-urlencode 'container_type=podman'
call GET '/services/mltk/container_connection/podman?output_mode=json'
call DELETE '/services/mltk/container_connection/kubernetes/wrong-name?output_mode=json'
call DELETE '/services/mltk/container_connection/kubernetes/prod-k8s?output_mode=json'
call GET '/services/mltk/container_connection?output_mode=json'
# The runtime endpoints against an engine that is not there (the docker connection now points
# at tcp://127.0.0.1:2375, where nothing listens): the test names the failing stage (503), a
# start or stop says the engine cannot be reached (503), logs of a model without a record are
# a 404, and kubernetes is not supported yet (501).
call POST '/services/mltk/test_container_connection?output_mode=json' -H 'Content-Type: application/json' \
  --data '{"container_type":"docker","docker_url":"unix:///nonexistent/docker.sock"}'
call POST '/services/mltk/test_container_connection?output_mode=json' -H 'Content-Type: application/json' \
  --data '{"container_type":"kubernetes"}'
call POST '/services/mltk/start_container?output_mode=json' -H 'Content-Type: application/json' \
  --data '{"payload":{"model":"m1","image":"mltk-container-golden-cpu:5.2.1","api_token":"do-not-store-me"}}'
call POST '/services/mltk/stop_container?output_mode=json' --data '{"payload":{"model":"m1"}}'
call POST '/services/mltk/container_logs?output_mode=json' --data '{"payload":{"model":"m1"}}'
# Unicode in a path parameter.
call DELETE '/services/mltk/start_container/mod%C3%A8le-%E2%9C%93?output_mode=json'

kill "$pid"; wait "$pid" 2>/dev/null || true
count=$(ls "$work/capture" | wc -l)
[ "$count" -gt 0 ] || { echo "nothing captured" >&2; exit 1; }
mkdir -p "$out"
rm -f "$out"/*.json
cp "$work/capture"/*.json "$out"/
echo "captured $count fixtures into $out"
