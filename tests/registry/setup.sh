#!/usr/bin/env bash
# Installs what the package tests (cli/pkg/tests) start for real: Debian's `docker-registry`
# (a local OCI registry on 127.0.0.1), `htpasswd` for its basic-auth variant, openssl for its
# TLS variant's certificates, and git.
# Idempotent: does nothing when everything is already there.
set -euo pipefail
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v git >/dev/null || need+=(git)
command -v openssl >/dev/null || need+=(openssl)
if [[ ${#need[@]} -eq 0 ]]; then
    exit 0
fi
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
# The package's service is not wanted (the tests start their own registries); policy-rc.d
# stops the maintainer scripts from starting it where an init system would.
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
# A registry the package started would hold port 5000 for nothing.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    "${sudo_cmd[@]}" systemctl stop docker-registry || true
fi
