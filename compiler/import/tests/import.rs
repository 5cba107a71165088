//! `kdep import manifests` end to end: generated packages build back to their input objects
//! (Online Boutique's 35 and a small input full of edge cases), the generated text is what
//! `kdep fmt` writes, and every kind of bad input is a located error.

use std::collections::BTreeMap;
use std::path::Path;

use kdep_compiler::diag::render::{render_terminal, RenderConfig};
use kdep_compiler::{emit, MemoryFs, Workspace};
use kdep_import::{import_manifests, Config, ImportError, Input};
use serde::Deserialize;
use serde_yaml::Value;

const BOUTIQUE: &str = include_str!("../test_data/online-boutique/kubernetes-manifests.yaml");
const SMALL: &str = include_str!("../test_data/small.yaml");

/// The labels and annotation kdep stamps on every object it emits (`kdep_eval::manifest`).
const KDEP_LABELS: &[&str] = &["app.kubernetes.io/managed-by", "app.kubernetes.io/instance"];
const KDEP_ANNOTATIONS: &[&str] = &["kdep.dev/source"];

fn import(name: &str, text: &str) -> BTreeMap<String, String> {
    match import_manifests(&[Input { name, text }], &Config::default()) {
        Ok(package) => package.files,
        Err(errors) => panic!("import failed: {}", render_errors(&errors)),
    }
}

/// Builds a package held in memory and returns its objects as YAML values.
fn build(files: &BTreeMap<String, String>, env: Option<&str>) -> Vec<Value> {
    match try_build(files, env) {
        Ok(objects) => objects,
        Err((_, rendered)) => panic!("the imported package does not build:\n{rendered}"),
    }
}

/// Why a package did not build: each diagnostic's code and message, and their rendering.
type BuildErrors = (Vec<(String, String)>, String);

/// Builds a package held in memory: its objects, or its diagnostics.
fn try_build(files: &BTreeMap<String, String>, env: Option<&str>) -> Result<Vec<Value>, BuildErrors> {
    let mut fs = MemoryFs::new();
    for (path, text) in files {
        fs.insert(format!("/pkg/{path}"), text.as_str());
    }
    let ws = Workspace::load(&fs, Path::new("/pkg")).expect("the package loads");
    let build = ws.build(env);
    if !build.diagnostics.is_empty() {
        let mut out = Vec::new();
        render_terminal(
            &build.diagnostics,
            &ws.sources(None),
            RenderConfig { color: false, max_diagnostics: 20 },
            &mut out,
        )
        .expect("render to memory");
        let diags = build.diagnostics.iter().map(|d| (d.code.id.to_string(), d.message.clone())).collect();
        return Err((diags, String::from_utf8_lossy(&out).into_owned()));
    }
    Ok(build
        .manifests
        .iter()
        .map(|m| {
            serde_yaml::from_str(&emit::to_yaml_stream(std::slice::from_ref(&m.object))).expect("kdep writes YAML")
        })
        .collect())
}

/// The objects of a YAML stream as Kubernetes reads them: `List`s unwrapped, empty documents
/// skipped, null map entries absent (kdep never writes them).
fn parse_input(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).expect("the input is YAML");
        if value.is_null() {
            continue;
        }
        match value.get("items").and_then(Value::as_sequence) {
            Some(items) if value.get("kind").and_then(Value::as_str) == Some("List") => {
                out.extend(items.iter().cloned())
            }
            _ => out.push(value),
        }
    }
    out.into_iter().map(without_nulls).collect()
}

/// Also makes every key a string, as the YAML-to-JSON conversion of Kubernetes clients does.
fn without_nulls(value: Value) -> Value {
    let key = |k: Value| match k {
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Null => Value::String("null".into()),
        Value::Number(n) => Value::String(n.to_string()),
        other => other,
    };
    match value {
        Value::Mapping(map) => Value::Mapping(
            map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (key(k), without_nulls(v))).collect(),
        ),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// Removes kdep's own labels and annotation, and `labels`/`annotations` maps left empty (kdep
/// creates them to hold its stamps), so output and input compare on what the user wrote.
fn without_kdep_stamps(mut object: Value) -> Value {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_mapping_mut) {
        for (field, keys) in [("labels", KDEP_LABELS), ("annotations", KDEP_ANNOTATIONS)] {
            if let Some(map) = metadata.get_mut(field).and_then(Value::as_mapping_mut) {
                for key in keys {
                    map.remove(*key);
                }
                if map.is_empty() {
                    metadata.remove(field);
                }
            }
        }
    }
    object
}

