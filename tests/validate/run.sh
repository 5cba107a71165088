#!/usr/bin/env bash
# Independent validation of everything kdep emits: builds every example package in every
# environment it declares (and every further set listed below) into a temporary folder, then
# checks all of it with validate.py (kubernetes-validate --strict and openapi-schema-validator,
# Kubernetes 1.35). The one list of what gets validated; .ci/run calls it.
#   usage: tests/validate/run.sh [EXTRA.yaml|DIR]...
#   env:   KDEP=path/to/kdep (default: cargo build -p kdep-cli, debug), VALIDATE_VENV (setup.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

py=$("$here/setup.sh")

if [[ -z ${KDEP:-} ]]; then
    cargo build -q --locked -p kdep-cli
    KDEP=${CARGO_TARGET_DIR:-target}/debug/kdep
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/kdep-validate.XXXXXX")
trap 'rm -rf "$out"' EXIT

# build PACKAGE_DIR OUT_NAME [ENV]: `kdep build` into $out/OUT_NAME (YAML, one file per
# object) and again as one JSON List into $out/OUT_NAME.json, since the two writers are separate
# code. A failed build fails the run (an example that does not compile is broken, not skipped).
build() {
    local pkg=$1 name=$2 env=${3:-}
    local args=(build "$pkg" --locked --color never)
    [[ -n $env ]] && args+=(--env "$env")
    mkdir -p "$(dirname "$out/$name")"
    if ! "$KDEP" "${args[@]}" -o "$out/$name" >/dev/null 2>"$out/build.log" ||
        ! "$KDEP" "${args[@]}" --format json >"$out/$name.json" 2>>"$out/build.log"; then
        cat "$out/build.log" >&2
        echo "validate: kdep ${args[*]} failed" >&2
        exit 1
    fi
    echo "built $pkg${env:+ --env $env}: $(grep '^wrote' "$out/build.log" | tail -n 1)"
}

# environments PACKAGE_DIR: the environments the package declares (`environment NAME {`);
# none is not an error (grep's exit 1 for "no match" is swallowed).
environments() {
    { find "$1" -name '*.kdep' -print0 | xargs -0 -r grep -hoE '^[[:space:]]*environment[[:space:]]+[A-Za-z_][A-Za-z0-9_-]*' || true; } |
        awk '{print $2}' | sort -u
}

# 1. Every example package (examples/ and the stdlib's examples) × every environment it
#    declares (or once without --env when it declares none). Packages that fail on purpose are
#    listed here and skipped.
skip_examples=(examples/platform-and-teams/broken stdlib/examples/broken)
for toml in $(find examples stdlib/examples -name kdep.toml | sort); do
    pkg=$(dirname "$toml")
    [[ " ${skip_examples[*]} " == *" $pkg "* ]] && continue
    envs=$(environments "$pkg")
    if [[ -z $envs ]]; then
        build "$pkg" "$pkg/no-env"
    else
        for env in $envs; do build "$pkg" "$pkg/$env" "$env"; done
    fi
done

# 2. The `kdep import manifests` round trip: the Online Boutique corpus imported into a package,
#    then built again; what kdep makes of imported manifests must be valid too.
"$KDEP" import manifests compiler/import/test_data/online-boutique/kubernetes-manifests.yaml \
    -o "$out/import/online-boutique-package" >/dev/null
# A fresh import has no kdep.lock yet; the first build writes it, the checked one is --locked.
"$KDEP" build "$out/import/online-boutique-package" >/dev/null
build "$out/import/online-boutique-package" import/online-boutique
rm -r "$out/import/online-boutique-package"

# End to end, the run must fail on a bad manifest (file reading, exit status, closing line),
# not only inside validate.py's self-test: an unknown field and a YAML 1.1 `on` that is a bool.
mkdir "$out/attack"
cat >"$out/attack/bad.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
  lables: {app: web}
data:
  FEATURE: on
YAML
if attack=$("$py" "$here/validate.py" "$out/attack"); then
    echo "$attack"
    echo "validate: a bad manifest passed validation" >&2
    exit 1
fi
if [[ $attack != *"0 passed, 1 failed"* || $attack != *"\$.metadata"* || $attack != *"\$.data.FEATURE"* ]]; then
    echo "$attack"
    echo "validate: a bad manifest was not reported as expected" >&2
    exit 1
fi
rm -r "$out/attack"

"$py" "$here/validate.py" "$out" "$@"
