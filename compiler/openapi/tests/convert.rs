//! Unit tests of the produced text: the mapping table of the issue 7 spec, one construct at a
//! time, and the bad-input errors (file and place inside the document).

use kdep_openapi::{crd_modules, openapi_modules, parse_documents, CrdInput, ModulePath, OpenApiInput};
use serde_json::{json, Value};

fn header(path: &ModulePath, sources: &[String]) -> Vec<String> {
    vec![format!("{} from {}", path.dotted(), sources.join(", "))]
}

fn crd(doc: &Value) -> Result<String, String> {
    let inputs = [CrdInput { file: "crd.yaml", index: 0, doc }];
    match crd_modules(&inputs, &header) {
        Ok(modules) => Ok(modules.iter().map(|m| format!("=== {}\n{}", m.path.file_path(), m.text)).collect()),
        Err(errors) => Err(errors.iter().map(|e| format!("{e}\n")).collect()),
    }
}

fn crd_doc(schema: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example-corp.io"},
        "spec": {
            "group": "example-corp.io",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1beta1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema}}]
        }
    })
}

#[test]
fn crd_mapping_table() {
    let schema = json!({
        "description": "Widget is a test kind.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
            "spec": {
                "type": "object",
                "required": ["mode", "size"],
                "x-kubernetes-validations": [{"rule": "self.size  >\n 0", "message": "size must be positive"}],
                "properties": {
                    "mode": {"type": "string", "enum": ["Fast", "Slow"], "default": "Fast"},
                    "tier": {"type": "string", "enum": ["a", "b"]},
                    "size": {"type": "integer", "format": "int32", "description": "How big.\n\nIn units."},
                    "ratio": {"type": "number"},
                    "port": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "memory": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}],
                               "pattern": "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$"},
                    "since": {"type": "string", "format": "date-time"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                              "properties": {"name": {"type": "string"}}},
                    "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "port"],
                              "items": {"type": "object", "required": ["name"],
                                        "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "atomic": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {"type": "string"}},
                    "x-custom": {"type": "string"},
                    "for": {"type": "string"},
                    "template": {"type": "string", "nullable": true},
                    "check": {"type": "string", "x-kubernetes-validations": [{"rule": "self != ''"}]},
                    "oneOfOnly": {"type": "object", "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
                                  "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}
                }
            }
        }
    });
    insta::assert_snapshot!(crd(&crd_doc(schema)).unwrap());
}

#[test]
fn inline_names_do_not_collide() {
    // `spec.a.b` and `spec.aB` both want the name `WidgetSpecAB`.
    let obj = |p: Value| json!({"type": "object", "properties": p});
    let schema = obj(json!({
        "spec": obj(json!({
            "a": obj(json!({"b": obj(json!({"x": {"type": "string"}}))})),
            "aB": obj(json!({"y": {"type": "string"}}))
        }))
    }));
    let out = crd(&crd_doc(schema)).unwrap();
    assert!(out.contains("schema WidgetSpecAB {"), "{out}");
    assert!(out.contains("schema WidgetSpecAB2 {"), "{out}");
}

#[test]
fn inline_names_do_not_take_a_later_kinds_name() {
    // Widget's `spec.gadget` would be `WidgetSpecGadget`... and the next CRD's kind is that.
    let widget = crd_doc(json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "gadget": {"type": "object", "properties": {"n": {"type": "integer"}}}}}}}));
    let mut gadget = crd_doc(json!({"type": "object", "properties": {"s": {"type": "string"}}}));
    gadget["spec"]["names"]["kind"] = json!("WidgetSpecGadget");
    let inputs =
        [CrdInput { file: "a.yaml", index: 0, doc: &widget }, CrdInput { file: "b.yaml", index: 0, doc: &gadget }];
    let text = &crd_modules(&inputs, &header).unwrap()[0].text;
    assert!(text.contains("gadget: WidgetSpecGadget2?"), "{text}");
    assert!(text.contains("schema WidgetSpecGadget {\n    s: string?"), "{text}");
}

#[test]
fn output_is_deterministic() {
    let a = crd_doc(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "integer"}}}}}),
    );
    let b = crd_doc(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "integer"}, "z": {"type": "string"}}}}}),
    );
    assert_eq!(crd(&a).unwrap(), crd(&b).unwrap());
}

