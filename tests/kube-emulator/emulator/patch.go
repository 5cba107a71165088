// file: patch.go — the non-apply PATCH flavours: JSON merge patch (RFC 7386), JSON
// patch (RFC 6902) and strategic merge patch.
//
// Strategic merge is driven by the same SMD schema as apply: lists the schema marks
// as associative with keys merge item by item on those keys (for built-ins these are
// the patchMergeKey lists), associative scalar lists union, everything else is
// replaced, and the `$patch: delete|replace` and `$deleteFromPrimitiveList`
// directives are honoured. `$retainKeys` and `$setElementOrder` are accepted and ignored.
package main

import (
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v4/schema"
)

// mergePatch applies an RFC 7386 merge patch.
func mergePatch(target interface{}, patch interface{}) interface{} {
	pm, ok := patch.(map[string]interface{})
	if !ok {
		return deepCopy(patch)
	}
	tm, ok := target.(map[string]interface{})
	if !ok {
		tm = map[string]interface{}{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = mergePatch(tm[k], v)
	}
	return tm
}

// jsonPatch applies RFC 6902 operations.
func jsonPatch(doc interface{}, ops []interface{}) (interface{}, error) {
	for _, raw := range ops {
		op, ok := raw.(map[string]interface{})
		if !ok {
			return nil, fmt.Errorf("invalid JSON patch operation")
		}
		kind, _ := op["op"].(string)
		path, _ := op["path"].(string)
		var err error
		switch kind {
		case "add":
			doc, err = ptrSet(doc, path, deepCopy(op["value"]), true)
		case "replace":
			if _, err = ptrGet(doc, path); err == nil {
				doc, err = ptrSet(doc, path, deepCopy(op["value"]), false)
			}
		case "remove":
			doc, err = ptrRemove(doc, path)
		case "test":
			var cur interface{}
			if cur, err = ptrGet(doc, path); err == nil && !equalValues(cur, op["value"]) {
				err = fmt.Errorf("testing value %s failed", path)
			}
		case "move", "copy":
			from, _ := op["from"].(string)
			var v interface{}
			if v, err = ptrGet(doc, from); err == nil {
				v = deepCopy(v)
				if kind == "move" {
					doc, err = ptrRemove(doc, from)
				}
				if err == nil {
					doc, err = ptrSet(doc, path, v, true)
				}
			}
		default:
			err = fmt.Errorf("Unexpected kind: %s", kind)
		}
		if err != nil {
			return nil, err
		}
	}
	return doc, nil
}

func ptrTokens(path string) []string {
	if path == "" {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
	}
	return parts
}

func ptrGet(doc interface{}, path string) (interface{}, error) {
	cur := doc
	for _, t := range ptrTokens(path) {
		switch c := cur.(type) {
		case map[string]interface{}:
			v, ok := c[t]
			if !ok {
				return nil, fmt.Errorf("doc is missing path: %q", path)
			}
			cur = v
		case []interface{}:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("doc is missing path: %q", path)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("doc is missing path: %q", path)
		}
	}
	return cur, nil
}

// ptrSet sets (insert=true: adds, inserting into arrays) a value at path.
func ptrSet(doc interface{}, path string, v interface{}, insert bool) (interface{}, error) {
	toks := ptrTokens(path)
	if len(toks) == 0 {
		return v, nil
	}
	parent, err := ptrGet(doc, "/"+strings.Join(escapeToks(toks[:len(toks)-1]), "/"))
	if len(toks) == 1 {
		parent, err = doc, nil
	}
	if err != nil {
		return nil, err
	}
	last := toks[len(toks)-1]
	switch p := parent.(type) {
	case map[string]interface{}:
		p[last] = v
	case []interface{}:
		var i int
		if last == "-" {
			i = len(p)
		} else if i, err = strconv.Atoi(last); err != nil || i < 0 || i > len(p) {
			return nil, fmt.Errorf("add operation does not apply: doc is missing path: %q", path)
		}
		var np []interface{}
		if insert {
			np = append(append(append([]interface{}{}, p[:i]...), v), p[i:]...)
		} else {
			if i >= len(p) {
				return nil, fmt.Errorf("replace operation does not apply: doc is missing key: %s", path)
			}
			np = append([]interface{}{}, p...)
			np[i] = v
		}
		return ptrSet(doc, "/"+strings.Join(escapeToks(toks[:len(toks)-1]), "/"), np, false)
	default:
		return nil, fmt.Errorf("doc is missing path: %q", path)
	}
	return doc, nil
}

func escapeToks(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
	}
	return out
}

