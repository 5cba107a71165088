#!/usr/bin/env bash
# Installs what packaging the VS Code extension needs (cli/kdep/tests/lsp_vscode.rs); idempotent.
#
# - `@vscode/vsce`, pinned, into `$CARGO_TARGET_DIR/vsce` (not global, not in the source tree);
# - the extension's own dependencies (`vscode-languageclient`, from package-lock.json) into
#   npm's cache (~/.npm), so the test installs them with `npm ci --offline`;
# - `unzip` (Debian), with which the test reads the packaged .vsix.
# A second run does nothing but check.
set -euo pipefail
cd "$(dirname "$0")"
EXT="$(pwd)"
TARGET="${CARGO_TARGET_DIR:-$EXT/../../../target}"
TOOLS="$TARGET/vsce"
VSCE_VERSION="3.9.2"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
missing=()
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$("$TOOLS/node_modules/.bin/vsce" --version 2>/dev/null || true)" != "$VSCE_VERSION" ]; then
    mkdir -p "$TOOLS"
    npm install --prefix "$TOOLS" --no-audit --no-fund --prefer-offline --loglevel=error "@vscode/vsce@$VSCE_VERSION" >/dev/null
fi

# Warm npm's cache with the extension's locked dependencies (in a scratch copy: nothing is
# written next to the sources).
stamp="$TOOLS/warmed-$(sha256sum "$EXT/package-lock.json" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    cp "$EXT/package.json" "$EXT/package-lock.json" "$scratch/"
    (cd "$scratch" && npm ci --prefer-offline --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
    touch "$stamp"
fi
"$TOOLS/node_modules/.bin/vsce" --version >/dev/null
