#!/usr/bin/env python3
# Benchmark of `kdep lsp`: a generated 1,000-module workspace, 200 keystroke edits in one instance file; p95 latencies, first analysis, RSS.
"""Usage: cargo build --release -p kdep-cli && python3 bench/lsp/bench.py [--kdep target/release/kdep]

Generates a package of 100 template modules and 900 instance modules (each importing a
template module and declaring one app), starts `kdep lsp`, opens one instance file, then
types 200 keystrokes into it (full-text didChange, as editors send). After each keystroke it
waits for the diagnostics of that file; after every keystroke it also asks for a hover and a
completion. Prints the first analysis time, p50/p95 of each latency, and the server's resident
memory (VmRSS now, VmHWM peak) read from /proc.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import queue
import time

N_TEMPLATES = 100
N_INSTANCES = 900
N_EDITS = 200


def generate(root):
    os.makedirs(os.path.join(root, "templates"))
    os.makedirs(os.path.join(root, "apps"))
    with open(os.path.join(root, "kdep.toml"), "w") as f:
        f.write('[package]\nname = "bench"\nversion = "0.1.0"\n')
    with open(os.path.join(root, "environments.kdep"), "w") as f:
        f.write('environment staging { namespace = "staging" }\nenvironment production { namespace = "prod", protected = true }\n')
    for i in range(N_TEMPLATES):
        with open(os.path.join(root, "templates", f"t{i}.kdep"), "w") as f:
            f.write(f'''/// Web service template number {i}.
template Web{i} {{
    /// Name of every object.
    name: string(/^[a-z][-a-z0-9]*$/)
    replicas: int(1..50) = 2
    size: "small" | "medium" | "large" = "small"
    locked port = 8080
    let labels = {{ app = name, tier = "t{i}" }}

    emit {{
        apiVersion = "apps/v1"
        kind = "Deployment"
        metadata = {{ name = name, labels = labels }}
        spec = {{
            replicas = replicas
            selector.matchLabels = labels
            template = {{
                metadata.labels = labels
                spec.containers = [{{ name = name, image = "registry.example.com/${{name}}:1.0", ports = [{{ containerPort = port }}] }}]
            }}
        }}
    }}
}}
''')
    for i in range(N_INSTANCES):
        t = i % N_TEMPLATES
        with open(os.path.join(root, "apps", f"a{i}.kdep"), "w") as f:
            f.write(f'''import templates.t{t}

app app{i} = t{t}.Web{t} {{
    name = "app-{i}"
    replicas = 3

    in production {{
        replicas = 5
        size = "large"
    }}
}}
''')


class Server:
    def __init__(self, kdep, cwd, cache):
        env = dict(os.environ, XDG_CACHE_HOME=cache)
        self.p = subprocess.Popen([kdep, "lsp"], cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.q = queue.Queue()
        self.id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.p.stdout
        while True:
            length = 0
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                if line.startswith(b"Content-Length:"):
                    length = int(line.split(b":")[1])
            msg = json.loads(out.read(length))
            if "method" in msg and "id" in msg:
                self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                continue
            self.q.put((time.perf_counter(), msg))

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.p.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params):
        self.id += 1
        rid = self.id
        start = time.perf_counter()
        self.send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        while True:
            t, msg = self.q.get(timeout=120)
            if msg.get("id") == rid:
                return t - start, msg

    def wait_diagnostics(self, uri, since):
        while True:
            t, msg = self.q.get(timeout=120)
            if msg.get("method") == "textDocument/publishDiagnostics" and msg["params"]["uri"] == uri:
                return t - since, msg["params"]["diagnostics"]

    def memory(self):
        out = {}
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS", "VmHWM")):
                    k, v = line.split(":")
                    out[k] = int(v.split()[0]) / 1024
        return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kdep", default="target/release/kdep")
    ap.add_argument("--long", type=int, default=0, help="then this many more edits, printing RSS every 1000 (memory stays flat)")
    args = ap.parse_args()
    kdep = os.path.abspath(args.kdep)
    tmp = tempfile.mkdtemp(prefix="kdep-lsp-bench-")
    try:
        root = os.path.realpath(os.path.join(tmp, "ws"))
        generate(root)
        srv = Server(kdep, root, os.path.join(tmp, "cache"))
        srv.request("initialize", {"processId": None, "rootUri": "file://" + root, "capabilities": {}})
        srv.notify("initialized", {})
        path = os.path.join(root, "apps", "a0.kdep")
        uri = "file://" + path
        text = open(path).read()
        start = time.perf_counter()
        srv.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "kdep", "version": 1, "text": text}})
        first, diags = srv.wait_diagnostics(uri, start)
        assert diags == [], diags

        # Keystrokes: type a new field assignment and a comment, character by character, inside
        # the app body (half-typed states have errors; the diagnostics must follow them).
        insert_at = text.index("    replicas = 3")
        typed = ('    size = "medium"\n' + "    // tuning " + "x" * 200)[:N_EDITS]
        diag_lat, hover_lat, compl_lat = [], [], []
        version = 1
        for k in range(1, N_EDITS + 1):
            version += 1
            new = text[:insert_at] + typed[:k] + "\n" + text[insert_at:]
            t0 = time.perf_counter()
            srv.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": new}]})
            d, _ = srv.wait_diagnostics(uri, t0)
            diag_lat.append(d)
            line = new[: new.index("    replicas = 3")].count("\n")
            h, r = srv.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": line, "character": 6}})
            assert "result" in r, r
            hover_lat.append(h)
            c, r = srv.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": {"line": line + 1, "character": 0}})
            assert "result" in r, r
            compl_lat.append(c)
        mem = srv.memory()
        rss_series = []
        for k in range(args.long):
            version += 1
            # Alternate between two texts that differ in a value, so every edit is real work.
            new = text.replace("replicas = 3", f"replicas = {3 + k % 2}")
            t0 = time.perf_counter()
            srv.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": new}]})
            srv.wait_diagnostics(uri, t0)
            if (k + 1) % 1000 == 0:
                rss_series.append(round(srv.memory().get("VmRSS", 0)))
        srv.request("shutdown", None)
        srv.notify("exit", None)
        srv.p.wait(timeout=30)
        print(f"workspace: {N_TEMPLATES} template modules + {N_INSTANCES} instance modules; {N_EDITS} keystrokes")
        print(f"first analysis (didOpen -> diagnostics): {first * 1000:.0f} ms")
        print(f"diagnostics after a keystroke: p50 {pct(diag_lat, 50):.1f} ms, p95 {pct(diag_lat, 95):.1f} ms")
        print(f"hover:                         p50 {pct(hover_lat, 50):.1f} ms, p95 {pct(hover_lat, 95):.1f} ms")
        print(f"completion:                    p50 {pct(compl_lat, 50):.1f} ms, p95 {pct(compl_lat, 95):.1f} ms")
        print(f"resident memory: {mem.get('VmRSS', 0):.0f} MiB now, {mem.get('VmHWM', 0):.0f} MiB peak")
        if rss_series:
            print(f"RSS (MiB) every 1000 further edits: {rss_series}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
