#!/usr/bin/env bash
# Makes sure a Docker engine answers at /var/run/docker.sock for the Docker end-to-end tests.
# Idempotent: does nothing when `docker version` already works. Otherwise installs docker.io and
# busybox-static if dockerd is missing (Debian packages), starts dockerd in the background with
# its log in $DOCKERD_LOG (default /tmp/dsdl-dockerd.log), and waits up to
# $DOCKER_START_TIMEOUT seconds (default 60) for the socket and for `docker version`.
# Uses /usr/bin/docker (the engine's own client; a newer client may not speak API 1.41).
set -euo pipefail

DOCKER=/usr/bin/docker
SOCKET=/var/run/docker.sock
LOG="${DOCKERD_LOG:-/tmp/dsdl-dockerd.log}"
TIMEOUT="${DOCKER_START_TIMEOUT:-60}"

engine_answers() {
  [ -x "$DOCKER" ] && [ -S "$SOCKET" ] &&
    DOCKER_HOST="unix://$SOCKET" timeout 20 "$DOCKER" version >/dev/null 2>&1
}

print_version() {
  DOCKER_HOST="unix://$SOCKET" "$DOCKER" version \
    --format 'Docker engine {{.Server.Version}} (API {{.Server.APIVersion}}) at '"$SOCKET"
}

if engine_answers; then
  print_version
  exit 0
fi

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v dockerd >/dev/null 2>&1 || [ ! -x "$DOCKER" ] || [ ! -x /bin/busybox ]; then
  echo "installing docker.io and busybox-static"
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -qq docker.io busybox-static; then
    as_root apt-get update -qq
    as_root apt-get install -y -qq docker.io busybox-static
  fi
fi

dockerd_running() {
  [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null
}

if dockerd_running; then
  echo "dockerd is running but does not answer yet; waiting for it"
else
  echo "starting dockerd (log: $LOG)"
  # containerd comes with docker.io; dockerd starts its own when none is running.
  as_root sh -c "nohup dockerd >>'$LOG' 2>&1 &"
fi

deadline=$(( $(date +%s) + TIMEOUT ))
until engine_answers; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "error: the Docker engine did not answer at $SOCKET within ${TIMEOUT}s" >&2
    if [ -f "$LOG" ]; then
      echo "--- last lines of $LOG ---" >&2
      tail -n 30 "$LOG" >&2
    fi
    exit 1
  fi
  sleep 1
done
print_version
