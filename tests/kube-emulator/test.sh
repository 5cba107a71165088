#!/usr/bin/env bash
# Runs the emulator's Go test suite (go vet + go test) in GOPATH mode; extra args go to `go test`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/build.sh" >&2
export GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$here/.gopath:/usr/share/gocode" GOCACHE="$here/.gopath/cache"
cd "$here/.gopath/src/kubeemu"
go vet kubeemu
go test kubeemu "$@"
