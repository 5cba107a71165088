//! Provenance: every field value of an instance knows the layer and source span that set it.

mod common;

use common::{load, TestDb};
use kdep_eval::value::Layer;

const FIXTURE: &str = r#"
//- platform/web.kdep
template WebService {
    name: string
    replicas: int(1..20) = 2
    size: "small" | "large" = "small"
    port: int = 8080
    emit { apiVersion = "apps/v1", kind = "Deployment", metadata.name = name, spec.replicas = replicas }
}

//- teams/shop/base.kdep
import platform.web

template ShopWeb = web.WebService {
    port = 9000
}

//- teams/shop/checkout.kdep
import teams.shop.base

app checkout = base.ShopWeb {
    name = "checkout"
    replicas = 3
    in prod {
        replicas = 8
    }
}

//- environments.kdep
environment prod { context = "prod", namespace = "shop" }
"#;

fn layers(fx: &common::Fixture, env: Option<&str>) -> Vec<(String, Layer, String)> {
    let file = fx.file("teams/shop/checkout.kdep");
    let out = kdep_eval::app::eval_app(&fx.db, fx.project, file, "checkout".into(), env.map(Into::into));
    assert!(out.diagnostics.is_empty(), "{}", fx.render(&out.diagnostics));
    out.fields
        .entries()
        .map(|(k, e)| {
            let at = e.origin.span.and_then(|s| {
                let s = fx.resolve(s);
                let (path, file) = fx.files.get(s.file.0 as usize)?;
                Some(format!("{path}:{}", file.text(&fx.db).get(s.range.as_usize_range())?))
            });
            (k.to_string(), e.origin.layer.clone(), at.unwrap_or_default())
        })
        .collect()
}

#[test]
fn each_layer_is_recorded() {
    let fx = load(TestDb::default(), FIXTURE);
    let prod = layers(&fx, Some("prod"));
    let find = |name: &str| prod.iter().find(|(k, _, _)| k == name).cloned().unwrap();

    let (_, layer, at) = find("replicas");
    assert_eq!(layer, Layer::Environment { app: "checkout".into(), env: "prod".into() });
    assert_eq!(at, "teams/shop/checkout.kdep:replicas = 8");

    let (_, layer, at) = find("name");
    assert_eq!(layer, Layer::App { app: "checkout".into() });
    assert_eq!(at, "teams/shop/checkout.kdep:name = \"checkout\"");

    let (_, layer, at) = find("port");
    assert_eq!(layer, Layer::ExtendingTemplate { template: "teams.shop.base.ShopWeb".into() });
    assert_eq!(at, "teams/shop/base.kdep:9000");

    let (_, layer, at) = find("size");
    assert_eq!(layer, Layer::TemplateDefault { template: "platform.web.WebService".into() });
    assert_eq!(at, "platform/web.kdep:\"small\"");

    // Without the environment, the app's own value wins.
    let none = layers(&fx, None);
    let replicas = none.iter().find(|(k, _, _)| k == "replicas").cloned().unwrap();
    assert_eq!(replicas.1, Layer::App { app: "checkout".into() });
}

#[test]
fn emitted_entries_keep_the_field_origin() {
    let fx = load(TestDb::default(), FIXTURE);
    let built = kdep_eval::build(&fx.db, fx.project, Some("prod"));
    assert!(built.diagnostics.is_empty(), "{}", fx.render(&built.diagnostics));
    let m = &built.manifests[0];
    let spec = m.object.get("spec").and_then(|s| s.as_map()).unwrap();
    let entry = spec.get_entry("replicas").unwrap();
    assert_eq!(entry.value, kdep_eval::value::Value::Int(8));
    assert_eq!(entry.origin.layer, Layer::Environment { app: "checkout".into(), env: "prod".into() });
}

