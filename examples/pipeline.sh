#!/usr/bin/env bash
# Deploys a model with an authentication token: make the token, save and test the Docker
# connection, start the model, wait until container_data says it is ready, call its API, stop.
#
#   SPLUNK_URL       splunkd's management URL, e.g. https://splunk.example.com:8089
#   SPLUNK_USER      user that makes the token (then every call uses the token only)
#   SPLUNK_PASSWORD  that user's password
#   SPLUNK_CA        optional CA certificate file for splunkd's TLS certificate
#   DSDL_IMAGE       image name from the catalog (docker_images.conf), e.g. golden-cpu:5.2.1
#   DSDL_API_TOKEN   token the model's API will require (saved with the connection)
#   DOCKER_URL       optional, default unix:///var/run/docker.sock
#   MODEL            optional model name, default pipeline_model
set -euo pipefail
: "${SPLUNK_URL:?}" "${SPLUNK_USER:?}" "${SPLUNK_PASSWORD:?}" "${DSDL_IMAGE:?}" "${DSDL_API_TOKEN:?}"
DOCKER_URL=${DOCKER_URL:-unix:///var/run/docker.sock}
MODEL=${MODEL:-pipeline_model}
tls=()
if [ -n "${SPLUNK_CA:-}" ]; then tls=(--cacert "$SPLUNK_CA"); fi
MLTK="$SPLUNK_URL/servicesNS/nobody/dsdl_handler/mltk"

# 1. A token for this run (expires in an hour); the password is not used after this.
TOKEN=$(curl -sS --fail-with-body "${tls[@]}" -u "$SPLUNK_USER:$SPLUNK_PASSWORD" \
  "$SPLUNK_URL/services/authorization/tokens?output_mode=json" \
  --data-urlencode "name=$SPLUNK_USER" -d audience=dsdl-pipeline --data-urlencode expires_on=+1h |
  jq -r '.entry[0].content.token')
api() { # api METHOD ENDPOINT [curl args...]
  local method=$1 endpoint=$2
  shift 2
  curl -sS --fail-with-body "${tls[@]}" -X "$method" -H "Authorization: Bearer $TOKEN" \
    "$MLTK/$endpoint?output_mode=json" "$@"
}

# 2. Save the Docker connection (update it when an earlier run saved it), then test it.
conn=(-d container_type=docker -d 'connection_name=pipeline docker' -d endpoint_hostname=localhost
  --data-urlencode "docker_url=$DOCKER_URL" --data-urlencode "api_token=$DSDL_API_TOKEN")
api POST container_connection "${conn[@]}" >/dev/null 2>&1 ||
  api POST container_connection "${conn[@]}" -d is_edit=true >/dev/null
api POST test_container_connection -d container_type=docker | jq -r '.message'

# 3. Start the model.
api POST start_container -H 'Content-Type: application/json' \
  -d "$(jq -cn --arg m "$MODEL" --arg i "$DSDL_IMAGE" '{payload: {model: $m, image: $i, mode: "PROD"}}')" |
  jq -r '.message'

# 4. Wait until container_data shows it Active (its API answers).
for _ in $(seq 1 60); do
  status=$(api GET container_data | jq -r --arg m "$MODEL" '.config[$m].status // "missing"')
  [ "$status" = Active ] && break
  sleep 2
done
[ "$status" = Active ] || { echo "$MODEL is not ready: $status" >&2; exit 1; }
API_URL=$(api GET container_data | jq -r --arg m "$MODEL" '.config[$m].api_url')
echo "$MODEL is ready at $API_URL"

# 5. Call the model's API with its token.
curl -sS --fail-with-body -H "Authorization: $DSDL_API_TOKEN" "$API_URL/summary"
echo

# 6. Stop it.
api POST stop_container -d "model=$MODEL" | jq -r '.message'