#[test]
fn crds_of_one_group_version_share_a_module() {
    let mut gadget = crd_doc(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {"type": "integer"}}}}}),
    );
    gadget["spec"]["names"]["kind"] = json!("Gadget");
    gadget["spec"]["scope"] = json!("Cluster");
    let widget = crd_doc(
        json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {"s": {"type": "string"}}}}}),
    );
    let inputs = [
        CrdInput { file: "gadget.yaml", index: 0, doc: &gadget },
        CrdInput { file: "widget.yaml", index: 0, doc: &widget },
    ];
    let modules = crd_modules(&inputs, &header).unwrap();
    assert_eq!(modules.len(), 1);
    insta::assert_snapshot!(modules[0].text);
}

#[test]
fn deep_schemas_are_an_error_not_a_crash() {
    // Parsers stop at 128 levels of JSON (a schema level is two: node and `properties`), so
    // in-memory values are how a too-deep schema reaches the converter.
    let mut node = json!({"type": "string"});
    for _ in 0..60 {
        node = json!({"type": "object", "properties": {"next": node}});
    }
    let err = crd(&crd_doc(node)).unwrap_err();
    assert!(err.contains("nested more than 32 levels deep"), "{err}");
    // The error stops at the limit: one message, not one per level.
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn bad_crds_name_file_and_place() {
    let mut errors = String::new();
    let not_crd = json!({"apiVersion": "v1", "kind": "ConfigMap"});
    errors += &crd(&not_crd).unwrap_err();
    let mut no_schema = crd_doc(json!({}));
    no_schema["spec"]["versions"][0].as_object_mut().unwrap().remove("schema");
    errors += &crd(&no_schema).unwrap_err();
    let typed_any_of = crd_doc(
        json!({"type": "object", "properties": {"spec": {"anyOf": [{"type": "string"}, {"type": "boolean"}]}}}),
    );
    errors += &crd(&typed_any_of).unwrap_err();
    let reference = crd_doc(json!({"type": "object", "properties": {"spec": {"$ref": "#/definitions/Spec"}}}));
    errors += &crd(&reference).unwrap_err();
    let type_list = crd_doc(json!({"type": "object", "properties": {"n": {"type": ["string", "null"]}}}));
    errors += &crd(&type_list).unwrap_err();
    let float_enum = crd_doc(json!({"type": "object", "properties": {"n": {"type": "number", "enum": [1.5]}}}));
    errors += &crd(&float_enum).unwrap_err();
    let mut bad_scope = crd_doc(json!({"type": "object"}));
    bad_scope["spec"]["scope"] = json!("Galaxy");
    errors += &crd(&bad_scope).unwrap_err();
    insta::assert_snapshot!(errors);
}

#[test]
fn module_paths_are_identifiers() {
    assert_eq!(kdep_openapi::group_label(""), "core");
    assert_eq!(kdep_openapi::group_label("rbac.authorization.k8s.io"), "rbac");
    assert_eq!(kdep_openapi::group_label("cert-manager.io"), "cert_manager");
    assert_eq!(kdep_openapi::group_label("3scale.net"), "_3scale");
    let mut doc = crd_doc(json!({"type": "object"}));
    doc["spec"]["versions"][0]["name"] = json!("v2-beta");
    let out = crd(&doc).unwrap();
    assert!(out.starts_with("=== example_corp/v2_beta.kdep"), "{out}");
    assert!(out.contains("apiVersion = \"example-corp.io/v2-beta\""), "{out}");
}

#[test]
fn malformed_documents() {
    let yaml = parse_documents("bad.yaml", "a: [1, 2\nb: c\n").unwrap_err();
    assert_eq!(yaml.file, "bad.yaml");
    assert!(yaml.message.starts_with("invalid YAML"), "{yaml}");
    assert!(yaml.message.contains("line"), "{yaml}");
    let json = parse_documents("bad.json", "{\"a\": }").unwrap_err();
    assert!(json.message.starts_with("invalid JSON"), "{json}");
    let docs = parse_documents("two.yaml", "---\na: 1\n---\n---\nb: 2\n").unwrap();
    assert_eq!(docs.len(), 2);
}

#[test]
fn openapi_kinds_scope_refs_and_builtins() {
    let doc = json!({
        "openapi": "3.0.0",
        "paths": {
            "/apis/demo/v1/namespaces/{namespace}/things": {"get": {"x-kubernetes-group-version-kind": {"group": "demo", "version": "v1", "kind": "Thing"}}},
            "/apis/demo/v1/things": {"get": {"x-kubernetes-group-version-kind": {"group": "demo", "version": "v1", "kind": "Thing"}}},
            "/apis/demo/v1/globals": {"get": {"x-kubernetes-group-version-kind": {"group": "demo", "version": "v1", "kind": "Global"}}}
        },
        "components": {"schemas": {
            "io.k8s.api.demo.v1.Thing": {
                "description": "A thing.",
                "type": "object",
                "x-kubernetes-group-version-kind": [{"group": "demo", "version": "v1", "kind": "Thing"}],
                "properties": {
                    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "default": {}},
                    "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.demo.v1.ThingSpec"}], "description": "The spec."},
                    "status": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.demo.v1.ThingStatus"}]}
                }
            },
            "io.k8s.api.demo.v1.ThingList": {
                "type": "object",
                "x-kubernetes-group-version-kind": [{"group": "demo", "version": "v1", "kind": "ThingList"}],
                "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/io.k8s.api.demo.v1.Thing"}}}
            },
            "io.k8s.api.demo.v1.ThingSpec": {
                "type": "object",
                "required": ["size"],
                "properties": {
                    "size": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"}]},
                    "port": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}]},
                    "at": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Time"}]},
                    "raw": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.runtime.RawExtension"}]},
                    "next": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.demo.v1.ThingSpec"}]},
                    "other": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.demo.v2.ThingSpec"}]}
                }
            },
            "io.k8s.api.demo.v1.ThingStatus": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
            "io.k8s.api.demo.v1.Global": {
                "type": "object",
                "x-kubernetes-group-version-kind": [{"group": "demo", "version": "v1", "kind": "Global"}],
                "properties": {"value": {"type": "string"}}
            },
            "io.k8s.api.demo.v2.ThingSpec": {"type": "object", "properties": {"n": {"type": "integer"}}},
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta": {"type": "object", "properties": {"name": {"type": "string"}}},
            "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent": {"type": "object", "properties": {"type": {"type": "string"}}},
            "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string"},
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]},
            "io.k8s.apimachinery.pkg.apis.meta.v1.Time": {"type": "string", "format": "date-time"},
            "io.k8s.apimachinery.pkg.runtime.RawExtension": {"type": "object"}
        }}
    });
    let inputs = [OpenApiInput { file: "demo.json", doc: &doc }];
    let modules = openapi_modules(&inputs, &[ModulePath::new("demo", "v1")], &header).unwrap();
    let text: String = modules.iter().map(|m| format!("=== {}\n{}", m.path.file_path(), m.text)).collect();
    insta::assert_snapshot!(text);
}

