#!/usr/bin/env bash
# Fuzz smoke: builds every cargo-fuzz target under fuzz/ and runs each for a bounded time,
# starting from the checked-in seeds (fuzz/seeds/<target>/). Exits non-zero on any crash,
# leak or timeout; libFuzzer leaves the failing input under fuzz/artifacts/<target>/.
#
# Works on the stable toolchain: cargo-fuzz needs nightly-only flags (-Zsanitizer, sancov),
# which RUSTC_BOOTSTRAP=1 unlocks for this build only.
#
# Environment: FUZZ_SECONDS (per target, default 30), FUZZ_TARGETS (space-separated, default
# all), FUZZ_SANITIZER (address by default; none for a faster run without AddressSanitizer).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

seconds="${FUZZ_SECONDS:-30}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
echo "building fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build -O -a -s "$sanitizer"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
status=0
for target in $targets; do
  mkdir -p "corpus/$target" "artifacts/$target" "seeds/$target"
  dict=()
  [ -f "dict/$target.dict" ] && dict=("-dict=dict/$target.dict")
  echo
  echo "== $target: ${seconds}s"
  started=$(date +%s)
  # The first corpus directory collects what the run finds; the seeds are read only.
  if cargo fuzz run -O -a -s "$sanitizer" "$target" "corpus/$target" "seeds/$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
      -print_final_stats=1 ${dict[@]+"${dict[@]}"} \
      >"$logs/$target.log" 2>&1; then
    result=ok
  else
    result=FAILED
    status=1
    tail -n 60 "$logs/$target.log"
  fi
  runs=$(awk '/stat::number_of_executed_units/ {n += $NF} END {print n + 0}' "$logs/$target.log")
  last=$(grep -E '^#[0-9]+' "$logs/$target.log" | tail -n 1 || true)
  echo "$target: $result after $(( $(date +%s) - started ))s; executions: ${runs:-?}; last status: ${last:-none}"
done
exit $status