/// Objects by (apiVersion, kind, namespace, name); mapping equality ignores key order, which
/// Kubernetes does too.
fn by_identity(objects: Vec<Value>) -> BTreeMap<(String, String, String, String), Value> {
    let text = |v: &Value, path: &[&str]| {
        path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_str).unwrap_or("").to_owned()
    };
    let mut out = BTreeMap::new();
    for object in objects {
        let key = (
            text(&object, &["apiVersion"]),
            text(&object, &["kind"]),
            text(&object, &["metadata", "namespace"]),
            text(&object, &["metadata", "name"]),
        );
        assert!(out.insert(key.clone(), object).is_none(), "{key:?} twice");
    }
    out
}

/// Imports `text`, builds the package and checks the objects equal the input's.
fn assert_round_trip(name: &str, text: &str) -> BTreeMap<String, String> {
    let files = import(name, text);
    assert_builds_to(&files, None, text);
    files
}

/// Builds `files` (for `env`) and checks the objects equal those of the YAML `text`.
fn assert_builds_to(files: &BTreeMap<String, String>, env: Option<&str>, text: &str) {
    for (path, source) in files.iter().filter(|(p, _)| p.ends_with(".kdep")) {
        assert_eq!(
            &kdep_compiler::format_source(source).expect("generated modules parse"),
            source,
            "{path} is not formatted"
        );
    }
    let expected = by_identity(parse_input(text).into_iter().map(without_kdep_stamps).collect());
    let built = by_identity(build(files, env).into_iter().map(without_kdep_stamps).collect());
    assert_eq!(built.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "not the same objects");
    for (key, want) in &expected {
        let got = built.get(key).expect("same keys");
        assert_eq!(
            got,
            want,
            "{key:?} differs:\n--- built\n{}\n--- input\n{}",
            serde_yaml::to_string(got).unwrap_or_default(),
            serde_yaml::to_string(want).unwrap_or_default()
        );
    }
}

#[test]
fn online_boutique_round_trips() {
    let files = assert_round_trip("kubernetes-manifests.yaml", BOUTIQUE);
    assert_eq!(parse_input(BOUTIQUE).len(), 35);
    // One app per Deployment (12), nothing left over, and the securityContexts every workload
    // repeats are shared.
    let apps = files.keys().filter(|p| p.ends_with(".kdep") && *p != "shared.kdep").count();
    assert_eq!(apps, 12, "{:?}", files.keys());
    let shared = &files["shared.kdep"];
    assert!(shared.contains("let pod_security_context"), "{shared}");
    assert!(shared.contains("let container_security_context"), "{shared}");
    insta::assert_snapshot!("boutique_frontend", files["frontend.kdep"]);
    insta::assert_snapshot!("boutique_shared", shared);
}

#[test]
fn small_input_round_trips() {
    let files = assert_round_trip("small.yaml", SMALL);
    assert!(files["kdep.toml"].contains("[permissions]\nnamespaces = [\"shop\"]\n"), "{}", files["kdep.toml"]);
    // The namespaces the input names are the package's to write, so the objects keep them in an
    // environment with another namespace.
    let mut with_env = files.clone();
    with_env.insert(
        "environments.kdep".into(),
        "environment prod { context = \"prod\", namespace = \"elsewhere\" }\n".into(),
    );
    assert_builds_to(&with_env, Some("prod"), SMALL);
    let mut all = String::new();
    for (path, text) in &files {
        all.push_str(&format!("//- {path}\n{text}\n"));
    }
    insta::assert_snapshot!("small_package", all);
}

fn render_errors(errors: &[ImportError]) -> String {
    errors
        .iter()
        .map(|e| match &e.help {
            Some(help) => format!("{e}\n  help: {help}\n"),
            None => format!("{e}\n"),
        })
        .collect()
}

fn errors_of(inputs: &[(&str, &str)]) -> String {
    let inputs: Vec<Input<'_>> = inputs.iter().map(|(name, text)| Input { name, text }).collect();
    match import_manifests(&inputs, &Config::default()) {
        Ok(package) => panic!("expected errors, got {:?}", package.files.keys()),
        Err(errors) => render_errors(&errors),
    }
}

