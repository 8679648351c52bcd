#!/usr/bin/env bash
# Package and app checks, as CI runs them:
#   1. builds the package (cargo run --release --bin package; PACKAGE_ARGS adds options,
#      e.g. PACKAGE_ARGS=--static, or --driver PATH to ship a driver built already);
#   2. Splunk AppInspect on the archive, twice: `--mode precert --included-tags cloud` (what
#      Splunk Cloud vetting runs) and `--mode precert` with every tag. Any failure, error or
#      future failure fails this script; warnings are printed, and each warning's check must be
#      named in README.md's "Known AppInspect warnings" section (fixed or explained);
#   3. `slim validate` (splunk-packaging-toolkit) on the unpacked app: the confs against
#      README/*.conf.spec; any error or warning fails.
# Installs splunk-appinspect and splunk-packaging-toolkit from PyPI when missing. Reports
# go to dist/appinspect-<run>.json.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
say() { echo "appinspect.sh: $* ($(( $(date +%s) - started ))s)"; }

# pip puts console scripts here; make sure they are found even off a pyenv/venv PATH.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
need=()
command -v splunk-appinspect >/dev/null || need+=(splunk-appinspect)
command -v slim >/dev/null || need+=(splunk-packaging-toolkit)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  python3 -m pip install -q "${need[@]}"
fi

say "building the package"
# shellcheck disable=SC2086 # PACKAGE_ARGS is a list of options
out=$(cargo run -q --release --bin package -- ${PACKAGE_ARGS:-})
echo "$out"
pkg=$(sed -n 's/^package: wrote \(.*\) ([0-9]* bytes.*/\1/p' <<<"$out")
[ -f "$pkg" ] || { echo "appinspect.sh: the package command reported no archive" >&2; exit 1; }

status=0
summarize() { # report.json run-name
  python3 - "$1" "$2" README.md <<'EOF' || status=1
import json, re, sys
report, name, readme = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
data = json.load(open(report))
summary = data.get("summary", {})
print(f"appinspect {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.items())))
m = re.search(r"^## Known AppInspect warnings\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
explained = m.group(1) if m else ""
bad = unexplained = 0
for report in data.get("reports", []):
    for group in report.get("groups", []):
        for check in group.get("checks", []):
            result = check.get("result")
            if result not in ("failure", "error", "warning", "future_failure"):
                continue
            texts = [msg.get("message", "") for msg in check.get("messages", [])] or [""]
            for t in texts:
                print(f"  {result.upper()} {check['name']}: {t.strip()}")
            if result == "warning":
                if f"`{check['name']}`" not in explained:
                    unexplained += 1
                    print(f"  ^ not explained in README.md \"Known AppInspect warnings\"")
            else:
                bad += 1
if bad or unexplained:
    print(f"appinspect {name}: {bad} failure(s)/error(s), {unexplained} unexplained warning(s)")
    sys.exit(1)
EOF
}

common=(--mode precert --data-format json --max-messages all --skip-trusted-libraries-update)
say "AppInspect, cloud tag: $pkg"
splunk-appinspect inspect "$pkg" "${common[@]}" --included-tags cloud \
  --output-file dist/appinspect-cloud.json >/dev/null
summarize dist/appinspect-cloud.json cloud
say "AppInspect, every tag (precert)"
splunk-appinspect inspect "$pkg" "${common[@]}" \
  --output-file dist/appinspect-precert.json >/dev/null
summarize dist/appinspect-precert.json precert

say "slim validate"
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
tar -xzf "$pkg" -C "$unpacked"
app_dir=$(find "$unpacked" -mindepth 1 -maxdepth 1 -type d)
if ! slim_out=$(slim validate "$app_dir" 2>&1); then
  status=1
fi
echo "$slim_out"
if grep -E '\[(ERROR|WARN|WARNING)\]' <<<"$slim_out" >/dev/null; then
  echo "appinspect.sh: slim validate reported errors or warnings" >&2
  status=1
fi

say "done: $(stat -c %s "$pkg") bytes in $pkg"
exit $status
