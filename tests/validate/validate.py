#!/usr/bin/env python3
# Validates Kubernetes manifests with two independent tools: kubernetes-validate --strict (1.35) and
# openapi-schema-validator against the official 1.35 OpenAPI v3 files and the bundled CRDs.
#
#   usage: validate.py [--self-test-only] PATH...   (files or folders of .yaml/.yml/.json)
#
# Every object is checked by
#   1. kubernetes-validate (strict mode, Kubernetes 1.35): its own JSON schemas, generated
#      upstream from the same API but by a different tool chain;
#   2. openapi-schema-validator (OAS 3.0, strict types and formats) against the OpenAPI v3
#      documents in tests/kube-emulator/data/openapi-v3/ (the copy the test cluster serves) and,
#      for custom resources, against the `openAPIV3Schema` of the CRDs in
#      tests/kube-emulator/data/crds/. The Kubernetes documents never say
#      `additionalProperties: false`, so this script adds it to every object schema that lists
#      `properties` and sets no `additionalProperties`, except where
#      `x-kubernetes-preserve-unknown-fields` is set: an unknown field is an error, as the API
#      server's strict field validation makes it.
# kubernetes-validate ships no CRD schemas, so custom resources of the bundled CRDs are checked
# by (2) only; an object of any other kind neither tool knows is a failure, never a skip.
#
# Before the inputs, a self-test runs both tools on embedded bad objects (unknown field, wrong
# type, missing required field, bad enum, unknown kind) and on good ones: if a tool accepts a
# bad object or rejects a good one, the run fails, so a validator that silently accepts
# everything cannot pass CI.
#
# Output: one line per failure, `FAIL file kind/name tool $.json.path: message`, then the
# closing line `N passed, N failed` (objects; an object passes when both tools accept it).
# Exit status: 0 all passed, 1 any failure (or a failed self-test), 2 usage or setup problems.

import argparse
import copy
import gzip
import json
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "kube-emulator", "data")
OPENAPI_DIR = os.path.join(DATA, "openapi-v3")
CRD_DIR = os.path.join(DATA, "crds")
K8S_VERSION = "1.35"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

TOOL_KV = "kubernetes-validate"
TOOL_OAS = "openapi-schema-validator"


class NoTimestampLoader(yaml.SafeLoader):
    """YAML loader that keeps unquoted dates as strings, as the Kubernetes YAML decoder does."""


NoTimestampLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def json_path(parts):
    out = "$"
    for p in parts:
        out += "[%d]" % p if isinstance(p, int) else "." + str(p)
    return out


# ---------------------------------------------------------------------------------------------
# Schema preparation for the OpenAPI path


def forbid_unknown_fields(node):
    """Adds `additionalProperties: false` to every object schema below `node` that lists
    `properties`, has no `additionalProperties` and does not preserve unknown fields. Walks
    schema positions only (a field *named* `properties` is not a schema keyword)."""
    if not isinstance(node, dict):
        return
    if (
        "properties" in node
        and "additionalProperties" not in node
        and node.get("x-kubernetes-preserve-unknown-fields") is not True
    ):
        node["additionalProperties"] = False
    if node.get("x-kubernetes-embedded-resource") is True and "properties" in node:
        # The API server accepts (and validates) apiVersion, kind and metadata on an embedded
        # object even where the CRD's schema does not spell them out.
        props = node["properties"]
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
    for sub in node.get("properties", {}).values():
        forbid_unknown_fields(sub)
    items = node.get("items")
    if isinstance(items, list):
        for sub in items:
            forbid_unknown_fields(sub)
    else:
        forbid_unknown_fields(items)
    forbid_unknown_fields(node.get("additionalProperties"))
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in node.get(key, []):
            forbid_unknown_fields(sub)
    forbid_unknown_fields(node.get("not"))


