// file: proto.go — protobuf request bodies (Content-Type application/vnd.kubernetes.protobuf),
// which typed kubectl subcommands (`kubectl create namespace|deployment|configmap|secret ...`,
// `kubectl auth can-i`) send for built-in kinds.
//
// The wire format is the apimachinery protobuf serializer's: the magic prefix "k8s\x00", then
// a runtime.Unknown {typeMeta{apiVersion, kind}, raw, contentEncoding, contentType} whose raw
// bytes are the object's message. Debian has no generated k8s.io/api Go types, so the message
// is decoded generically from the message layouts in data/proto-schema.json.gz (see
// tools/proto-schema.py) into the same map a JSON body gives, then handled like JSON.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// protoMagic prefixes every Kubernetes protobuf body.
var protoMagic = []byte("k8s\x00")

// protoField is one field of a message layout: [number, name, type, repeated, message type].
type protoField struct {
	num      int
	name     string
	typ      string
	repeated bool
	msg      string
}

type protoMessage struct {
	fields map[int]protoField
	isMap  bool
}

// protoSchema maps full message names (k8s.io.api.core.v1.Pod) to their layouts.
type protoSchema map[string]*protoMessage

func loadProtoSchema(dataDir string) (protoSchema, error) {
	f, err := os.Open(filepath.Join(dataDir, "proto-schema.json.gz"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Messages map[string]struct {
			Fields [][]interface{} `json:"fields"`
			Map    bool            `json:"map"`
		} `json:"messages"`
	}
	if err := json.NewDecoder(zr).Decode(&doc); err != nil {
		return nil, fmt.Errorf("proto-schema.json.gz: %v", err)
	}
	out := protoSchema{}
	for name, m := range doc.Messages {
		pm := &protoMessage{fields: map[int]protoField{}, isMap: m.Map}
		for _, f := range m.Fields {
			if len(f) != 5 {
				return nil, fmt.Errorf("proto-schema.json.gz: %s: bad field %v", name, f)
			}
			num, _ := f[0].(float64)
			fname, _ := f[1].(string)
			typ, _ := f[2].(string)
			rep, _ := f[3].(bool)
			msg, _ := f[4].(string)
			pm.fields[int(num)] = protoField{int(num), fname, typ, rep, msg}
		}
		out[name] = pm
	}
	return out, nil
}

// protoMessageName is the protobuf message of an OpenAPI definition name:
// io.k8s.api.apps.v1.Deployment -> k8s.io.api.apps.v1.Deployment.
func protoMessageName(openAPIName string) string {
	if strings.HasPrefix(openAPIName, "io.k8s.") {
		return "k8s.io." + strings.TrimPrefix(openAPIName, "io.k8s.")
	}
	return openAPIName
}

// openAPIName is the inverse of protoMessageName.
func openAPIName(protoName string) string {
	if strings.HasPrefix(protoName, "k8s.io.") {
		return "io.k8s." + strings.TrimPrefix(protoName, "k8s.io.")
	}
	return protoName
}

// decodeProtobufBody decodes an enveloped protobuf object into the JSON-shaped map.
func (reg *Registry) decodeProtobufBody(raw []byte) (map[string]interface{}, error) {
	if !bytes.HasPrefix(raw, protoMagic) {
		return nil, errBadRequest(fmt.Sprintf("provided data does not appear to be a protobuf message, expected prefix %v", protoMagic))
	}
	var apiVersion, kind, encoding string
	var inner []byte
	err := walkProto(raw[len(protoMagic):], func(num int, wt int, v uint64, b []byte) error {
		switch num {
		case 1:
			return walkProto(b, func(num int, _ int, _ uint64, b []byte) error {
				switch num {
				case 1:
					apiVersion = string(b)
				case 2:
					kind = string(b)
				}
				return nil
			})
		case 2:
			inner = b
		case 3:
			encoding = string(b)
		}
		return nil
	})
	if err != nil {
		return nil, errBadRequest("invalid protobuf envelope: " + err.Error())
	}
	if encoding != "" {
		return nil, errUnsupportedMediaType("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
	}
	r := reg.byKind(apiVersion, kind)
	if r == nil {
		return nil, errBadRequest(fmt.Sprintf("no kind %q is registered for version %q", kind, apiVersion))
	}
	msg := reg.proto[protoMessageName(r.SchemaName)]
	if msg == nil {
		// Custom resources have no protobuf form upstream either.
		return nil, errUnsupportedMediaType("application/json", "application/yaml")
	}
	obj, err := reg.decodeProto(protoMessageName(r.SchemaName), msg, inner, 0)
	if err != nil {
		return nil, errBadRequest(fmt.Sprintf("failed to decode %s %s from protobuf: %v", apiVersion, kind, err))
	}
	obj["apiVersion"], obj["kind"] = apiVersion, kind
	return obj, nil
}

// walkProto calls fn for every field of one message: varints and fixed values in v,
// length-delimited values in b.
func walkProto(b []byte, fn func(num int, wt int, v uint64, b []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return fmt.Errorf("bad field key")
		}
		b = b[n:]
		num, wt := int(key>>3), int(key&7)
		var v uint64
		var val []byte
		switch wt {
		case 0:
			v, n = binary.Uvarint(b)
			if n <= 0 {
				return fmt.Errorf("bad varint in field %d", num)
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return fmt.Errorf("truncated field %d", num)
			}
			v, b = binary.LittleEndian.Uint64(b), b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return fmt.Errorf("truncated field %d", num)
			}
			val, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return fmt.Errorf("truncated field %d", num)
			}
			v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		default:
			return fmt.Errorf("unsupported wire type %d in field %d", wt, num)
		}
		if err := fn(num, wt, v, val); err != nil {
			return err
		}
	}
	return nil
}

