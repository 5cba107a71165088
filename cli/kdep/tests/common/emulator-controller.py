#!/usr/bin/env python3
# Plays the deployment controller for an emulator started by hand, so the cluster tests'
# real-cluster mode (KDEP_TEST_CLUSTER) can be checked without a real cluster: the emulator
# has no controllers, and in that mode the tests must not use its hooks.
#
#   usage: emulator-controller.py KUBECONFIG [NAMESPACE]   (stops on Ctrl-C / SIGTERM)
#
# Like a real cluster: a Deployment of namespace `demo` whose status has not seen its spec
# completes its rollout (the emulator's rollout hook), unless one of its images is under
# `registry.invalid/`, which no node could pull: that one stays not ready. Before that it
# writes the `deployment.kubernetes.io/revision` annotation as `kube-controller-manager`, as
# the real controller does after a template change (here: the first one only): writes
# that are not kdep's, made while a plan may be written, which must not make it stale.
import base64
import json
import signal
import ssl
import sys
import tempfile
import time
import urllib.request

import yaml  # python3-yaml


def main() -> None:
    config = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
    namespace = sys.argv[2] if len(sys.argv) > 2 else "demo"
    cluster = config["clusters"][0]["cluster"]
    token = config["users"][0]["user"]["token"]
    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as ca:
        ca.write(base64.b64decode(cluster["certificate-authority-data"]))
    context = ssl.create_default_context(cafile=ca.name)

    def call(method: str, path: str, body: object = None, kind: str = "application/json") -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(cluster["server"] + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", kind)
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return json.load(response)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        try:
            items = call("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments")["items"]
        except OSError:
            items = []  # the namespace is being deleted and recreated between tests
        for d in items:
            status = d.get("status", {})
            if status.get("observedGeneration", 0) >= d["metadata"].get("generation", 1):
                continue
            images = [c["image"] for c in d["spec"]["template"]["spec"]["containers"]]
            if any(i.startswith("registry.invalid/") for i in images):
                continue
            name = d["metadata"]["name"]
            # Only the first revision: a Deployment's `generation` moves with its annotations
            # too (on a real server as here), so a revision per generation would never settle.
            notes = d["metadata"].get("annotations") or {}
            if "deployment.kubernetes.io/revision" not in notes:
                revision = {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "1"}}}
                try:
                    call("PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
                         "?fieldManager=kube-controller-manager", revision, "application/merge-patch+json")
                except OSError as e:
                    print(f"revision of {name}: {e}", file=sys.stderr)
            body = {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": namespace,
                    "name": d["metadata"]["name"], "outcome": "complete"}
            try:
                call("POST", "/_emulator/rollout", body)
            except OSError as e:
                print(f"rollout of {d['metadata']['name']}: {e}", file=sys.stderr)
        time.sleep(0.2)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