/// `replicas = if autoscaling == null { replicas }` (the stdlib's form) emits the field's value
/// unchanged: the entry keeps the field's origin, so `kdep explain` names the layer that set it.
#[test]
fn a_conditional_field_read_keeps_the_field_origin() {
    let fx = load(
        TestDb::default(),
        r#"
//- web.kdep
template Web {
    name: string
    replicas: int = 2
    auto: bool = false
    emit { apiVersion = "apps/v1", kind = "Deployment", metadata.name = name, spec.replicas = if !auto { replicas } }
    emit { apiVersion = "v1", kind = "ConfigMap", metadata.name = name, data.n = if auto { "a" } else { "b" } }
}

//- app.kdep
import web

app checkout = web.Web {
    name = "checkout"
    replicas = 3
}
"#,
    );
    let built = kdep_eval::build(&fx.db, fx.project, None);
    assert!(built.diagnostics.is_empty(), "{}", fx.render(&built.diagnostics));
    let dep = built.manifests.iter().find(|m| m.kind == "Deployment").unwrap();
    let entry = dep.object.get("spec").and_then(|s| s.as_map()).unwrap().get_entry("replicas").unwrap();
    assert_eq!(entry.origin.layer, Layer::App { app: "checkout".into() });
    // A branch that is not a field read stays computed.
    let cm = built.manifests.iter().find(|m| m.kind == "ConfigMap").unwrap();
    let entry = cm.object.get("data").and_then(|s| s.as_map()).unwrap().get_entry("n").unwrap();
    assert_eq!(entry.origin.layer, Layer::Computed);
}

/// Entries of an emitted object whose value is a bare name read the instance's computed slot
/// in one lookup (`Eval::member_entry`). The attack on that shortcut: a field keeps its own
/// origin (the app's layer and line), a `let` is computed at the entry that reads it (not the
/// let's own slot origin, which has no line), a comprehension's variable named like a field is
/// the variable, and a dotted key reads the same way as a plain one.
#[test]
fn bare_names_in_emitted_entries_read_fields_lets_and_locals_as_themselves() {
    let fx = load(
        TestDb::default(),
        r#"
//- web.kdep
template Web {
    name: string
    port: int = 8080
    let labels = { app = name }
    emit {
        apiVersion = "v1"
        kind = "Service"
        metadata = { name = name, labels = labels }
        spec.selector = labels
        spec.ports = [{ port = port, name = "p${port}" } for port in [81, 82]]
    }
    emit { apiVersion = "v1", kind = "Service", metadata.name = "${name}-b", spec.ports = [{ port = port }] }
}

//- app.kdep
import web

app checkout = web.Web {
    name = "checkout"
}
"#,
    );
    let built = kdep_eval::build(&fx.db, fx.project, None);
    assert!(built.diagnostics.is_empty(), "{}", fx.render(&built.diagnostics));
    let text = |e: &kdep_eval::value::Entry| {
        e.origin.span.and_then(|s| {
            let s = fx.resolve(s);
            let (path, file) = fx.files.get(s.file.0 as usize)?;
            Some(format!("{path}:{}", file.text(&fx.db).get(s.range.as_usize_range())?))
        })
    };
    let svc = &built.manifests[0].object;
    let metadata = svc.get("metadata").and_then(|m| m.as_map()).unwrap();
    let name = metadata.get_entry("name").unwrap();
    assert_eq!(name.origin.layer, Layer::App { app: "checkout".into() });
    assert_eq!(text(name).as_deref(), Some("app.kdep:name = \"checkout\""));
    let labels = metadata.get_entry("labels").unwrap();
    assert_eq!(labels.origin.layer, Layer::Computed);
    assert_eq!(text(labels).as_deref(), Some("web.kdep:labels = labels"));
    let spec = svc.get("spec").and_then(|m| m.as_map()).unwrap();
    let selector = spec.get_entry("selector").unwrap();
    assert_eq!(selector.origin.layer, Layer::Computed);
    assert_eq!(text(selector).as_deref(), Some("web.kdep:spec.selector = labels"));
    let ports: Vec<String> = spec
        .get("ports")
        .and_then(|p| p.as_list())
        .unwrap()
        .iter()
        .map(|p| {
            let port = p.as_map().unwrap().get_entry("port").unwrap();
            format!("{} {:?} {:?}", p, port.origin.layer, text(port))
        })
        .collect();
    assert_eq!(
        ports,
        [
            "{ port = 81, name = \"p81\" } Computed Some(\"web.kdep:port = port\")",
            "{ port = 82, name = \"p82\" } Computed Some(\"web.kdep:port = port\")"
        ]
    );
    let other = &built.manifests[1].object;
    let port = other.get_path(&["spec", "ports"]).and_then(|p| p.as_list()).unwrap()[0].as_map().unwrap();
    let port = port.get_entry("port").unwrap();
    assert_eq!(port.value, kdep_eval::value::Value::Int(8080));
    assert_eq!(port.origin.layer, Layer::TemplateDefault { template: "web.Web".into() });
    assert_eq!(text(port).as_deref(), Some("web.kdep:8080"));
}