// keepZero names the pointer fields (*int32, *bool, ...) of the API whose zero value means
// something: the generated marshallers write every non-pointer scalar even when zero, which
// JSON's omitempty would leave out, so zero scalars are dropped except for these.
var keepZero = map[string]bool{
	"replicas": true, "parallelism": true, "completions": true, "backoffLimit": true, "activeDeadlineSeconds": true,
	"terminationGracePeriodSeconds": true, "ttlSecondsAfterFinished": true, "revisionHistoryLimit": true,
	"progressDeadlineSeconds": true, "suspend": true, "automountServiceAccountToken": true,
	"readOnlyRootFilesystem": true, "runAsNonRoot": true, "privileged": true, "allowPrivilegeEscalation": true,
	"runAsUser": true, "runAsGroup": true, "fsGroup": true, "immutable": true, "optional": true, "defaultMode": true,
	"minReplicas": true, "startingDeadlineSeconds": true, "successfulJobsHistoryLimit": true, "failedJobsHistoryLimit": true,
	"enableServiceLinks": true, "shareProcessNamespace": true, "hostUsers": true,
}

const maxProtoDepth = 64

// decode turns one message into a map, following the JSON conventions of the API types:
// Time/MicroTime as RFC 3339 strings, IntOrString as a number or string, Quantity as its
// string, RawExtension/FieldsV1 as the JSON they carry, bytes as base64, maps as objects.
func (reg *Registry) decodeProto(name string, m *protoMessage, b []byte, depth int) (map[string]interface{}, error) {
	ps := reg.proto
	// Embedded Go structs marked `json:",inline"` (Volume.volumeSource, Probe.handler,
	// IngressRule.ingressRuleValue, ...) are fields in protobuf but inlined in JSON: a message
	// field the OpenAPI schema of its parent does not list is one of them.
	var props map[string]*v3Schema
	if sc := reg.schema(openAPIName(name)); sc != nil {
		props = sc.Properties
	}
	if depth > maxProtoDepth {
		return nil, fmt.Errorf("nested too deeply")
	}
	out := map[string]interface{}{}
	err := walkProto(b, func(num int, wt int, v uint64, val []byte) error {
		f, ok := m.fields[num]
		if !ok {
			return nil // a field newer than the schema: ignored, as an old client would
		}
		var value interface{}
		var err error
		if f.typ == "message" {
			if wt != 2 {
				return fmt.Errorf("%s: wire type %d for a message", f.name, wt)
			}
			sub := ps[f.msg]
			if sub == nil {
				return fmt.Errorf("%s: unknown message %s", f.name, f.msg)
			}
			if sub.isMap {
				entry, err := reg.decodeProto(f.msg, sub, val, depth+1)
				if err != nil {
					return err
				}
				mp, _ := out[f.name].(map[string]interface{})
				if mp == nil {
					mp = map[string]interface{}{}
					out[f.name] = mp
				}
				k, _ := entry["key"].(string)
				if v, ok := entry["value"]; ok {
					mp[k] = v
				} else {
					mp[k] = zeroOf(sub.fields[2])
				}
				return nil
			}
			value, err = reg.special(f.msg, sub, val, depth)
			if err == nil && value == nil {
				return nil // a zero Time is null in JSON: left out
			}
			if _, listed := props[f.name]; err == nil && props != nil && !listed && !f.repeated {
				if inline, ok := value.(map[string]interface{}); ok {
					for k, v := range inline {
						out[k] = v
					}
					return nil
				}
			}
		} else {
			value, err = scalar(f, wt, v, val)
			if err == nil && !f.repeated && isZeroScalar(value) && !keepZero[f.name] {
				return nil
			}
		}
		if err != nil {
			return err
		}
		if f.repeated {
			// Packed repeated scalars arrive as one length-delimited field.
			if f.typ != "message" && f.typ != "string" && f.typ != "bytes" && wt == 2 {
				return walkPacked(f, val, func(x interface{}) { out[f.name] = append(asList(out[f.name]), x) })
			}
			out[f.name] = append(asList(out[f.name]), value)
			return nil
		}
		out[f.name] = value
		return nil
	})
	return out, err
}