/// Every node of a CRD replaced by junk, one at a time: errors or modules, never a panic.
#[test]
fn mutated_crds_never_panic() {
    fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(at.clone());
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    at.push(k.clone());
                    paths(child, at, out);
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    at.push(i.to_string());
                    paths(child, at, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let base = crd_doc(json!({
        "type": "object",
        "properties": {
            "spec": {"type": "object", "required": ["a"], "x-kubernetes-validations": [{"rule": "true"}],
                     "properties": {
                         "a": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                               "items": {"type": "object", "properties": {"k": {"type": "string", "enum": ["x"]}}}},
                         "b": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                         "c": {"type": "object", "additionalProperties": {"type": "string", "format": "date-time"}}
                     }}
        }
    }));
    let mut all = Vec::new();
    paths(&base, &mut Vec::new(), &mut all);
    let junk = [json!(null), json!(1), json!("x"), json!([]), json!({}), json!([{"type": "object"}]), json!(true)];
    for path in &all {
        for value in &junk {
            let mut doc = base.clone();
            let pointer: String = path.iter().map(|p| format!("/{p}")).collect();
            if let Some(slot) = doc.pointer_mut(&pointer) {
                *slot = value.clone();
            }
            let _ = crd(&doc);
        }
    }
    assert!(all.len() > 40, "the walk visits the document");
}
