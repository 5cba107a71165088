#!/usr/bin/env bash
# Installs Neovim from Debian's packages for the editor end-to-end test (cli/kdep/tests/lsp_neovim.rs); idempotent.
set -euo pipefail
if command -v nvim >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends neovim >/dev/null
command -v nvim >/dev/null
