#!/usr/bin/env python3
# Times `kdep build` on the WebService × N benchmark workload and checks that time grows linearly.
#
# The workload is the one of the peer benchmark (one constrained `WebService` template, N app
# instances, 3·N objects); this script generates it itself so the repository does not depend on
# the shared benchmark folder. Each package is:
#
#     DIR/kdep.toml
#     DIR/platform/webservice.kdep     the base template (TEMPLATE below)
#     DIR/services/svc_0001.kdep ...   one `app` per instance (instances() below)
#
# Usage (from the repository root, after `cargo build --release -p kdep-cli`):
#
#     bench/build-bench.py                          # N = 100, 1000, 5000; 5 timed runs each
#     bench/build-bench.py --sizes 10,100 --runs 3
#     bench/build-bench.py --kdep path/to/kdep --work /tmp/somewhere --keep
#     bench/build-bench.py --generate-only --sizes 1000   # just write the workload
#     bench/build-bench.py --strict                 # exit 1 if growth is not linear
#     bench/build-bench.py --sizes 5000 --variants untyped,typed   # typed emission side by side
#
# Each run executes `/usr/bin/time -f '%e %M' kdep build DIR > out.yaml` and records the wall
# time (GNU time's elapsed seconds, start-up included) and peak RSS (KiB, largest process).
# The first run of each size is an untimed warm-up that also verifies the output: exit status 0
# and exactly 3·N YAML documents (Deployment, Service and ConfigMap per instance). The table
# shows the median, minimum and maximum of the timed runs.
#
# Linearity: between consecutive sizes the median time may grow at most SLACK times faster than
# N (a constant start-up cost only makes small sizes look slower per object, never faster).
# If GNU time is missing it is installed with `apt-get install -y time` when running as root.
# Exit status: 0 success, 1 a build failed, its output was wrong or (with --strict) growth was
# superlinear, 2 usage or environment problem.

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Allowed factor between the growth of the median time and the growth of N.
SLACK = 1.5

TEMPLATE = """\
// Base template "WebService" for the peer benchmark workload.

let tiers = {
    small  = { requests = { cpu = "100m", memory = "128Mi" }, limits = { cpu = "250m", memory = "256Mi" } }
    medium = { requests = { cpu = "250m", memory = "256Mi" }, limits = { cpu = "500m", memory = "512Mi" } }
    large  = { requests = { cpu = "500m", memory = "512Mi" }, limits = { cpu = "1000m", memory = "1Gi" } }
}

let baseEnv = { LOG_LEVEL = "info", TZ = "UTC" }

/// Stateless web service: three objects per instance.
template WebService {
    name: string(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/)
    image: string(/^.+$/)
    replicas: int(1..20) = 2
    tier: "small" | "medium" | "large" = "small"
    port: int(1..65535) = 8080
    env: {string: string} = {}
    cpuRequest: string = tiers[tier].requests.cpu
    memoryRequest: string = tiers[tier].requests.memory
    cpuLimit: string = tiers[tier].limits.cpu
    memoryLimit: string = tiers[tier].limits.memory

    let labels = {
        "app.kubernetes.io/name" = name
        "app.kubernetes.io/managed-by" = "kdep"
        tier = tier
    }
    let selector = { "app.kubernetes.io/name" = name }

    emit {
        apiVersion = "apps/v1"
        kind = "Deployment"
        metadata = { name = "${name}-app", labels = labels }
        spec = {
            replicas = replicas
            selector.matchLabels = selector
            template = {
                metadata.labels = labels
                spec = {
                    securityContext = { runAsNonRoot = true, seccompProfile = { type = "RuntimeDefault" } }
                    containers = [{
                        name = "app"
                        image = image
                        ports = [{ name = "http", containerPort = port, protocol = "TCP" }]
                        envFrom = [{ configMapRef = { name = "${name}-env" } }]
                        resources = {
                            requests = { cpu = cpuRequest, memory = memoryRequest }
                            limits = { cpu = cpuLimit, memory = memoryLimit }
                        }
                        readinessProbe = { httpGet = { path = "/healthz", port = "http" }, periodSeconds = 10 }
                        livenessProbe = {
                            httpGet = { path = "/livez", port = "http" }
                            initialDelaySeconds = 10
                            periodSeconds = 20
                        }
                        securityContext = {
                            runAsNonRoot = true
                            readOnlyRootFilesystem = true
                            allowPrivilegeEscalation = false
                            capabilities = { drop = ["ALL"] }
                        }
                    }]
                }
            }
        }
    }

    emit {
        apiVersion = "v1"
        kind = "Service"
        metadata = { name = "${name}-app", labels = labels }
        spec = {
            selector = selector
            ports = [{ name = "http", port = 80, targetPort = "http", protocol = "TCP" }]
        }
    }

    emit {
        apiVersion = "v1"
        kind = "ConfigMap"
        metadata = { name = "${name}-env", labels = labels }
        data = baseEnv + env
    }
}
"""

