#!/usr/bin/env sh
# Renders a kdep package for one environment into the folder Flux reconciles: one YAML file
# per object in deploy/<env>/ (replaced atomically; a failed build leaves it as it was). CI
# runs it after `kdep set image` and commits the result; Flux's Kustomization points at it.
#   usage: examples/ci/flux/render.sh PACKAGE ENV [OUT_ROOT]   (OUT_ROOT defaults to deploy)
set -eu
package=${1:?usage: render.sh PACKAGE ENV [OUT_ROOT]}
env=${2:?usage: render.sh PACKAGE ENV [OUT_ROOT]}
out=${3:-deploy}
mkdir -p "$out"
exec kdep --color never build "$package" --env "$env" --locked -o "$out/$env"
