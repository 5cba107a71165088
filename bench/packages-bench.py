#!/usr/bin/env python3
# Package resolution benchmark (issue 12): 20 dependencies published to a local
# docker-registry, fetched with a cold cache (`kdep mod fetch`), and the cost of resolution in a
# warm `kdep build` (the same graph through the lock and cache vs. the same packages by path).
# Needs `docker-registry` (tests/registry/setup.sh) and a release build of kdep.
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

parser = argparse.ArgumentParser()
parser.add_argument("--kdep", default="target/release/kdep")
parser.add_argument("--deps", type=int, default=20)
parser.add_argument("--runs", type=int, default=5)
args = parser.parse_args()
kdep = os.path.abspath(args.kdep)

work = tempfile.mkdtemp(prefix="kdep-pkg-bench-")
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
port = sock.getsockname()[1]
sock.close()
addr = f"127.0.0.1:{port}"
with open(f"{work}/config.yml", "w") as f:
    f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {work}/data\nhttp:\n  addr: {addr}\n")
registry = subprocess.Popen(["docker-registry", "serve", f"{work}/config.yml"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
env = dict(os.environ, KDEP_CACHE=f"{work}/cache", REGISTRY_AUTH_FILE=f"{work}/none.json", NO_COLOR="1")


def run(cwd, *argv):
    out = subprocess.run([kdep, *argv], cwd=cwd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"kdep {' '.join(argv)} failed:\n{out.stderr}")
    return out


def timed(cwd, *argv):
    start = time.perf_counter()
    run(cwd, *argv)
    return time.perf_counter() - start


try:
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.02)
    names = [f"p{i:02d}" for i in range(args.deps)]
    for name in names:
        d = f"{work}/pkgs/{name}"
        os.makedirs(d)
        with open(f"{d}/kdep.toml", "w") as f:
            f.write(f'[package]\nname = "{name}"\nversion = "1.0.0"\n')
        with open(f"{d}/web.kdep", "w") as f:
            f.write('template Web {\n    name: string\n    emit {\n        apiVersion = "v1"\n        kind = "ConfigMap"\n        metadata = { name = name }\n    }\n}\n')
        run(d, "mod", "publish", "--oci", f"{addr}/bench/{name}", "--version", "1.0.0")

    def consumer(folder, dep):
        os.makedirs(folder)
        with open(f"{folder}/kdep.toml", "w") as f:
            f.write('[package]\nname = "shop"\nversion = "0.1.0"\n[dependencies]\n')
            for name in names:
                f.write(f"{name} = {dep(name)}\n")
        with open(f"{folder}/app.kdep", "w") as f:
            f.write("import p00.web\n\napp a = web.Web {\n    name = \"a\"\n}\n")

    consumer(f"{work}/remote", lambda n: f'{{ oci = "{addr}/bench/{n}", version = "^1" }}')
    consumer(f"{work}/local", lambda n: f'{{ path = "../pkgs/{n}" }}')

    cold = []
    for _ in range(args.runs):
        shutil.rmtree(f"{work}/cache", ignore_errors=True)
        lock = f"{work}/remote/kdep.lock"
        if os.path.exists(lock):
            os.remove(lock)
        cold.append(timed(f"{work}/remote", "mod", "fetch"))
    run(f"{work}/local", "build")
    # Alternating runs, so load from other processes falls on both sides alike.
    warm_remote, warm_local = [], []
    for _ in range(args.runs * 4):
        warm_remote.append(timed(f"{work}/remote", "build", "--offline", "--locked"))
        warm_local.append(timed(f"{work}/local", "build", "--locked"))
    med = statistics.median
    print(f"{args.deps} dependencies, cold cache (resolve + fetch + lock): median {med(cold):.3f} s, max {max(cold):.3f} s")
    print(f"warm build through lock and cache: median {med(warm_remote) * 1000:.1f} ms")
    print(f"warm build of the same packages by path: median {med(warm_local) * 1000:.1f} ms")
    if os.environ.get("KDEP_BENCH_KEEP"):
        print(f"kept {work}")
    print(f"resolution cost of a warm build: {(med(warm_remote) - med(warm_local)) * 1000:.1f} ms")
finally:
    registry.kill()
    registry.wait()
    shutil.rmtree(work, ignore_errors=True)
