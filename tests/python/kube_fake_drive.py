#!/usr/bin/env python3
"""Drives the fake Kubernetes API server with the official Python client (PyPI `kubernetes`),
a client nobody in this repository wrote. Called by tests/kube_fake_clients.rs.

usage: kube_fake_drive.py ok KUBECONFIG NAMESPACE
         version, namespaces (list and get), nodes with their nvidia.com/gpu, who the
         caller is (SelfSubjectReview), and two SelfSubjectAccessReviews (create
         deployments: allowed; delete: denied)
       kube_fake_drive.py error KUBECONFIG NAMESPACE
         reads the namespace and reports the error the client raised (or that it succeeded)
       kube_fake_drive.py workloads KUBECONFIG NAMESPACE POD
         the deployments labelled app=m and their ready replicas, the last line of POD's
         log, and the node port of a NodePort service it creates
       kube_fake_drive.py logs KUBECONFIG NAMESPACE POD
         POD's whole log, its last 3 lines, the last hour of it, and it with timestamps

Prints one JSON object on stdout.
"""

import json
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException


def api_client(kubeconfig):
    # The client's own kubeconfig loader: bearer tokens, Basic (username/password) and
    # client certificates, with the cluster's CA.
    return config.new_client_from_config(config_file=kubeconfig)


def can_i(authz, verb, namespace):
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                namespace=namespace, verb=verb, group="apps", resource="deployments"
            )
        )
    )
    return authz.create_self_subject_access_review(review).status.allowed


def ok(kubeconfig, namespace):
    api = api_client(kubeconfig)
    core = client.CoreV1Api(api)
    authz = client.AuthorizationV1Api(api)
    nodes = core.list_node().items
    return {
        "version": client.VersionApi(api).get_code().git_version,
        "namespaces": [n.metadata.name for n in core.list_namespace().items],
        "phase": core.read_namespace(namespace).status.phase,
        "gpus": {
            n.metadata.name: (n.status.allocatable or {}).get("nvidia.com/gpu") for n in nodes
        },
        "user": client.AuthenticationV1Api(api)
        .create_self_subject_review(client.V1SelfSubjectReview())
        .status.user_info.username,
        "can_create": can_i(authz, "create", namespace),
        "can_delete": can_i(authz, "delete", namespace),
    }


def error(kubeconfig, namespace):
    core = client.CoreV1Api(api_client(kubeconfig))
    try:
        core.read_namespace(namespace)
    except ApiException as e:
        body = json.loads(e.body) if e.body else {}
        return {
            "status": e.status,
            "reason": body.get("reason"),
            "message": body.get("message"),
            "retry_after": (e.headers or {}).get("Retry-After"),
        }
    except Exception as e:  # TLS and connection failures come as urllib3 errors
        return {"exception": type(e).__name__, "message": str(e)}
    return {"succeeded": True}


def workloads(kubeconfig, namespace, pod):
    api = api_client(kubeconfig)
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    deployments = apps.list_namespaced_deployment(namespace, label_selector="app in (m)").items
    service = core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="py-svc"),
            spec=client.V1ServiceSpec(
                type="NodePort",
                selector={"app": "m"},
                ports=[client.V1ServicePort(port=8080)],
            ),
        ),
    )
    return {
        "deployments": [d.metadata.name for d in deployments],
        "ready": sum(d.status.ready_replicas or 0 for d in deployments),
        "tail": core.read_namespaced_pod_log(pod, namespace, tail_lines=1),
        "node_port": service.spec.ports[0].node_port,
    }


def logs(kubeconfig, namespace, pod):
    core = client.CoreV1Api(api_client(kubeconfig))
    read = lambda **q: core.read_namespaced_pod_log(pod, namespace, **q)
    return {
        "log": read(),
        "tail": read(tail_lines=3),
        "since": read(since_seconds=3600),
        "stamped": read(timestamps=True),
    }


def main():
    actions = {"ok": 4, "error": 4, "workloads": 5, "logs": 5}
    if len(sys.argv) < 2 or actions.get(sys.argv[1]) != len(sys.argv):
        print(__doc__, file=sys.stderr)
        return 2
    action, kubeconfig, namespace = sys.argv[1:4]
    if action == "workloads":
        result = workloads(kubeconfig, namespace, sys.argv[4])
    elif action == "logs":
        result = logs(kubeconfig, namespace, sys.argv[4])
    else:
        result = (ok if action == "ok" else error)(kubeconfig, namespace)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