class Schemas:
    """The OpenAPI components of every bundled group-version plus one component per CRD
    version, all in one document so `#/components/schemas/...` references resolve."""

    def __init__(self, openapi_dir=OPENAPI_DIR, crd_dir=CRD_DIR):
        self.components = {}
        self.by_gvk = {}  # (apiVersion, kind) -> component name
        self.crd_kinds = set()  # (apiVersion, kind) of custom resources
        for name in sorted(os.listdir(openapi_dir)):
            if not name.endswith(".json.gz"):
                continue
            with gzip.open(os.path.join(openapi_dir, name), "rt", encoding="utf-8") as f:
                doc = json.load(f)
            for cname, schema in doc.get("components", {}).get("schemas", {}).items():
                # Shared types (ObjectMeta, ...) appear in every document, identically.
                self.components.setdefault(cname, schema)
                for gvk in schema.get("x-kubernetes-group-version-kind", []):
                    api = gvk["version"] if not gvk["group"] else gvk["group"] + "/" + gvk["version"]
                    self.by_gvk.setdefault((api, gvk["kind"]), cname)
        for name in sorted(os.listdir(crd_dir)):
            if not name.endswith((".yaml.gz", ".yml.gz")):
                continue
            with gzip.open(os.path.join(crd_dir, name), "rt", encoding="utf-8") as f:
                for crd in yaml.safe_load_all(f):
                    if crd:
                        self._add_crd(crd)
        for schema in self.components.values():
            forbid_unknown_fields(schema)
        self.document = {"components": {"schemas": self.components}}
        self._validators = {}

    def _add_crd(self, crd):
        spec = crd["spec"]
        kind = spec["names"]["kind"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            # The API server validates every custom resource's metadata as ObjectMeta; the CRD
            # itself only says `type: object`.
            schema.setdefault("properties", {})["metadata"] = {
                "allOf": [{"$ref": "#/components/schemas/" + OBJECT_META}]
            }
            api = spec["group"] + "/" + version["name"]
            # No "/" in the name: it is a JSON-pointer segment.
            cname = "crd.%s.%s.%s" % (spec["group"], version["name"], kind)
            self.components[cname] = schema
            self.by_gvk[(api, kind)] = cname
            self.crd_kinds.add((api, kind))

    def validator(self, api_version, kind):
        from openapi_schema_validator import OAS30StrictValidator, oas30_strict_format_checker

        cname = self.by_gvk.get((api_version, kind))
        if cname is None:
            return None
        if cname not in self._validators:
            root = dict(self.document)
            root["$ref"] = "#/components/schemas/" + cname
            self._validators[cname] = OAS30StrictValidator(
                root, format_checker=oas30_strict_format_checker
            )
        return self._validators[cname]


# ---------------------------------------------------------------------------------------------
# The two checks. Each returns a list of (json path, message); empty means accepted.


def deepest(error):
    """The most specific message of a oneOf/anyOf failure (`best_match` of its context)."""
    from jsonschema.exceptions import best_match

    if error.context:
        inner = best_match(error.context)
        if inner is not None:
            return deepest(inner)
    return error


def check_openapi(schemas, obj):
    api, kind = obj.get("apiVersion"), obj.get("kind")
    validator = schemas.validator(api, kind)
    if validator is None:
        return [("$", "no schema for apiVersion %r kind %r in the OpenAPI v3 files or CRDs" % (api, kind))]
    problems = []
    for error in validator.iter_errors(obj):
        inner = deepest(error)
        problems.append((json_path(inner.absolute_path), inner.message))
    return sorted(set(problems))


def check_kubernetes_validate(schemas, obj):
    """Returns (problems, checked): `checked` is False for a custom resource of a bundled CRD,
    for which kubernetes-validate has no schema (the OpenAPI path covers it)."""
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError

    try:
        got = kubernetes_validate.validate(obj, K8S_VERSION + ".0", strict=True)
    except kubernetes_validate.ValidationError as e:
        return [(json_path(e.absolute_path), e.message)], True
    except SchemaNotFoundError as e:
        if (obj.get("apiVersion"), obj.get("kind")) in schemas.crd_kinds:
            return [], False
        return [("$", e.message)], True
    if got != K8S_VERSION:
        # kubernetes-validate falls back to its newest schemas not newer than the request;
        # anything but 1.35 means the pinned package lacks the 1.35 schemas.
        return [("$", "validated against Kubernetes %s, not %s" % (got, K8S_VERSION))], True
    return [], True


def check_object(schemas, obj):
    """All problems of one object, as (tool, json path, message), and whether
    kubernetes-validate covered it."""
    problems = []
    if not isinstance(obj, dict) or not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        return [("yaml", "$", "not a Kubernetes object (needs string apiVersion and kind)")], True
    covered = True
    # A crash inside either tool is that tool failing the object, never a traceback that hides
    # the other results.
    try:
        kv, covered = check_kubernetes_validate(schemas, obj)
    except Exception as e:  # noqa: BLE001
        kv = [("$", "internal error: %s: %s" % (type(e).__name__, str(e)[:300]))]
    try:
        oas = check_openapi(schemas, obj)
    except Exception as e:  # noqa: BLE001
        oas = [("$", "internal error: %s: %s" % (type(e).__name__, str(e)[:300]))]
    problems += [(TOOL_KV, p, m) for p, m in kv]
    problems += [(TOOL_OAS, p, m) for p, m in oas]
    return problems, covered


def describe(obj):
    if not isinstance(obj, dict):
        return "?"
    name = (obj.get("metadata") or {}).get("name", "?") if isinstance(obj.get("metadata"), dict) else "?"
    return "%s/%s" % (obj.get("kind", "?"), name)


# ---------------------------------------------------------------------------------------------
# Self-test: each tool must reject each bad object and accept each good one.

GOOD_DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "registry.example.com/web:1.0",
                        "imagePullPolicy": "IfNotPresent",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
                    }
                ]
            },
        },
    },
}

