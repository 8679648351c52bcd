"""Drives splunkd-dev and the /mltk API through Splunk's Python SDK (splunklib), the way a
Splunk app or script would: login with username and password, service.confs, storage_passwords,
and GET/POST/DELETE on every /mltk endpoint, errors raised as splunklib.binding.HTTPError.

Usage: splunklib_drive.py URL USERNAME PASSWORD
Exit status 0 when every check passed; otherwise the failing check is printed.
"""

import json
import sys
from urllib.parse import urlsplit

try:
    import splunklib.binding as binding
    import splunklib.client as client
except ImportError:
    print("splunklib is not importable: install it with `python3 -m pip install splunk-sdk`")
    sys.exit(3)

APP = "dsdl_handler"
NS = {"owner": "nobody", "app": APP}


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok -", what.split("\n")[0])


def body_json(resp):
    return json.loads(resp.body.read())


def get_json(service, path, **query):
    resp = service.get(path, output_mode="json", **NS, **query)
    check(resp.status == 200, f"GET {path}: 200 (got {resp.status})")
    return body_json(resp)


def expect_http_error(status, what, call):
    try:
        call()
    except binding.HTTPError as e:
        check(e.status == status, f"{what}: HTTPError {status} (got {e.status}: {e})")
        return e
    raise AssertionError(f"{what}: expected HTTPError {status}, the call succeeded")


def main(url, username, password):
    parts = urlsplit(url)
    service = client.connect(
        host=parts.hostname,
        port=parts.port,
        scheme=parts.scheme,
        username=username,
        password=password,
        owner="nobody",
        app=APP,
    )
    check(service.token and "Splunk " in service.token, "login with username and password")
    expect_http_error(
        401,
        "login with a wrong password",
        lambda: client.connect(
            host=parts.hostname,
            port=parts.port,
            scheme=parts.scheme,
            username=username,
            password="wrong",
        ),
    )

    # service.confs: properties/<conf>, then configs/conf-<conf>.
    confs = service.confs
    check("container_connections" in confs, "confs: container_connections exists")
    check("no_such_conf_here" not in confs, "confs: a missing conf is not there")
    stanzas = {s.name: s for s in confs["container_connections"]}
    check("docker" in stanzas, f"confs: [docker] of container_connections ({sorted(stanzas)})")
    check(
        isinstance(stanzas["docker"].content, dict), "confs: a stanza's content reads as a dict"
    )
    scratch = confs.create("splunklib_scratch")
    check(scratch.name == "splunklib_scratch", "confs.create a conf file")
    check("splunklib_scratch" in service.confs, "confs: the created conf exists")
    again = service.confs.create("splunklib_scratch")
    check(again.name == "splunklib_scratch", "confs.create an existing conf returns it")
    stanza = scratch.create("s1", colour="blue")
    check(stanza["colour"] == "blue", "conf create a stanza with a key")
    stanza.update(colour="green")
    stanza.refresh()
    check(stanza["colour"] == "green", "conf update a stanza")
    check(
        [s.name for s in service.confs["splunklib_scratch"]] == ["s1"], "conf lists the stanza"
    )
    scratch.delete("s1")
    check(
        [s.name for s in service.confs["splunklib_scratch"]] == [], "conf delete a stanza"
    )

    # storage_passwords in the app's namespace.
    passwords = service.storage_passwords
    created = passwords.create("splunklib-Secret-1", "splunklib_user", "splunklib_realm")
    check(created.name == "splunklib_realm:splunklib_user:", f"storage_passwords.create ({created.name})")
    check(created.clear_password == "splunklib-Secret-1", "storage_passwords: clear_password")
    names = [p.name for p in passwords.list()]
    check("splunklib_realm:splunklib_user:" in names, f"storage_passwords.list ({names})")
    passwords.delete("splunklib_user", "splunklib_realm")
    names = [p.name for p in service.storage_passwords.list()]
    check("splunklib_realm:splunklib_user:" not in names, "storage_passwords.delete")
    expect_http_error(
        409,
        "storage_passwords.create twice",
        lambda: [passwords.create("x", "twice", "r") for _ in range(2)],
    )
    passwords.delete("twice", "r")

    # GET on every /mltk endpoint.
    index = get_json(service, "mltk")
    check(len(index["entry"]) > 0, "GET mltk lists the endpoints")
    for path in [
        "mltk/container_connection",
        "mltk/container_connection/docker",
        "mltk/container_connection/kubernetes",
        "mltk/test_container_connection",
        "mltk/container_data",
        "mltk/container_logs",
        "mltk/start_container",
        "mltk/stop_container",
    ]:
        get_json(service, path)
    expect_http_error(404, "GET an unknown /mltk path", lambda: service.get("mltk/nope", **NS))

    # POST, GET and DELETE a Docker connection; its secret goes to storage/passwords.
    # The settings as the body, output_mode in the query: the connection endpoint takes only
    # connection keys in its body.
    saved = service.post(
        "mltk/container_connection",
        body={
            "container_type": "docker",
            "connection_name": "splunklib_docker",
            "docker_url": "unix:///var/run/docker.sock",
            "endpoint_hostname": "localhost",
            "jupyter_password": "splunklib-Jupyter-1",
        },
        output_mode="json",
        **NS,
    )
    check(saved.status == 200, "POST mltk/container_connection saves a connection")
    text = saved.body.read().decode()
    check("splunklib-Jupyter-1" not in text, "the saved connection's reply holds no secret")
    one = get_json(service, "mltk/container_connection/docker/splunklib_docker")
    check("splunklib-Jupyter-1" not in json.dumps(one), "GET the connection: secret masked")
    check(
        "unix:///var/run/docker.sock" in json.dumps(one), "GET the connection: its docker_url"
    )
    listed = get_json(service, "mltk/container_connection")
    check("splunklib_docker" in json.dumps(listed), "the connection is listed")
    gone = service.delete(
        "mltk/container_connection/docker/splunklib_docker", output_mode="json", **NS
    )
    check(gone.status == 200, "DELETE the connection")
    expect_http_error(
        404,
        "GET the deleted connection",
        lambda: service.get("mltk/container_connection/docker/splunklib_docker", **NS),
    )

    # Errors and an idempotent stop.
    expect_http_error(
        400,
        "POST mltk/start_container without a model",
        lambda: service.post("mltk/start_container", output_mode="json", **NS),
    )
    expect_http_error(
        404,
        "DELETE mltk/start_container/<model> without a record",
        lambda: service.delete("mltk/start_container/splunklib_no_record", **NS),
    )
    expect_http_error(
        404,
        "POST mltk/container_logs for a model without a record",
        lambda: service.post("mltk/container_logs", model="splunklib_no_record", **NS),
    )
    expect_http_error(
        405,
        "DELETE on a GET/POST endpoint",
        lambda: service.delete("mltk/container_data", **NS),
    )
    stopped = service.post(
        "mltk/stop_container", output_mode="json", model="splunklib_nothing_runs", **NS
    )
    check(stopped.status == 200, "POST mltk/stop_container for a model not running: 200")
    reply = body_json(stopped)
    check(reply["stopped_container"]["changed"] is False, f"... changed false ({reply})")

    print("all splunklib checks passed")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    try:
        main(*sys.argv[1:])
    except (AssertionError, binding.HTTPError, ValueError, KeyError) as e:
        print(f"FAILED: {type(e).__name__}: {e}")
        sys.exit(1)
