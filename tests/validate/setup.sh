#!/usr/bin/env bash
# Creates (or reuses) the Python venv for tests/validate with the pinned validators of
# requirements.txt; prints the venv's python on stdout. Installs python3-venv with apt-get when
# `python3 -m venv` cannot create a venv (Debian without ensurepip).
#   usage: tests/validate/setup.sh        (venv: $VALIDATE_VENV, default target/validate-venv)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${VALIDATE_VENV:-$root/target/validate-venv}
req=$here/requirements.txt
py=$venv/bin/python

# The venv is reused while requirements.txt and the interpreter are unchanged; otherwise it is
# rebuilt from scratch, so a stale or half-made venv never survives.
want="$(sha256sum "$req" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
if [[ -x $py && -f $venv/.kdep-requirements && "$(cat "$venv/.kdep-requirements")" == "$want" ]]; then
    echo "$py"
    exit 0
fi

make_venv() { rm -rf "$venv" && python3 -m venv "$venv" >&2; }
if ! make_venv; then
    if command -v apt-get >/dev/null; then
        sudo=""
        [[ $(id -u) -eq 0 ]] || sudo="sudo"
        echo "validate setup: python3 -m venv failed; installing python3-venv" >&2
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >&2
    fi
    make_venv || { echo "validate setup: cannot create a venv with python3 -m venv" >&2; exit 2; }
fi
echo "validate setup: installing pinned validators into $venv" >&2
"$py" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2
echo "$want" >"$venv/.kdep-requirements"
echo "$py"
