#!/usr/bin/env bash
# Benchmark of the test cluster (not a test): start-up time to the first served request
# and sustained server-side applies per second, against 127.0.0.1 only, bounded in
# request count and duration. Extra args go to the load driver (see loadgen/main.go).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
emu="$here/../../tests/kube-emulator"
"$emu/build.sh"
export GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$emu/.gopath" GOCACHE="$emu/.gopath/cache"
go build -o "$emu/bin/emulator-loadgen" "$here/loadgen/main.go"
exec "$emu/bin/emulator-loadgen" --bin "$emu/bin/kube-emulator" "$@"