# The same template with typed emits (issue 7): the objects are instances of the generated
# Kubernetes schemas, so apiVersion and kind come from the schema and every field is checked.
TYPED_TEMPLATE = (
    TEMPLATE.replace(
        '// Base template "WebService" for the peer benchmark workload.\n',
        '// Base template "WebService" for the peer benchmark workload, typed emits.\n'
        "import k8s.apps.v1 as apps\nimport k8s.core.v1 as core\n",
    )
    .replace('emit {\n        apiVersion = "apps/v1"\n        kind = "Deployment"\n', "emit apps.Deployment {\n")
    .replace('emit {\n        apiVersion = "v1"\n        kind = "Service"\n', "emit core.Service {\n")
    .replace('emit {\n        apiVersion = "v1"\n        kind = "ConfigMap"\n', "emit core.ConfigMap {\n")
)
assert TYPED_TEMPLATE.count("emit apps.") == 1 and TYPED_TEMPLATE.count("emit core.") == 2

VARIANTS = {"untyped": TEMPLATE, "typed": TYPED_TEMPLATE}

MANIFEST = """\
[package]
name = "bench"
version = "0.1.0"
"""

TIER_NAMES = ["small", "medium", "large"]


def instances(n):
    """The N operator instantiations: only the fields an operator sets, in the order the
    peer benchmark's workload writes them (absent fields take the template default)."""
    out = []
    for i in range(1, n + 1):
        name = f"svc-{i:04d}"
        inst = {
            "name": name,
            "image": f"registry.example.com/team{i % 7}/{name}:1.{i % 10}.{i % 13}",
            "env": {
                "SERVICE_NAME": name,
                "DB_HOST": f"db-{i % 5}.internal",
                "CACHE_TTL": str(60 * (1 + i % 4)),
            },
        }
        tier = TIER_NAMES[i % 3]
        if tier != "small":
            inst["tier"] = tier
        if i % 2 == 0:
            inst["env"]["LOG_LEVEL"] = "debug"
        if i % 4 == 0:
            inst["replicas"] = (i % 20) + 1
        if i % 10 == 0:
            inst["port"] = 9090
        if i % 5 == 0:
            inst["memoryLimit"] = "768Mi"
        out.append(inst)
    return out


def kdep_string(s):
    """A kdep string literal; the workload's values are plain ASCII without `\\` or `$`."""
    assert isinstance(s, str) and "\\" not in s and "$" not in s
    return json.dumps(s)


def app_module(inst):
    ident = inst["name"].replace("-", "_")
    lines = ["import platform.webservice as ws", "", f"app {ident} = ws.WebService {{"]
    for key, value in inst.items():
        if key == "env":
            body = ", ".join(f"{k} = {kdep_string(v)}" for k, v in value.items())
            lines.append(f"    env = {{ {body} }}")
        elif isinstance(value, str):
            lines.append(f"    {key} = {kdep_string(value)}")
        else:
            lines.append(f"    {key} = {json.dumps(value)}")
    lines.append("}")
    return ident, "\n".join(lines) + "\n"


def generate(n, outdir, variant="untyped"):
    """Writes the package for N instances (template `variant`) into an empty `outdir`."""
    (outdir / "platform").mkdir(parents=True)
    (outdir / "services").mkdir()
    (outdir / "kdep.toml").write_text(MANIFEST)
    (outdir / "platform" / "webservice.kdep").write_text(VARIANTS[variant])
    for inst in instances(n):
        ident, text = app_module(inst)
        (outdir / "services" / f"{ident}.kdep").write_text(text)


def ensure_gnu_time():
    if Path("/usr/bin/time").exists():
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing GNU time (Debian package `time`)...", file=sys.stderr)
        res = subprocess.run(["apt-get", "install", "-y", "-q", "time"], stdout=subprocess.DEVNULL)
        if res.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], stdout=subprocess.DEVNULL)
            subprocess.run(["apt-get", "install", "-y", "-q", "time"], stdout=subprocess.DEVNULL)
    if Path("/usr/bin/time").exists():
        return True
    print("error: /usr/bin/time (GNU time) is missing; install it with `apt-get install time`", file=sys.stderr)
    return False