func asList(v interface{}) []interface{} {
	l, _ := v.([]interface{})
	return l
}

func zeroOf(f protoField) interface{} {
	switch f.typ {
	case "string", "bytes":
		return ""
	case "bool":
		return false
	case "message":
		return map[string]interface{}{}
	}
	return int64(0)
}

// special decodes the apimachinery types whose JSON form is not an object.
func (reg *Registry) special(name string, m *protoMessage, b []byte, depth int) (interface{}, error) {
	if name == "k8s.io.apimachinery.pkg.runtime.RawExtension" || name == "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" {
		// One bytes field holding JSON.
		var raw []byte
		if err := walkProto(b, func(num int, _ int, _ uint64, val []byte) error {
			if num == 1 {
				raw = val
			}
			return nil
		}); err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			return map[string]interface{}{}, nil
		}
		return decodeJSON(raw)
	}
	obj, err := reg.decodeProto(name, m, b, depth+1)
	if err != nil {
		return nil, err
	}
	switch name {
	case "k8s.io.apimachinery.pkg.apis.meta.v1.Time", "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime":
		sec, _ := obj["seconds"].(int64)
		nanos, _ := obj["nanos"].(int64)
		if sec == 0 && nanos == 0 {
			return nil, nil
		}
		if strings.HasSuffix(name, "MicroTime") {
			return time.Unix(sec, nanos).UTC().Format("2006-01-02T15:04:05.000000Z07:00"), nil
		}
		return time.Unix(sec, 0).UTC().Format(time.RFC3339), nil
	case "k8s.io.apimachinery.pkg.apis.meta.v1.Duration":
		d, _ := obj["duration"].(int64)
		return time.Duration(d).String(), nil
	case "k8s.io.apimachinery.pkg.util.intstr.IntOrString":
		if t, _ := obj["type"].(int64); t == 1 {
			s, _ := obj["strVal"].(string)
			return s, nil
		}
		i, _ := obj["intVal"].(int64)
		return i, nil
	case "k8s.io.apimachinery.pkg.api.resource.Quantity":
		s, _ := obj["string"].(string)
		return s, nil
	}
	// Go []string newtypes (authentication ExtraValue, ...) are messages of one `items`.
	if strings.HasSuffix(name, "ExtraValue") {
		if items, ok := obj["items"]; ok {
			return items, nil
		}
		return []interface{}{}, nil
	}
	return obj, nil
}

func scalar(f protoField, wt int, v uint64, val []byte) (interface{}, error) {
	switch f.typ {
	case "string":
		if wt != 2 {
			return nil, fmt.Errorf("%s: wire type %d for a string", f.name, wt)
		}
		return string(val), nil
	case "bytes":
		if wt != 2 {
			return nil, fmt.Errorf("%s: wire type %d for bytes", f.name, wt)
		}
		return base64.StdEncoding.EncodeToString(val), nil
	case "bool":
		return v != 0, nil
	case "int32":
		return int64(int32(v)), nil
	case "int64", "uint64", "uint32":
		return int64(v), nil
	case "sint32", "sint64":
		return int64(v>>1) ^ -int64(v&1), nil
	case "double":
		return math.Float64frombits(v), nil
	case "float":
		return float64(math.Float32frombits(uint32(v))), nil
	}
	return nil, fmt.Errorf("%s: unsupported type %s", f.name, f.typ)
}

func walkPacked(f protoField, b []byte, add func(interface{})) error {
	for len(b) > 0 {
		var v uint64
		switch f.typ {
		case "double":
			if len(b) < 8 {
				return io.ErrUnexpectedEOF
			}
			v, b = binary.LittleEndian.Uint64(b), b[8:]
		case "float":
			if len(b) < 4 {
				return io.ErrUnexpectedEOF
			}
			v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		default:
			x, n := binary.Uvarint(b)
			if n <= 0 {
				return io.ErrUnexpectedEOF
			}
			v, b = x, b[n:]
		}
		x, err := scalar(f, 0, v, nil)
		if err != nil {
			return err
		}
		add(x)
	}
	return nil
}

func isZeroScalar(v interface{}) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case bool:
		return !x
	case int64:
		return x == 0
	case float64:
		return x == 0
	}
	return false
}
