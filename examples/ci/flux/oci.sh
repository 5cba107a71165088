#!/usr/bin/env sh
# The OCI variant of the Flux path: render with kdep and push the folder as an OCI artifact
# that a Flux OCIRepository + Kustomization reconcile (no rendered YAML in Git).
#   usage: examples/ci/flux/oci.sh PACKAGE ENV oci://registry.example.com/shop/manifests
set -eu
package=${1:?usage: oci.sh PACKAGE ENV OCI_URL}
env=${2:?usage: oci.sh PACKAGE ENV OCI_URL}
url=${3:?usage: oci.sh PACKAGE ENV OCI_URL}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
kdep --color never build "$package" --env "$env" --locked -o "$dir/$env"
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
flux push artifact "$url:$env-$revision" --path "$dir/$env" --source "$(git remote get-url origin 2>/dev/null || echo local)" --revision "$revision"
flux tag artifact "$url:$env-$revision" --tag "$env"