GOOD_CERTIFICATE = {
    "apiVersion": "cert-manager.io/v1",
    "kind": "Certificate",
    "metadata": {"name": "web-tls", "namespace": "demo"},
    "spec": {
        "secretName": "web-tls",
        "dnsNames": ["web.example.com"],
        "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer"},
        "privateKey": {"algorithm": "ECDSA", "size": 256},
    },
}


GOOD_ROLLOUT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "web", "namespace": "demo"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"canary": {"maxSurge": "25%", "steps": [{"setWeight": 20}, {"pause": {"duration": "1m"}}]}},
        "template": copy.deepcopy(GOOD_DEPLOYMENT["spec"]["template"]),
    },
}

GOOD_SERVICE_MONITOR = {
    "apiVersion": "monitoring.coreos.com/v1",
    "kind": "ServiceMonitor",
    "metadata": {"name": "web", "namespace": "demo"},
    "spec": {"selector": {"matchLabels": {"app": "web"}}, "endpoints": [{"port": "http", "interval": "30s"}]},
}


def mutated(obj, edit):
    out = copy.deepcopy(obj)
    edit(out)
    return out


def _set(path, value):
    def edit(obj):
        node = obj
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _delete(path):
    def edit(obj):
        node = obj
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


CONTAINER = ["spec", "template", "spec", "containers", 0]

# (what, object, tools that must reject it, JSON path their errors must name)
SELF_TEST_BAD = [
    ("unknown field spec.replica", mutated(GOOD_DEPLOYMENT, _set(["spec", "replica"], 3)), {TOOL_KV, TOOL_OAS}, "$.spec"),
    ("unknown field in a container", mutated(GOOD_DEPLOYMENT, _set(CONTAINER + ["imagePullPolcy"], "Always")), {TOOL_KV, TOOL_OAS}, "$.spec.template.spec.containers[0]"),
    ("unknown field in metadata", mutated(GOOD_DEPLOYMENT, _set(["metadata", "lables"], {"a": "b"})), {TOOL_KV, TOOL_OAS}, "$.metadata"),
    ("wrong type (string replicas)", mutated(GOOD_DEPLOYMENT, _set(["spec", "replicas"], "two")), {TOOL_KV, TOOL_OAS}, "$.spec.replicas"),
    ("wrong type (bool label value)", mutated(GOOD_DEPLOYMENT, _set(["metadata", "labels", "on"], True)), {TOOL_KV, TOOL_OAS}, "$.metadata.labels.on"),
    ("int32 out of range", mutated(GOOD_DEPLOYMENT, _set(CONTAINER + ["ports", 0, "containerPort"], 2**40)), {TOOL_OAS}, "$.spec.template.spec.containers[0].ports[0].containerPort"),
    ("missing required container name", mutated(GOOD_DEPLOYMENT, _delete(CONTAINER + ["name"])), {TOOL_KV, TOOL_OAS}, "$.spec.template.spec.containers[0]"),
    ("missing required spec.selector", mutated(GOOD_DEPLOYMENT, _delete(["spec", "selector"])), {TOOL_KV, TOOL_OAS}, "$.spec"),
    # Kubernetes 1.35's own schemas carry no `enum` (not in the OpenAPI v3 files, nor in
    # kubernetes-validate's), so `imagePullPolicy: Sometimes` passes both tools; enums are
    # checked where a schema has them, here a CRD's.
    ("bad enum in a CRD", mutated(GOOD_CERTIFICATE, _set(["spec", "privateKey", "algorithm"], "DSA")), {TOOL_OAS}, "$.spec.privateKey.algorithm"),
    ("unknown field in a CRD", mutated(GOOD_CERTIFICATE, _set(["spec", "secretNam"], "x")), {TOOL_OAS}, "$.spec"),
    ("missing required field in a CRD", mutated(GOOD_CERTIFICATE, _delete(["spec", "issuerRef"])), {TOOL_OAS}, "$.spec"),
    ("unknown field in a CRD's metadata", mutated(GOOD_CERTIFICATE, _set(["metadata", "nam"], "x")), {TOOL_OAS}, "$.metadata"),
    ("unknown field in a CRD's pod template", mutated(GOOD_ROLLOUT, _set(CONTAINER + ["imagePullPolcy"], "Always")), {TOOL_OAS}, "$.spec.template.spec.containers[0]"),
    ("bad enum in a CRD list item", mutated(GOOD_SERVICE_MONITOR, _set(["spec", "endpoints", 0, "scheme"], "gopher")), {TOOL_OAS}, "$.spec.endpoints[0].scheme"),
    ("unknown kind", {"apiVersion": "apps/v1", "kind": "Deploymint", "metadata": {"name": "x"}}, {TOOL_KV, TOOL_OAS}, "$"),
]

