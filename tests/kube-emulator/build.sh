#!/usr/bin/env bash
# Builds bin/kube-emulator offline, in GOPATH mode, from Debian's packaged Go libraries
# (structured-merge-diff v4, kube-openapi deps). Rebuilds only when a source changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# A fresh machine has no Go toolchain: install it (or say exactly what to run) first.
"$here/setup.sh"
cd "$here"
mkdir -p .gopath/src/sigs.k8s.io/structured-merge-diff bin
# GOPATH mode, no module proxy (unreachable here): only Debian's /usr/share/gocode.
export GO111MODULE=off GOPROXY=off GOFLAGS= GOTOOLCHAIN=local
export GOPATH="$here/.gopath:/usr/share/gocode"
export GOCACHE="$here/.gopath/cache"
# Debian ships SMD under its v1 import path; the /v4 module path is a symlink.
ln -sfn /usr/share/gocode/src/sigs.k8s.io/structured-merge-diff .gopath/src/sigs.k8s.io/structured-merge-diff/v4
ln -sfn "$here/emulator" .gopath/src/kubeemu
# Serialise concurrent builds (parallel tests may all ask for the binary at once).
exec 9>"$here/.gopath/build.lock"
flock 9
if [[ -x bin/kube-emulator && "${1:-}" != "--force" ]] &&
   [[ -z "$(find emulator data -newer bin/kube-emulator \( -name '*.go' ! -name '*_test.go' \) -print -quit)" ]]; then
  exit 0
fi
go build -trimpath -o bin/kube-emulator.tmp kubeemu
mv bin/kube-emulator.tmp bin/kube-emulator
