"""Finds a model's container the way the AI Toolkit's search-time algorithm (AITKContainer,
behind `| fit`, `| apply` and `| summary`) does, then calls its API. Written from the toolkit's
documented behaviour, not from this project's code:

- `etc/apps/Splunk_ML_Toolkit/local/dsdl_container.conf` is read from disk: the model's stanza,
  falling back to `[__dev__]` (always `[__dev__]` when the mode contains "dev" or "stag");
  keys `api_url`, `api_url_external`, `cluster`.
- `etc/apps/Splunk_ML_Toolkit/local/container_connections.conf` must have the `[<cluster>]`
  stanza; `in_cluster_mode`, `endpoint_cert_check_hostname` and
  `endpoint_cert_filename_or_path` come from it.
- The token comes from storage/passwords, realm `dltk_kubernetes`, user `api_token`, namespace
  `nobody/Splunk_ML_Toolkit`, read with Splunk's Python SDK as the searching user.
- A non-in-cluster endpoint must start with `http`; the request is
  `POST <api_url>/<verb>` with `Authorization: <token>`.

Usage: aitk_container_lookup.py SPLUNK_HOME SPLUNKD_URL USER PASSWORD MODEL MODE VERB
Prints one JSON line: {"api_url", "cluster", "status", "body"}; exits 1 with the toolkit's
error text when the lookup fails, as `| fit` would.
"""

import configparser
import json
import os
import ssl
import sys
import urllib.parse
import urllib.request

import splunklib.client as client

APP = "Splunk_ML_Toolkit"


def read_local(home, conf):
    path = os.path.join(home, "etc", "apps", APP, "local", conf + ".conf")
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(path)
    return parser


def fail(text):
    print(text)
    sys.exit(1)


def main():
    home, splunkd, user, password, model, mode, verb = sys.argv[1:8]
    records = read_local(home, "dsdl_container")
    name = "__dev__" if ("dev" in mode.lower() or "stag" in mode.lower()) else model
    if not records.has_section(name):
        name = "__dev__"
    if not records.has_section(name):
        fail("Endpoint URL () is undefined")
    record = records[name]
    cluster = record.get("cluster", "docker") or "docker"
    connections = read_local(home, "container_connections")
    if not connections.has_section(cluster):
        fail("No container connection [%s] in Splunk_ML_Toolkit/local" % cluster)
    connection = connections[cluster]
    in_cluster = connection.get("in_cluster_mode", "").strip().lower() in ("1", "true", "yes")
    check_hostname = connection.get("endpoint_cert_check_hostname", "").strip().lower() not in (
        "0", "false", "no")
    ca = connection.get("endpoint_cert_filename_or_path", "").strip()
    url = record.get("api_url", "") or record.get("api_url_external", "")
    if not in_cluster and not url.startswith("http"):
        fail("Endpoint URL (%s) is undefined" % url)

    parsed = urllib.parse.urlparse(splunkd)
    service = client.connect(host=parsed.hostname, port=parsed.port, scheme=parsed.scheme,
                             username=user, password=password, owner="nobody", app=APP)
    token = None
    for credential in service.storage_passwords.list(count=-1):
        if credential.realm == "dltk_kubernetes" and credential.username == "api_token":
            token = credential.clear_password
    if not token:
        fail("No api_token in storage/passwords realm dltk_kubernetes")

    context = ssl.create_default_context(cafile=ca or None)
    context.check_hostname = check_hostname and bool(ca)
    if not ca:
        context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url.rstrip("/") + "/" + verb, data=b"{}", method="POST",
                                     headers={"Authorization": token,
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as reply:
            status, body = reply.status, reply.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    print(json.dumps({"api_url": url, "cluster": cluster, "status": status, "body": body}))


if __name__ == "__main__":
    main()
