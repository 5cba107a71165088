// file: ssa.go — field management around the upstream structured-merge-diff engine.
//
// The merge, ownership, pruning and conflict logic is SMD's merge.Updater; this file
// only reproduces the apiserver's thin wrapper chain around it (apimachinery
// pkg/util/managedfields/internal): manager identifiers, the metadata strip set, the
// "current-operation" trick that timestamps only managers whose operation changed
// something, the cap of 10 Update managers, and the managedFields wire encoding.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/structured-merge-diff/v4/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v4/merge"
	"sigs.k8s.io/structured-merge-diff/v4/typed"
)

// managedEntry is metav1.ManagedFieldsEntry with its upstream field order.
type managedEntry struct {
	Manager     string          `json:"manager,omitempty"`
	Operation   string          `json:"operation,omitempty"`
	APIVersion  string          `json:"apiVersion,omitempty"`
	Time        string          `json:"time,omitempty"`
	FieldsType  string          `json:"fieldsType,omitempty"`
	FieldsV1    json.RawMessage `json:"fieldsV1,omitempty"`
	Subresource string          `json:"subresource,omitempty"`
}

// managerID builds the manager identifier upstream keys ownership by: the entry as
// JSON without fields and time, and without apiVersion for appliers.
func managerID(name, operation, apiVersion, subresource string) string {
	e := managedEntry{Manager: name, Operation: operation, APIVersion: apiVersion, Subresource: subresource}
	if operation == "Apply" {
		e.APIVersion = ""
	}
	b, _ := json.Marshal(e)
	return string(b)
}

// managed is the decoded managedFields of an object.
type managed struct {
	fields fieldpath.ManagedFields
	times  map[string]string
}

func decodeManaged(obj map[string]interface{}) (*managed, error) {
	m := &managed{fields: fieldpath.ManagedFields{}, times: map[string]string{}}
	list, _ := getMap(obj, "metadata")["managedFields"].([]interface{})
	for _, raw := range list {
		b, _ := json.Marshal(raw)
		var e managedEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, err
		}
		if e.FieldsType != "FieldsV1" {
			return nil, fmt.Errorf("invalid fieldsType %q", e.FieldsType)
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(e.FieldsV1)); err != nil {
			return nil, err
		}
		id := managerID(e.Manager, e.Operation, e.APIVersion, e.Subresource)
		m.fields[id] = fieldpath.NewVersionedSet(set, fieldpath.APIVersion(e.APIVersion), e.Operation == "Apply")
		if e.Time != "" {
			m.times[id] = e.Time
		}
	}
	return m, nil
}

// encode renders managedFields sorted as upstream sorts them (operation, time,
// manager, apiVersion, subresource).
func (m *managed) encode() []interface{} {
	var entries []managedEntry
	for id, vs := range m.fields {
		if vs.Set().Empty() {
			continue
		}
		var e managedEntry
		_ = json.Unmarshal([]byte(id), &e)
		e.APIVersion = string(vs.APIVersion())
		e.Time = m.times[id]
		e.FieldsType = "FieldsV1"
		b, _ := vs.Set().ToJSON()
		e.FieldsV1 = b
		entries = append(entries, e)
	}
	sort.SliceStable(entries, func(i, j int) bool {
		p, q := entries[i], entries[j]
		if p.Operation != q.Operation {
			return p.Operation < q.Operation
		}
		if p.Time != q.Time {
			return p.Time < q.Time
		}
		if p.Manager != q.Manager {
			return p.Manager < q.Manager
		}
		if p.APIVersion != q.APIVersion {
			return p.APIVersion < q.APIVersion
		}
		return p.Subresource < q.Subresource
	})
	out := make([]interface{}, 0, len(entries))
	for _, e := range entries {
		b, _ := json.Marshal(e)
		v, _ := decodeJSON(b)
		out = append(out, v)
	}
	return out
}

// stripSet: fields never recorded in managedFields (internal/stripmeta.go).
var stripSet = fieldpath.NewSet(
	fieldpath.MakePathOrDie("apiVersion"),
	fieldpath.MakePathOrDie("kind"),
	fieldpath.MakePathOrDie("metadata"),
	fieldpath.MakePathOrDie("metadata", "name"),
	fieldpath.MakePathOrDie("metadata", "namespace"),
	fieldpath.MakePathOrDie("metadata", "creationTimestamp"),
	fieldpath.MakePathOrDie("metadata", "selfLink"),
	fieldpath.MakePathOrDie("metadata", "uid"),
	fieldpath.MakePathOrDie("metadata", "clusterName"),
	fieldpath.MakePathOrDie("metadata", "generation"),
	fieldpath.MakePathOrDie("metadata", "managedFields"),
	fieldpath.MakePathOrDie("metadata", "resourceVersion"),
)

func stripManager(fields fieldpath.ManagedFields, id string) {
	vs, ok := fields[id]
	if !ok {
		return
	}
	s := vs.Set().Difference(stripSet)
	if s.Empty() {
		delete(fields, id)
		return
	}
	fields[id] = fieldpath.NewVersionedSet(s, vs.APIVersion(), vs.Applied())
}

// identityConverter: the emulator serves one schema per resource, so "conversion"
// between versions is the identity (as with a CRD's conversion strategy None).
type identityConverter struct{}

