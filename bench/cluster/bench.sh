#!/usr/bin/env bash
# bench/cluster/bench.sh — times kdep diff / apply / drift / no-op re-apply of N objects (default 1000)
# against the API-server emulator, and `kubectl diff --server-side` on the same objects when
# kubectl is installed. Not a test: numbers go to the report and docs/clusters.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${N:-1000}
runs=${RUNS:-3}
work=$(mktemp -d)
emu_pid=
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# KDEP=/path/to/kdep times that binary (e.g. an older build, for before/after numbers).
if [ -n "${KDEP:-}" ]; then
  kdep=$KDEP
else
  cargo build --release -q -p kdep-cli --manifest-path "$root/Cargo.toml"
  kdep="$root/target/release/kdep"
fi
bash "$root/tests/kube-emulator/build.sh" >/dev/null
"$root/tests/kube-emulator/bin/kube-emulator" --kubeconfig "$work/kc" >"$work/emu.out" 2>"$work/emu.err" &
emu_pid=$!
for _ in $(seq 100); do grep -q ready "$work/emu.out" 2>/dev/null && break; sleep 0.1; done
export KUBECONFIG="$work/kc"

# The package: N/2 ConfigMaps and N/2 Deployments in namespace `bench`.
pkg="$work/pkg"
mkdir -p "$pkg"
printf '[package]\nname = "bench"\nversion = "0.1.0"\n' >"$pkg/kdep.toml"
echo 'environment bench { namespace = "bench" }' >"$pkg/environments.kdep"
{
  cat <<'KDEP'
template Config {
    name: string
    emit { apiVersion = "v1", kind = "ConfigMap", metadata = { name = name }, data = { key = name } }
}
template Web {
    name: string
    emit {
        apiVersion = "apps/v1"
        kind = "Deployment"
        metadata = { name = name, labels = { app = name } }
        spec.replicas = 2
        spec.selector.matchLabels = { app = name }
        spec.template.metadata.labels = { app = name }
        spec.template.spec.containers = [{ name = "app", image = "nginx:1.27", resources.requests.cpu = "100m" }]
    }
}
KDEP
  for i in $(seq 1 $((n / 2))); do
    echo "app c$i = Config { name = \"c$i\" }"
    echo "app w$i = Web { name = \"w$i\" }"
  done
} >"$pkg/apps.kdep"
kubectl_ok=false
command -v kubectl >/dev/null && kubectl_ok=true
kubectl create namespace bench >/dev/null 2>&1 || kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: bench}
YAML

now() { date +%s.%N; }
# CPU seconds (user + system) the emulator has used so far: on a shared machine the wall time
# depends on the load, the CPU split says whether the client or the server is the cost.
emu_cpu() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$emu_pid/stat"; }
# time_cmd LABEL EXPECTED_EXIT CMD...: prints the wall time of one run, then the CPU seconds
# of the command (user+sys) and of the emulator during it.
time_cmd() {
  local label=$1 want=$2; shift 2
  local t0 t1 e0 e1 rc=0
  e0=$(emu_cpu); t0=$(now)
  /usr/bin/time -f "%U %S" -o "$work/cpu" "$@" >/dev/null 2>"$work/err" || rc=$?
  t1=$(now); e1=$(emu_cpu)
  if [ "$rc" != "$want" ]; then echo "$label: exit $rc, expected $want" >&2; cat "$work/err" >&2; exit 1; fi
  printf '%.2f s  (cpu: client %.2f s, emulator %.2f s)' "$(echo "$t1 - $t0" | bc)" \
    "$(tail -n1 "$work/cpu" | awk '{print $1 + $2}')" "$(echo "$e1 - $e0" | bc)"
}

echo "objects: $n (release build, emulator on 127.0.0.1, $(nproc) cores)"
echo "kdep diff (all to create): $(time_cmd diff-create 1 "$kdep" diff "$pkg" --env bench)"
echo "kdep apply (create):       $(time_cmd apply 0 "$kdep" apply "$pkg" --env bench --wait=false)"
for r in $(seq "$runs"); do
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "kdep diff (no change) #$r:  $(time_cmd diff 0 "$kdep" diff "$pkg" --env bench)"
  echo "kdep drift (in sync) #$r:   $(time_cmd drift 0 "$kdep" drift "$pkg" --env bench)"
  echo "kdep apply (no-op) #$r:     $(time_cmd noop 0 "$kdep" apply "$pkg" --env bench --wait=false)"
done
if $kubectl_ok; then
  "$kdep" build "$pkg" --env bench >"$work/all.yaml"
  for r in $(seq "$runs"); do
    # kubectl diff exits 1 when there are differences (our set label is not in the built YAML).
    t=$(time_cmd kubectl-diff 1 kubectl diff --server-side --field-manager kdep -f "$work/all.yaml")
    echo "kubectl diff --server-side #$r: $t"
  done
fi
