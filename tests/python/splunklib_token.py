"""Splunk's Python SDK (splunklib) authenticating to splunkd-dev with an authentication token,
as automation does: client.connect(splunkToken=...) sends `Authorization: Splunk <jwt>`, no
login. Then a /mltk call and authentication/current-context through it, and an altered token
refused with HTTPError 401.

Usage: SPLUNK_TOKEN=<jwt> splunklib_token.py URL
"""

import json
import os
import sys
from urllib.parse import urlsplit

import splunklib.binding as binding
import splunklib.client as client


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what)


def connect(url, token):
    parts = urlsplit(url)
    return client.connect(
        host=parts.hostname,
        port=parts.port,
        scheme=parts.scheme,
        splunkToken=token,
        owner="nobody",
        app="dsdl_handler",
    )


def main(url):
    token = os.environ["SPLUNK_TOKEN"]
    service = connect(url, token)
    resp = service.get("mltk/container_data", output_mode="json")
    check(resp.status == 200, f"GET mltk/container_data with the token: 200 (got {resp.status})")
    data = json.loads(resp.body.read())
    check(data.get("status") == "success", f"container_data answers: {data}")
    resp = service.get("authentication/current-context", output_mode="json")
    user = json.loads(resp.body.read())["entry"][0]["content"]["username"]
    check(user == "admin", f"the token's user is admin (got {user})")

    head, sig = token.rsplit(".", 1)
    forged = head + "." + ("B" if sig[0] == "A" else "A") + sig[1:]
    try:
        connect(url, forged).get("mltk/container_data", output_mode="json")
    except binding.HTTPError as e:
        check(e.status == 401, f"an altered token: 401 (got {e.status})")
    else:
        raise AssertionError("an altered token was accepted")
    print("splunklib token checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
