#!/usr/bin/env bash
# CI entry for the test cluster: installs the Debian packages the emulator builds from
# (setup.sh, only if missing), builds bin/kube-emulator, then runs go vet, gofmt and the Go suite.
#   usage: tests/kube-emulator/ci.sh        (from any directory; exit status = result)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/build.sh"   # runs setup.sh first
unformatted=$(gofmt -l "$here/emulator")
if [[ -n "$unformatted" ]]; then
  echo "kube-emulator ci: gofmt needed on: $unformatted" >&2
  exit 1
fi
command -v kubectl >/dev/null || echo "kube-emulator ci: NOTE kubectl not on PATH, TestKubectlClient will be skipped" >&2
# -v so skip reasons are printed; the filter keeps verdicts, skips and failure details.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
"$here/test.sh" -count=1 -v "$@" >"$log" 2>&1
rc=$?
set -e
grep -E '^(--- (FAIL|SKIP)|ok |FAIL|panic:)|^\s+\S+_test\.go:[0-9]+:' "$log" || true
if ((rc != 0)); then
  echo "kube-emulator ci: Go tests failed (full log follows)" >&2
  cat "$log" >&2
fi
exit "$rc"
