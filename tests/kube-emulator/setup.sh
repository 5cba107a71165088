#!/usr/bin/env bash
# Installs what the kube-emulator builds from (Go and two Debian Go library packages) when any
# is missing, as root or through sudo; where neither works it prints the exact command to run
# and exits 2. A no-op (one dpkg-query) when everything is there. Used by build.sh, so `serve`,
# `test.sh`, `ci.sh` and the Rust harness all work on a fresh Debian machine.
#   usage: tests/kube-emulator/setup.sh        (from any directory)
set -euo pipefail
pkgs=(golang-go golang-k8s-sigs-structured-merge-diff-dev golang-k8s-kube-openapi-dev)
missing=()
if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  if command -v go >/dev/null && [[ -d /usr/share/gocode/src/sigs.k8s.io/structured-merge-diff ]]; then
    exit 0
  fi
  echo "kube-emulator: needs Go 1.19+ and Debian's ${pkgs[*]:1} (GOPATH mode, /usr/share/gocode);" >&2
  echo "kube-emulator: this machine has no dpkg/apt-get: build on Debian or Ubuntu" >&2
  exit 2
fi
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
cmd=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}")
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  # Only a sudo that needs no password can be used without a terminal conversation.
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "kube-emulator: missing Debian packages: ${missing[*]}" >&2
    echo "kube-emulator: install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
fi
echo "kube-emulator: installing ${missing[*]}" >&2
if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || ! "${sudo[@]}" "${cmd[@]}" >&2; then
  echo "kube-emulator: installing ${missing[*]} failed; run by hand:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 2
fi