SELF_TEST_GOOD = [
    ("Deployment", GOOD_DEPLOYMENT),
    ("Certificate (CRD)", GOOD_CERTIFICATE),
    ("Rollout (CRD)", GOOD_ROLLOUT),
    ("ServiceMonitor (CRD)", GOOD_SERVICE_MONITOR),
    (
        "Service with a named targetPort (int-or-string)",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    ),
]


def self_test(schemas):
    """Returns a list of complaint lines; empty when both tools behave."""
    complaints = []
    for what, obj, rejecters, path in SELF_TEST_BAD:
        problems, _ = check_object(schemas, obj)
        by_tool = {}
        for tool, at, _msg in problems:
            by_tool.setdefault(tool, []).append(at)
        for tool in sorted(rejecters):
            if tool not in by_tool:
                complaints.append("self-test: %s accepted a bad object (%s)" % (tool, what))
            elif path not in by_tool[tool]:
                complaints.append("self-test: %s rejected %s at %s, expected %s" % (tool, what, by_tool[tool], path))
    for what, obj in SELF_TEST_GOOD:
        problems, _ = check_object(schemas, obj)
        for tool, path, msg in problems:
            complaints.append("self-test: %s rejected a good %s: %s: %s" % (tool, what, path, msg))
    return complaints


# ---------------------------------------------------------------------------------------------
# Inputs


def input_files(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames.sort()
                for name in sorted(filenames):
                    if name.endswith((".yaml", ".yml", ".json")):
                        files.append(os.path.join(dirpath, name))
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(path)
    return files


def load_objects(path):
    """The objects of one file: a YAML stream or a JSON document (object, array or List).
    None for a file with no document at all (a List with no items is a valid empty answer)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        docs = [json.loads(text)]
    else:
        docs = list(yaml.load_all(text, Loader=NoTimestampLoader))
    docs = [doc for doc in docs if doc is not None]
    if not docs:
        return None
    out = []
    for doc in docs:
        if isinstance(doc, list):
            out.extend(doc)
        elif isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out.extend(doc["items"])
        else:
            out.append(doc)
    return out


def main(argv):
    parser = argparse.ArgumentParser(description="Validate Kubernetes manifests with two independent tools.")
    parser.add_argument("paths", nargs="*", help="YAML/JSON files or folders")
    parser.add_argument("--self-test-only", action="store_true", help="run only the self-test")
    args = parser.parse_args(argv)
    if not args.paths and not args.self_test_only:
        parser.error("no input: give files or folders (or --self-test-only)")

    schemas = Schemas()
    complaints = self_test(schemas)
    for line in complaints:
        print("FAIL " + line)
    if complaints:
        print("self-test failed: the validators do not reject what they must; inputs not checked")
        print("0 passed, %d failed" % len(complaints))
        return 1
    print("self-test: %d bad objects rejected, %d good accepted" % (len(SELF_TEST_BAD), len(SELF_TEST_GOOD)))
    if args.self_test_only:
        return 0

    try:
        files = input_files(args.paths)
    except FileNotFoundError as e:
        print("validate: no such file or folder: %s" % e, file=sys.stderr)
        return 2
    passed = failed = objects_seen = crd_only = 0
    for path in files:
        try:
            objects = load_objects(path)
        except (yaml.YAMLError, ValueError) as e:
            print("FAIL %s - yaml $: cannot parse: %s" % (path, str(e).replace("\n", " ")))
            failed += 1
            continue
        if objects is None:
            print("FAIL %s - yaml $: empty file, no Kubernetes object in it" % path)
            failed += 1
            continue
        for obj in objects:
            problems, covered = check_object(schemas, obj)
            objects_seen += 1
            crd_only += 0 if covered else 1
            for tool, jpath, msg in problems:
                print("FAIL %s %s %s %s: %s" % (path, describe(obj), tool, jpath, msg.replace("\n", " ")))
            if problems:
                failed += 1
            else:
                passed += 1
    print(
        "%d files; %d objects checked by both tools, %d custom resources by %s only (%s ships no CRD schemas)"
        % (len(files), objects_seen - crd_only, crd_only, TOOL_OAS, TOOL_KV)
    )
    if objects_seen == 0:
        print("no objects found in %s" % " ".join(args.paths))
        failed = 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