func (identityConverter) Convert(o *typed.TypedValue, _ fieldpath.APIVersion) (*typed.TypedValue, error) {
	return o, nil
}
func (identityConverter) IsMissingVersionError(error) bool { return false }

// resetFields returns the fields a write through (sub)resource may not set; they are
// left out of the writer's ownership (strategy GetResetFields upstream).
func resetFields(r *Resource, sub string) *fieldpath.Set {
	switch sub {
	case "":
		if r.HasStatus() {
			return fieldpath.NewSet(fieldpath.MakePathOrDie("status"))
		}
	case "status":
		s := fieldpath.NewSet(fieldpath.MakePathOrDie("spec"))
		if r.Group == "apps" || r.Group == "batch" {
			s.Insert(fieldpath.MakePathOrDie("metadata", "labels"))
		}
		return s
	}
	return nil
}

func newUpdater(r *Resource, sub string) *merge.Updater {
	u := &merge.Updater{Converter: identityConverter{}}
	if rs := resetFields(r, sub); rs != nil {
		u.IgnoredFields = map[fieldpath.APIVersion]*fieldpath.Set{fieldpath.APIVersion(r.GV()): rs}
	}
	return u
}

const maxUpdateManagers = 10

// capManagers merges the oldest Update entries into per-version "ancient-changes"
// buckets once there are more than ten (internal/capmanagers.go): updaters sorted by
// time (then identifier); the oldest of a version is kept until a second one of the
// same version is merged with it; the bucket takes the newer entry's time.
func capManagers(m *managed) {
	var updaters []string
	for id, vs := range m.fields {
		if !vs.Applied() {
			updaters = append(updaters, id)
		}
	}
	if len(updaters) <= maxUpdateManagers {
		return
	}
	sort.Slice(updaters, func(i, j int) bool {
		ti, tj := m.times[updaters[i]], m.times[updaters[j]]
		if ti != tj {
			return ti < tj
		}
		return updaters[i] < updaters[j]
	})
	first := map[string]string{}
	length := len(updaters)
	for i := 0; i < len(updaters) && length > maxUpdateManagers; i++ {
		id := updaters[i]
		vs := m.fields[id]
		version := string(vs.APIVersion())
		bucket := managerID("ancient-changes", "Update", version, "")
		f, ok := first[version]
		if !ok {
			first[version] = id
			continue
		}
		if _, ok := m.fields[bucket]; !ok {
			m.fields[bucket] = m.fields[f]
			delete(m.fields, f)
			delete(m.times, f)
		}
		m.fields[bucket] = fieldpath.NewVersionedSet(vs.Set().Union(m.fields[bucket].Set()), vs.APIVersion(), false)
		delete(m.fields, id)
		m.times[bucket] = m.times[id]
		delete(m.times, id)
		length--
	}
}

// conflictError renders merge.Conflicts as the apiserver does (internal/conflict.go).
func conflictError(cs merge.Conflicts) *apiError {
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].Manager != cs[j].Manager {
			return cs[i].Manager < cs[j].Manager
		}
		return cs[i].Path.Compare(cs[j].Path) < 0
	})
	causes := make([]StatusCause, 0, len(cs))
	for _, c := range cs {
		causes = append(causes, StatusCause{Type: "FieldManagerConflict",
			Message: "conflict with " + printManager(c.Manager), Field: c.Path.String()})
	}
	var msg string
	if len(cs) == 1 {
		msg = fmt.Sprintf("Apply failed with 1 conflict: conflict with %s: %s", printManager(cs[0].Manager), cs[0].Path.String())
	} else {
		byMgr := map[string][]string{}
		var names []string
		for _, c := range cs {
			if _, ok := byMgr[c.Manager]; !ok {
				names = append(names, c.Manager)
			}
			byMgr[c.Manager] = append(byMgr[c.Manager], c.Path.String())
		}
		sort.Strings(names)
		var lines []string
		for _, n := range names {
			lines = append(lines, fmt.Sprintf("conflicts with %s:", printManager(n)))
			for _, p := range byMgr[n] {
				lines = append(lines, "- "+p)
			}
		}
		msg = fmt.Sprintf("Apply failed with %d conflicts: %s", len(cs), strings.Join(lines, "\n"))
	}
	return &apiError{Code: 409, Reason: "Conflict", Message: msg, Details: &StatusDetails{Causes: causes}}
}

func printManager(id string) string {
	var e managedEntry
	if err := json.Unmarshal([]byte(id), &e); err != nil {
		return fmt.Sprintf("%q", id)
	}
	s := fmt.Sprintf("%q", e.Manager)
	if e.Subresource != "" {
		s = fmt.Sprintf("%s with subresource %q", s, e.Subresource)
	}
	if e.Operation == "Update" {
		if e.Time == "" {
			return fmt.Sprintf("%s using %s", s, e.APIVersion)
		}
		return fmt.Sprintf("%s using %s at %s", s, e.APIVersion, e.Time)
	}
	return s
}

// removeManagedFields returns a copy of obj without metadata.managedFields, the
// shape the engine sees for live objects.
func withoutManagedFields(obj map[string]interface{}) map[string]interface{} {
	c := copyObj(obj)
	if md := getMap(c, "metadata"); md != nil {
		delete(md, "managedFields")
	}
	return c
}

func nowRFC3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
