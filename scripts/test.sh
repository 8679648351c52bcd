#!/usr/bin/env bash
# The README's test command: installs and starts what the tests need when it is missing, then
# runs the whole suite (`cargo test`, extra arguments passed on). Idempotent and quick when
# everything is there already; .ci/run calls it too.
#
# What the suites need besides Rust:
# - curl (the end-to-end tests drive splunkd-dev with it), jq (examples/pipeline.sh) and
#   taskset (benchmarks);
# - a Docker engine at /var/run/docker.sock (scripts/start-docker.sh installs and starts one);
# - Python packages for cross-checks against code nobody here wrote: splunksecrets (Splunk's
#   $7$ secret format), splunk-sdk (splunklib, Splunk's own Python SDK as a client) and
#   kubernetes (the official Kubernetes Python client, against the fake API server);
# - kubectl (Debian's kubernetes-client), the other client the fake API server is checked with.
# - openapi-spec-validator (PyPI), which checks the OpenAPI document is valid OpenAPI 3.1.
# Set DSDL_SKIP_DOCKER_TESTS=1 to run without Docker on purpose (those tests then say so).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

need=()
command -v curl >/dev/null || need+=(curl)
command -v jq >/dev/null || need+=(jq)
command -v taskset >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3 python3-pip)
command -v kubectl >/dev/null || need+=(kubernetes-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq "${need[@]}"
fi

python_need=()
python3 -c 'import splunksecrets' 2>/dev/null || python_need+=(splunksecrets)
python3 -c 'import splunklib.client' 2>/dev/null || python_need+=(splunk-sdk)
# The newest kubernetes release wants python-dateutil 3, which botocore (the EKS golden script's
# reference) refuses: ask for both so pip picks a kubernetes that leaves botocore working.
python3 -c 'import kubernetes.client' 2>/dev/null || python_need+=(kubernetes 'python-dateutil<3')
# The Kubernetes manifests are validated against the pinned API's schemas (tests/kube_manifests.rs).
python3 -c 'import kubernetes_validate' 2>/dev/null || python_need+=(kubernetes-validate)
# The OpenAPI document's check (tests/openapi.rs).
python3 -c 'import openapi_spec_validator' 2>/dev/null || python_need+=(openapi-spec-validator)
if [ ${#python_need[@]} -gt 0 ]; then
  echo "installing Python packages: ${python_need[*]}"
  python3 -m pip install -q "${python_need[@]}" ||
    python3 -m pip install -q --break-system-packages "${python_need[@]}"
fi

if [ "${DSDL_SKIP_DOCKER_TESTS:-}" != "1" ]; then
  scripts/start-docker.sh
fi

exec cargo test "$@"
