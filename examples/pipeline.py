"""Deploys a model with an authentication token through Splunk's Python SDK (splunklib):
make the token, save and test the Docker connection, start the model, wait until
container_data says it is ready, call its API, stop.

Environment: SPLUNK_URL, SPLUNK_USER, SPLUNK_PASSWORD, optional SPLUNK_CA, DSDL_IMAGE,
DSDL_API_TOKEN, optional DOCKER_URL and MODEL (see pipeline.sh).
"""

import json
import os
import ssl
import sys
import time
import urllib.request
from urllib.parse import urlsplit

import splunklib.client as client
from splunklib.binding import HTTPError

env = os.environ
url = urlsplit(env["SPLUNK_URL"])
model = env.get("MODEL", "pipeline_model")
tls = {}
if env.get("SPLUNK_CA"):
    tls = {"verify": True, "context": ssl.create_default_context(cafile=env["SPLUNK_CA"])}
server = {"host": url.hostname, "port": url.port, "scheme": url.scheme, **tls}

# 1. A token for this run (expires in an hour); the password is not used after this.
admin = client.connect(username=env["SPLUNK_USER"], password=env["SPLUNK_PASSWORD"], **server)
reply = admin.post(
    "authorization/tokens",
    name=env["SPLUNK_USER"],
    audience="dsdl-pipeline",
    expires_on="+1h",
    output_mode="json",
)
token = json.loads(reply.body.read())["entry"][0]["content"]["token"]
service = client.connect(splunkToken=token, owner="nobody", app="dsdl_handler", **server)


def api(method, endpoint, **fields):
    """One /mltk call with the token; the reply's JSON."""
    if method == "GET":
        reply = service.get(f"mltk/{endpoint}", output_mode="json", **fields)
    else:
        reply = service.post(
            f"mltk/{endpoint}",
            headers=[("Content-Type", "application/json")],
            body=json.dumps({"payload": fields}),
            output_mode="json",
        )
    return json.loads(reply.body.read())


# 2. Save the Docker connection (update it when an earlier run saved it), then test it.
connection = {
    "container_type": "docker",
    "connection_name": "pipeline docker",
    "docker_url": env.get("DOCKER_URL", "unix:///var/run/docker.sock"),
    "endpoint_hostname": "localhost",
    "api_token": env["DSDL_API_TOKEN"],
}
try:
    api("POST", "container_connection", **connection)
except HTTPError as e:
    if e.status != 409:
        raise
    api("POST", "container_connection", is_edit=True, **connection)
print(api("POST", "test_container_connection", container_type="docker")["message"])

# 3. Start the model.
print(api("POST", "start_container", model=model, image=env["DSDL_IMAGE"], mode="PROD")["message"])

# 4. Wait until container_data shows it Active (its API answers).
for _ in range(60):
    row = api("GET", "container_data")["config"].get(model, {})
    if row.get("status") == "Active":
        break
    time.sleep(2)
else:
    sys.exit(f"{model} is not ready: {row.get('status', 'missing')}")
print(f"{model} is ready at {row['api_url']}")

# 5. Call the model's API with its token.
request = urllib.request.Request(
    row["api_url"] + "/summary", headers={"Authorization": env["DSDL_API_TOKEN"]}
)
with urllib.request.urlopen(request, timeout=30) as answer:
    print(answer.read().decode())

# 6. Stop it.
print(api("POST", "stop_container", model=model)["message"])
