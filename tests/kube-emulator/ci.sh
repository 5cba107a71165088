#!/usr/bin/env bash
# CI entry for the test cluster: installs the Debian packages the emulator builds from
# (only if missing), builds bin/kube-emulator, then runs go vet, gofmt and the Go suite.
#   usage: tests/kube-emulator/ci.sh        (from any directory; exit status = result)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pkgs=(golang-go golang-k8s-sigs-structured-merge-diff-dev golang-k8s-kube-openapi-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "kube-emulator ci: installing ${missing[*]}" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
"$here/build.sh"
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
