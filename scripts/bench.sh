#!/usr/bin/env bash
# Benchmarks of the dsdl-handler driver through real pipes (figures printed, not asserted):
# per-request overhead for GET /mltk (median, p99), cold start to the first reply, resident
# memory after 10,000 requests. Runs once with the benchmark and the driver pinned to one core
# (taskset -c 0, as the design's budget is stated) and once unpinned.
#
# Environment: BENCH_REQUESTS (default 20000), BENCH_COLD_STARTS (50), BENCH_RSS_REQUESTS
# (10000), BENCH_CPU (0), CARGO_TARGET_DIR (default <repo>/target).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cargo build --release --bin dsdl-handler --bin bench-driver
bin="${CARGO_TARGET_DIR:-$root/target}/release"
args=(
  --driver "$bin/dsdl-handler"
  --requests "${BENCH_REQUESTS:-20000}"
  --cold-starts "${BENCH_COLD_STARTS:-50}"
  --rss-requests "${BENCH_RSS_REQUESTS:-10000}"
)

echo "machine: $(nproc) cpus; $(uname -sr)"
if command -v taskset >/dev/null; then
  cpu="${BENCH_CPU:-0}"
  echo
  echo "== pinned: benchmark and driver on cpu $cpu (taskset -c $cpu)"
  taskset -c "$cpu" "$bin/bench-driver" "${args[@]}"
else
  echo "taskset not found (package util-linux): skipping the pinned run" >&2
fi
echo
echo "== unpinned"
"$bin/bench-driver" "${args[@]}"

# Deployment records through a release splunkd-dev, over HTTP and over HTTPS: REST calls and
# new connections per GET container_data and GET start_container request once the drivers are
# warm (counted in splunkd_access.log and splunkd.log) for 20 and 200 records, and latency
# with concurrent clients. Environment: BENCH_RECORDS (20,200), BENCH_CLIENTS (4),
# BENCH_SECONDS (5).
cargo build --release --bin splunkd-dev --bin bench-records
echo
echo "== records: GET /services/mltk/container_data through splunkd-dev"
for front in "" --tls; do
  "$bin/bench-records" --splunkd-dev "$bin/splunkd-dev" \
    --records "${BENCH_RECORDS:-20,200}" \
    --clients "${BENCH_CLIENTS:-4}" \
    --seconds "${BENCH_SECONDS:-5}" $front
done
echo
echo "== records on Kubernetes: GET /services/mltk/container_data, models on kube-fake"
"$bin/bench-records" --splunkd-dev "$bin/splunkd-dev" --kubernetes --clients 1 \
  --records "${BENCH_RECORDS:-20,200}" --seconds "${BENCH_SECONDS:-5}" --count-requests 10

# The Docker runtime against the local engine (benches/docker.rs; skips with a message when the
# engine does not answer): start_container reply against Docker's own create+start,
# container_data with 200 records of which 50 are dead, and the last 1000 log lines of a
# container that wrote 1 GB (time and the driver's peak memory). About 1.5 minutes on 2 cores
# once built. Environment: BENCH_DOCKER_STARTS (10), BENCH_DOCKER_READY_STARTS (3),
# BENCH_DOCKER_DATA_GETS (20), BENCH_LOG_BYTES (1073741824; 0 skips the logs part),
# BENCH_LOG_TAILS (5).
# Its figures are dominated by the engine, so CI runs it on the test build (`cargo test` has
# built everything it needs) instead of compiling the release tree again with the dev
# dependencies; BENCH_DOCKER_PROFILE=release measures the release driver and splunkd-dev.
echo
echo "== docker: the runtime against the local engine (profile ${BENCH_DOCKER_PROFILE:-dev})"
cargo bench --profile "${BENCH_DOCKER_PROFILE:-dev}" --bench docker