func ptrRemove(doc interface{}, path string) (interface{}, error) {
	toks := ptrTokens(path)
	if len(toks) == 0 {
		return nil, fmt.Errorf("unable to remove the root")
	}
	parentPath := "/" + strings.Join(escapeToks(toks[:len(toks)-1]), "/")
	var parent interface{} = doc
	var err error
	if len(toks) > 1 {
		if parent, err = ptrGet(doc, parentPath); err != nil {
			return nil, err
		}
	}
	last := toks[len(toks)-1]
	switch p := parent.(type) {
	case map[string]interface{}:
		if _, ok := p[last]; !ok {
			return nil, fmt.Errorf("remove operation does not apply: doc is missing path: %q", path)
		}
		delete(p, last)
		return doc, nil
	case []interface{}:
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || i >= len(p) {
			return nil, fmt.Errorf("remove operation does not apply: doc is missing path: %q", path)
		}
		np := append(append([]interface{}{}, p[:i]...), p[i+1:]...)
		if len(toks) == 1 {
			return np, nil
		}
		return ptrSet(doc, parentPath, np, false)
	}
	return nil, fmt.Errorf("remove operation does not apply: doc is missing path: %q", path)
}

// strategicMerge applies a strategic merge patch using the SMD schema.
func strategicMerge(sc *schema.Schema, tr schema.TypeRef, target, patch interface{}) interface{} {
	atom, _ := sc.Resolve(tr)
	pm, ok := patch.(map[string]interface{})
	if !ok {
		if pl, ok := patch.([]interface{}); ok && atom.List != nil {
			return strategicList(sc, atom.List, target, pl)
		}
		return deepCopy(patch)
	}
	if d, _ := pm["$patch"].(string); d == "replace" {
		c := copyObj(pm)
		delete(c, "$patch")
		return c
	}
	tm, ok := target.(map[string]interface{})
	if !ok {
		tm = map[string]interface{}{}
	}
	for k, v := range pm {
		if strings.HasPrefix(k, "$") {
			continue
		}
		if strings.HasPrefix(k, "$deleteFromPrimitiveList/") {
			continue
		}
		if v == nil {
			delete(tm, k)
			continue
		}
		var sub schema.TypeRef
		if atom.Map != nil {
			if f, ok := atom.Map.FindField(k); ok {
				sub = f.Type
			} else {
				sub = atom.Map.ElementType
			}
		}
		if atom.Map != nil && atom.Map.ElementRelationship == schema.Atomic {
			tm[k] = deepCopy(v)
			continue
		}
		tm[k] = strategicMerge(sc, sub, tm[k], v)
	}
	for k, v := range pm {
		if strings.HasPrefix(k, "$deleteFromPrimitiveList/") {
			field := strings.TrimPrefix(k, "$deleteFromPrimitiveList/")
			cur, _ := tm[field].([]interface{})
			del, _ := v.([]interface{})
			var keep []interface{}
			for _, e := range cur {
				drop := false
				for _, d := range del {
					if equalValues(e, d) {
						drop = true
					}
				}
				if !drop {
					keep = append(keep, e)
				}
			}
			tm[field] = keep
		}
	}
	return tm
}

func strategicList(sc *schema.Schema, l *schema.List, target interface{}, patch []interface{}) interface{} {
	cur, _ := target.([]interface{})
	if l.ElementRelationship != schema.Associative {
		return deepCopy(patch)
	}
	if len(l.Keys) == 0 {
		// Set semantics: union, keeping order.
		out := append([]interface{}{}, cur...)
		for _, p := range patch {
			found := false
			for _, c := range out {
				if equalValues(c, p) {
					found = true
				}
			}
			if !found {
				out = append(out, deepCopy(p))
			}
		}
		return out
	}
	keyOf := func(v interface{}) string {
		m, _ := v.(map[string]interface{})
		parts := make([]string, len(l.Keys))
		for i, k := range l.Keys {
			parts[i] = fmt.Sprint(m[k])
		}
		return strings.Join(parts, "\x00")
	}
	out := append([]interface{}{}, cur...)
	for _, p := range patch {
		pm, _ := p.(map[string]interface{})
		if pm != nil {
			if d, _ := pm["$patch"].(string); d == "replace" {
				return []interface{}{}
			}
		}
		idx := -1
		for i, c := range out {
			if keyOf(c) == keyOf(p) {
				idx = i
			}
		}
		if pm != nil {
			if d, _ := pm["$patch"].(string); d == "delete" {
				if idx >= 0 {
					out = append(out[:idx], out[idx+1:]...)
				}
				continue
			}
		}
		if idx >= 0 {
			out[idx] = strategicMerge(sc, l.ElementType, out[idx], p)
		} else {
			out = append(out, strategicMerge(sc, l.ElementType, nil, p))
		}
	}
	return out
}
