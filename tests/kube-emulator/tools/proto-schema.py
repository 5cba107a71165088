#!/usr/bin/env python3
# Writes data/proto-schema.json.gz: the message layouts (field numbers, names, types) of the
# Kubernetes protobuf API types, which the emulator needs to decode protobuf request bodies
# (Debian packages no generated k8s.io/api Go types). The source is the FileDescriptorProtos
# of k8s.io/api and k8s.io/apimachinery that every Go client registers at start-up (gzip'd in
# generated.pb.go), read from a kubectl binary; field numbers never change between versions.
#   usage: tests/kube-emulator/tools/proto-schema.py [/usr/bin/kubectl]
import gzip, json, os, re, sys, zlib

KUBECTL = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/kubectl"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "proto-schema.json.gz")

def varint(b, i):
    shift = v = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7F) << shift
        if c < 0x80:
            return v, i
        shift += 7

def fields(b):
    """Yields (number, wire type, value) of one protobuf message (bytes for wire type 2)."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i); v = b[i:i + n]; i += n
        elif wt == 1:
            v = b[i:i + 8]; i += 8
        elif wt == 5:
            v = b[i:i + 4]; i += 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v

# FieldDescriptorProto.type numbers to the names the emulator's decoder switches on.
TYPES = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 8: "bool", 9: "string",
         11: "message", 12: "bytes", 13: "uint32", 17: "sint32", 18: "sint64"}

def message(prefix, b, out):
    name, flds, is_map, nested = None, [], False, []
    for num, _, v in fields(b):
        if num == 1:
            name = v.decode()
        elif num == 2:
            f = {}
            for fn, _, fv in fields(v):
                if fn == 1: f["name"] = fv.decode()
                elif fn == 3: f["number"] = fv
                elif fn == 4: f["repeated"] = fv == 3
                elif fn == 5: f["type"] = TYPES[fv]
                elif fn == 6: f["message"] = fv.decode().lstrip(".")
            flds.append(f)
        elif num == 3:
            nested.append(v)
        elif num == 7:
            for on, _, ov in fields(v):
                if on == 7 and ov:
                    is_map = True
    full = prefix + "." + name
    entry = {"fields": [[f["number"], f["name"], f["type"], f.get("repeated", False), f.get("message", "")]
                        for f in sorted(flds, key=lambda f: f["number"])]}
    if is_map:
        entry["map"] = True
    out[full] = entry
    for n in nested:
        message(full, n, out)

def main():
    data = open(KUBECTL, "rb").read()
    out, files = {}, []
    for m in re.finditer(rb"\x1f\x8b\x08\x00\x00\x00\x00\x00", data):
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[m.start():m.start() + (1 << 20)])
        except zlib.error:
            continue
        try:
            parts = list(fields(d))
        except (ValueError, IndexError):
            continue
        name = next((v for n, w, v in parts if n == 1 and w == 2), b"")
        pkg = next((v for n, w, v in parts if n == 2 and w == 2), b"").decode(errors="replace")
        if not name.endswith(b"generated.proto") or not pkg.startswith(("k8s.io.api.", "k8s.io.apimachinery.")):
            continue
        files.append(name.decode())
        for n, w, v in parts:
            if n == 4:
                message(pkg, v, out)
    if "k8s.io.api.core.v1.Pod" not in out:
        sys.exit("proto-schema: no k8s.io/api descriptors found in " + KUBECTL)
    doc = {"source": "FileDescriptorProtos embedded in " + os.path.basename(KUBECTL), "files": sorted(files),
           "messages": dict(sorted(out.items()))}
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    with gzip.GzipFile(OUT, "wb", compresslevel=9, mtime=0) as f:
        f.write(raw)
    print("proto-schema: %d messages from %d files -> %s" % (len(out), len(files), OUT))

main()