def run_once(kdep, pkg, out_path):
    """Runs one build; returns (exit status, wall seconds, peak RSS KiB, stderr text)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf, open(out_path, "wb") as out:
        res = subprocess.run(
            ["/usr/bin/time", "-o", tf.name, "-f", "%e %M", str(kdep), "build", str(pkg)],
            stdout=out,
            stderr=subprocess.PIPE,
        )
        fields = tf.read().split()
    # GNU time writes "Command exited with non-zero status N" before the format line on failure.
    try:
        wall, rss = float(fields[-2]), int(fields[-1])
    except (IndexError, ValueError):
        wall, rss = float("nan"), 0
    return res.returncode, wall, rss, res.stderr.decode("utf-8", "replace")


def count_documents(path):
    """YAML documents in a kdep stream: non-empty text between `---` separator lines."""
    docs, current = 0, False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.rstrip("\n") == "---":
                docs += current
                current = False
            elif line.strip():
                current = True
    return docs + current


def main():
    ap = argparse.ArgumentParser(description=__doc__ or "kdep build benchmark")
    ap.add_argument("--kdep", default="target/release/kdep", help="the kdep binary [target/release/kdep]")
    ap.add_argument("--sizes", default="100,1000,5000", help="comma-separated instance counts [100,1000,5000]")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per size after one warm-up [5]")
    ap.add_argument("--work", default=None, help="where workloads go [a new folder under /tmp]")
    ap.add_argument("--keep", action="store_true", help="keep the generated workloads and outputs")
    ap.add_argument("--generate-only", action="store_true", help="write the workloads and stop")
    ap.add_argument("--strict", action="store_true", help="exit 1 when growth is superlinear")
    ap.add_argument(
        "--variants",
        default="untyped",
        help="template variants, comma-separated: untyped (emit { apiVersion, kind, ... }), "
        "typed (emit apps.Deployment { ... }); each size runs every variant in turn [untyped]",
    )
    args = ap.parse_args()

    try:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        print(f"error: --sizes must be comma-separated integers, got {args.sizes!r}", file=sys.stderr)
        return 2
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if not variants or unknown:
        print(f"error: --variants takes {', '.join(VARIANTS)}, got {args.variants!r}", file=sys.stderr)
        return 2
    if not sizes or sizes[0] < 1 or args.runs < 1:
        print("error: sizes and --runs must be positive", file=sys.stderr)
        return 2

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kdep-build-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    packages = {}
    for n in sizes:
        for variant in variants:
            pkg = work / (f"n{n}" if variant == "untyped" else f"n{n}-{variant}")
            if pkg.exists():
                shutil.rmtree(pkg)
            generate(n, pkg, variant)
            packages[(n, variant)] = pkg
    if args.generate_only:
        for (n, variant), pkg in packages.items():
            print(f"N={n} {variant}: {pkg}")
        return 0

    kdep = Path(args.kdep).resolve()
    if not kdep.is_file() or not os.access(kdep, os.X_OK):
        print(f"error: {kdep} is not an executable; build it with `cargo build --release -p kdep-cli`", file=sys.stderr)
        return 2
    if not ensure_gnu_time():
        return 2

    rows = []
    failed = False
    for (n, variant), pkg in packages.items():
        out = pkg.with_suffix(".yaml")
        status, wall, rss, err = run_once(kdep, pkg, out)
        docs = count_documents(out) if status == 0 else 0
        if status != 0 or docs != 3 * n:
            failed = True
            print(f"N={n} {variant}: build failed (exit {status}, {docs} documents, want {3 * n})", file=sys.stderr)
            print("\n".join(err.splitlines()[:40]), file=sys.stderr)
            continue
        walls, rsss = [], []
        for _ in range(args.runs):
            status, wall, rss, err = run_once(kdep, pkg, out)
            if status != 0:
                failed = True
                print(f"N={n} {variant}: a timed run failed (exit {status})", file=sys.stderr)
                break
            walls.append(wall)
            rsss.append(rss)
        if walls:
            rows.append((n, variant, statistics.median(walls), min(walls), max(walls), max(rsss)))

    print(f"kdep build, WebService x N ({args.runs} timed runs after 1 warm-up; {kdep})")
    print()
    print("| N | variant | objects | median s | min s | max s | peak RSS MiB | µs/object |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for n, variant, med, lo, hi, rss in rows:
        per_object = med / (3 * n) * 1e6
        print(f"| {n} | {variant} | {3 * n} | {med:.3f} | {lo:.3f} | {hi:.3f} | {rss / 1024:.1f} | {per_object:.1f} |")
    print()

    # Typed emission's cost: the typed median over the untyped one at the same N.
    medians = {(n, v): med for n, v, med, *_ in rows}
    for n in sizes:
        if (n, "untyped") in medians and (n, "typed") in medians:
            ratio = medians[(n, "typed")] / max(medians[(n, "untyped")], 0.01)
            print(f"N={n}: typed / untyped median time x{ratio:.2f} ({(ratio - 1) * 100:+.0f}%)")

    superlinear = False
    for variant in variants:
        series = [(n, med) for n, v, med, *_ in rows if v == variant]
        for (n1, t1), (n2, t2) in zip(series, series[1:]):
            superlinear |= report_growth(variant, n1, t1, n2, t2)
    if len(rows) < 2:
        print("linearity: needs at least two successful sizes")
    return finish(args, work, failed, superlinear)


def report_growth(variant, n1, t1, n2, t2):
    """Prints one linearity verdict; true when growth was superlinear."""
    # GNU time reports 10 ms resolution; treat anything under it as that.
    t1, t2 = max(t1, 0.01), max(t2, 0.01)
    growth, allowed = t2 / t1, SLACK * n2 / n1
    verdict = "ok" if growth <= allowed else "SUPERLINEAR"
    print(f"{variant} N {n1} -> {n2}: time x{growth:.2f} (N x{n2 / n1:.0f}, allowed x{allowed:.1f}) {verdict}")
    return growth > allowed


def finish(args, work, failed, superlinear):
    """Cleans up and returns the exit status."""
    if not args.keep and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    elif args.keep or args.work:
        print(f"workloads and outputs kept in {work}")
    if failed:
        return 1
    if superlinear and args.strict:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