#[test]
fn bad_input_is_a_located_error() {
    let config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n";
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("not_kubernetes", &[("values.yaml", "# Helm values\nreplicaCount: 2\nimage:\n  tag: 1.0\n")]),
        ("kind_without_api_version", &[("a.yaml", "kind: ConfigMap\nmetadata:\n  name: a\n")]),
        ("not_a_map", &[("a.yaml", "---\n- a\n- b\n---\njust text\n")]),
        ("helm_template", &[("deployment.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\n")]),
        ("helm_control_flow", &[("cm.yaml", "{{ if x }}\napiVersion: v1\nkind: ConfigMap\n{{ end }}\n")]),
        ("malformed_yaml", &[("a.yaml", "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: [a\n")]),
        ("duplicate_object", &[("a.yaml", config_map), ("b.yaml", &format!("---\n{config_map}"))]),
        ("missing_name", &[("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: settings-\n")]),
        ("name_not_a_string", &[("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: 123\n---\napiVersion: 1\nkind: x\n")]),
        ("list_item_not_kubernetes", &[("list.yaml", "apiVersion: v1\nkind: List\nitems:\n  - name: x\n")]),
        ("only_empty_documents", &[("empty.yaml", "# nothing\n---\n---\n")]),
        ("number_out_of_range", &[("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels:\n    n: 18446744073709551615\n")]),
    ];
    for (name, inputs) in cases {
        insta::assert_snapshot!(format!("error_{name}"), errors_of(inputs));
    }
}

#[test]
fn data_that_only_looks_like_a_template_is_imported() {
    // Prometheus and Alertmanager templates are data inside ConfigMaps, not Helm.
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: alerts\ndata:\n  summary: \"{{ $labels.instance }} is down\"\n";
    assert_round_trip("alerts.yaml", text);
}

#[test]
fn untyped_packages_round_trip_too() {
    // `--untyped` (and kinds without a schema) write `emit { apiVersion = ..., kind = ... }`.
    let config = Config { typed: false, ..Config::default() };
    for (name, text) in [("kubernetes-manifests.yaml", BOUTIQUE), ("small.yaml", SMALL)] {
        let files = import_manifests(&[Input { name, text }], &config).unwrap().files;
        assert!(files.values().all(|f| !f.contains("emit apps.") && !f.contains("import k8s.")));
        assert_builds_to(&files, None, text);
    }
}

#[test]
fn typed_emits_name_the_generated_modules() {
    let config = Config { typed: true, ..Config::default() };
    let package = import_manifests(&[Input { name: "small.yaml", text: SMALL }], &config).unwrap();
    let web = &package.files["web.kdep"];
    assert!(web.starts_with("// Imported by `kdep import manifests` from small.yaml.\nimport k8s.apps.v1 as apps\nimport k8s.core.v1 as core\nimport shared\n"), "{web}");
    assert!(web.contains("    server_ports: [core.ContainerPort]\n    server_env: [core.EnvVar]\n"), "{web}");
    assert!(web.contains("    emit apps.Deployment {\n") && web.contains("    emit core.ConfigMap {\n"), "{web}");

    // Custom resources are typed when the stdlib has their CRD, untyped otherwise.
    let text = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: r\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n";
    let package = import_manifests(&[Input { name: "crs.yaml", text }], &config).unwrap();
    let common = &package.files["common.kdep"];
    assert!(common.contains("import k8s.argoproj.v1alpha1 as argoproj\n"), "{common}");
    assert!(common.contains("emit argoproj.Rollout {"), "{common}");
    assert!(common.contains("apiVersion = \"example.com/v1\""), "{common}");
}

#[test]
fn truncated_and_damaged_input_never_panics() {
    // Every prefix of the small input, and the input with each line removed: errors or
    // packages, never a panic, and every package formats.
    let mut cases: Vec<String> =
        SMALL.char_indices().map(|(i, _)| i).step_by(7).map(|i| SMALL[..i].to_owned()).collect();
    let lines: Vec<&str> = SMALL.lines().collect();
    for skip in 0..lines.len() {
        let text: Vec<&str> = lines.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, l)| *l).collect();
        cases.push(text.join("\n"));
    }
    for text in &cases {
        for typed in [false, true] {
            let config = Config { typed, ..Config::default() };
            if let Ok(package) = import_manifests(&[Input { name: "x.yaml", text }], &config) {
                assert!(package.files.contains_key("kdep.toml"));
            }
        }
    }
}

#[test]
fn every_keyword_is_a_key() {
    // GRAMMAR.md "Keywords as names": most keywords are bare keys, `for` and `if` are quoted.
    let keywords = [
        "import",
        "as",
        "let",
        "fn",
        "schema",
        "template",
        "with",
        "locked",
        "check",
        "emit",
        "app",
        "in",
        "environment",
        "if",
        "else",
        "for",
        "true",
        "false",
        "null",
        "policy",
        "test",
        "open",
        "any",
    ];
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keys\n  annotations:\n");
    for k in keywords {
        text.push_str(&format!("    {k}: \"{k}\"\n"));
    }
    text.push_str("data:\n");
    for k in keywords {
        text.push_str(&format!("  \"{k}\": \"${{{k}}}\"\n"));
    }
    assert_round_trip("keys.yaml", &text);
}
