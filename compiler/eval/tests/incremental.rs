//! Incrementality: editing the body of one template re-runs only the queries that depend on it.

mod common;

use common::{load, TestDb};
use salsa::Setter;

const FIXTURE: &str = r#"
//- platform/web.kdep
template WebService {
    name: string
    replicas: int(1..20) = 2
    emit { apiVersion = "apps/v1", kind = "Deployment", metadata.name = name, spec.replicas = replicas }
}

//- platform/worker.kdep
template Worker {
    name: string
    emit { apiVersion = "v1", kind = "ConfigMap", metadata.name = name }
}

//- apps/a.kdep
import platform.web

app a = web.WebService {
    name = "a"
}

//- apps/b.kdep
import platform.worker

app b = worker.Worker {
    name = "b"
}
"#;

fn executed(log: &[String], query: &str) -> usize {
    log.iter().filter(|l| l.starts_with(&format!("{query}("))).count()
}

#[test]
fn editing_a_template_body_reruns_only_its_dependents() {
    let mut fx = load(TestDb::with_log(), FIXTURE);
    let first = kdep_eval::check(&fx.db, fx.project);
    assert!(first.is_empty(), "{}", fx.render(&first));

    let web = fx.file("platform/web.kdep");
    let edited = web.text(&fx.db).replace("= 2", "= 3");
    fx.db.start_log();
    web.set_text(&mut fx.db).to(edited);
    let second = kdep_eval::check(&fx.db, fx.project);
    let log = fx.db.take_log();
    assert!(second.is_empty(), "{}", fx.render(&second));

    // The edited file is re-parsed and lowered, and its item index recomputed (and found
    // equal); no other file's index, lowering or parse runs again.
    assert_eq!(executed(&log, "file_hir"), 1, "{log:#?}");
    assert_eq!(executed(&log, "item_index"), 1, "{log:#?}");
    // Queries depending only on item indexes are not re-run: the firewall held.
    assert_eq!(executed(&log, "file_imports"), 0, "{log:#?}");
    assert_eq!(executed(&log, "import_cycles"), 0, "{log:#?}");
    assert_eq!(executed(&log, "environment_index"), 0, "{log:#?}");
    // Only the edited template's model is rebuilt, not `Worker`'s.
    assert_eq!(executed(&log, "template_result"), 1, "{log:#?}");
    // Only app `a` (which instantiates the edited template) is re-evaluated, by the check's
    // query that keeps diagnostics and object identities, not values.
    assert_eq!(executed(&log, "app_check"), 1, "{log:#?}");
    assert_eq!(executed(&log, "eval_app"), 0, "{log:#?}");
    assert_eq!(executed(&log, "app_diagnostics"), 1, "{log:#?}");

    let a = fx.file("apps/a.kdep");
    let out = kdep_eval::app::eval_app(&fx.db, fx.project, a, "a".into(), None);
    let replicas = out.objects.first().and_then(|m| m.object.get("spec").and_then(|s| s.get("replicas")).cloned());
    assert_eq!(replicas, Some(kdep_eval::value::Value::Int(3)));
}

#[test]
fn modules_nobody_imports_are_never_analysed() {
    let fx = load(
        TestDb::with_log(),
        r#"
//- std:k8s/unused.kdep
schema Broken { this is not kdep
//- std:k8s/core/v1.kdep
schema ConfigMap {
    locked apiVersion: string = "v1"
    locked kind: string = "ConfigMap"
    metadata: any
    data: {string: string} = {}
}
//- app.kdep
import k8s.core.v1 as core

template T {
    name: string
    emit core.ConfigMap { metadata.name = name }
}

app a = T {
    name = "a"
}
"#,
    );
    fx.db.start_log();
    let diags = kdep_eval::check(&fx.db, fx.project);
    assert!(diags.is_empty(), "{}", fx.render(&diags));
    let built = kdep_eval::build(&fx.db, fx.project, None);
    assert_eq!(built.manifests.len(), 1);
    // Two files lowered: the app and the imported module, not the broken unused one.
    assert_eq!(executed(&fx.db.take_log(), "file_hir"), 2);
}

/// The kind registry reads item indexes only: editing the body of a `@resource` schema leaves
/// it alone, changing the attribute (the header) rebuilds it, and the new scope takes effect.
#[test]
fn the_kind_registry_depends_on_headers_only() {
    let mut fx = load(
        TestDb::with_log(),
        r#"
//- kinds.kdep
@resource(apiVersion = "v1", kind = "Namespace", scope = "Cluster")
schema Namespace {
    metadata: {string: any}
    note: string?
}

//- apps.kdep
template Tenant {
    emit { apiVersion = "v1", kind = "Namespace", metadata.name = "t" }
}
environment prod { namespace = "shop" }
app t = Tenant {}
"#,
    );
    let namespace_of = |fx: &common::Fixture| {
        let built = kdep_eval::build(&fx.db, fx.project, Some("prod"));
        assert!(built.diagnostics.is_empty(), "{}", fx.render(&built.diagnostics));
        built.manifests.first().map(|m| m.namespace.clone())
    };
    assert_eq!(namespace_of(&fx), Some(None));

    let kinds = fx.file("kinds.kdep");
    let body_edit = kinds.text(&fx.db).replace("note: string?", "note: string? = \"x\"");
    fx.db.start_log();
    kinds.set_text(&mut fx.db).to(body_edit);
    assert_eq!(namespace_of(&fx), Some(None));
    let log = fx.db.take_log();
    assert_eq!(executed(&log, "item_index"), 1, "{log:#?}");
    assert_eq!(executed(&log, "resource_registry"), 0, "{log:#?}");

    let header_edit = kinds.text(&fx.db).replace("\"Cluster\"", "\"Namespaced\"");
    fx.db.start_log();
    kinds.set_text(&mut fx.db).to(header_edit);
    assert_eq!(namespace_of(&fx), Some(Some("shop".to_string())));
    let log = fx.db.take_log();
    assert_eq!(executed(&log, "resource_registry"), 1, "{log:#?}");
}

/// The set-up the two typing tests share: two templates in one file, the second with a
/// default outside its range (the one diagnostic, followed as the text around it moves).
const TWO_TEMPLATES: &str = r#"template WebService {
    name: string
    emit { apiVersion = "v1", kind = "ConfigMap", metadata.name = name }
}

template Worker {
    name: string
    replicas: int(1..5) = 9
    emit { apiVersion = "v1", kind = "Secret", metadata.name = name }
}
"#;

/// Apps `a` and `b` of [`TWO_TEMPLATES`]' templates, named through `module` (`web.` from
/// another file, nothing from the same one).
fn two_apps(module: &str) -> String {
    r#"app a = {module}WebService {
    name = "a"
}

app b = {module}Worker {
    name = "b"
    replicas = 2
}"#
    .replace("{module}", module)
}

/// The check's one diagnostic, rendered.
fn the_diagnostic(fx: &common::Fixture) -> String {
    let diags = kdep_eval::check(&fx.db, fx.project);
    let rendered = fx.render(&diags);
    assert_eq!(diags.len(), 1, "{rendered}");
    rendered
}

/// The line a rendered report gives for `file`.
fn line_in(rendered: &str, file: &str) -> Option<String> {
    rendered.split(&format!("{file}:")).nth(1).and_then(|s| s.split(':').next()).map(str::to_owned)
}

/// Two templates in one file: typing below both (or in a comment after them) lowers the file
/// again but rebuilds neither model and re-evaluates no app; typing above both moves the
/// diagnostics with the text (see `typing_above_two_templates_reruns_neither` for what re-runs).
#[test]
fn typing_below_two_templates_reruns_neither() {
    let fixture = format!(
        "\n//- platform/web.kdep\n{TWO_TEMPLATES}\n//- apps/a.kdep\nimport platform.web\n\n{}\n",
        two_apps("web.")
    );
    let mut fx = load(TestDb::with_log(), &fixture);
    let bad_default_line = |fx: &common::Fixture| line_in(&the_diagnostic(fx), "platform/web.kdep");
    fx.db.start_log();
    assert_eq!(bad_default_line(&fx).as_deref(), Some("8"));
    // The log names the queries counted below (so their zero counts mean something).
    let log = fx.db.take_log();
    assert_eq!(executed(&log, "template_model"), 2, "{log:#?}");
    assert!(executed(&log, "app_check") >= 2, "{log:#?}");

    let web = fx.file("platform/web.kdep");
    let below = format!("{}\n// notes for later\n", web.text(&fx.db));
    fx.db.start_log();
    web.set_text(&mut fx.db).to(below);
    assert_eq!(bad_default_line(&fx).as_deref(), Some("8"));
    let log = fx.db.take_log();
    assert_eq!(executed(&log, "file_hir"), 1, "{log:#?}");
    assert_eq!(executed(&log, "template_model"), 0, "{log:#?}");
    assert_eq!(executed(&log, "app_check"), 0, "{log:#?}");

    let above = format!("// The web platform.\n// Two templates.\n{}", web.text(&fx.db));
    web.set_text(&mut fx.db).to(above);
    assert_eq!(bad_default_line(&fx).as_deref(), Some("10"));
}

/// Two templates and an app using each in one file, below a `let`: text typed above them all
/// (comment lines, a longer `let`) changes the file offsets of everything in them, but their HIR
/// ranges are relative to each declaration (anchored, see `kdep_diag::anchor`), so neither
/// template's model is rebuilt and neither app is evaluated again. The diagnostics, resolved
/// through the file's anchor table where they leave the compiler, point at the shifted lines,
/// and so does each object's `kdep.dev/source`. (An app that reads a top-level `let` of an
/// edited file is evaluated again: `module_let_value` does not backdate.)
#[test]
fn typing_above_two_templates_reruns_neither() {
    let fixture = format!("\n//- web.kdep\nlet owners = [\"web\", \"platform\"]\n\n{TWO_TEMPLATES}\n{}", two_apps(""));
    let mut fx = load(TestDb::with_log(), &fixture);
    let line_of = |rendered: &str| line_in(rendered, "web.kdep");
    let sources = |fx: &common::Fixture| {
        let built = kdep_eval::build(&fx.db, fx.project, None);
        built.manifests.iter().map(|m| m.source_display.clone()).collect::<Vec<_>>()
    };
    fx.db.start_log();
    let before = the_diagnostic(&fx);
    assert_eq!(line_of(&before).as_deref(), Some("10"), "{before}");
    let log = fx.db.take_log();
    assert_eq!(executed(&log, "template_model"), 2, "{log:#?}");
    assert!(executed(&log, "app_check") >= 2, "{log:#?}");
    assert_eq!(sources(&fx), ["web.kdep:14", "web.kdep:18"]);

    let web = fx.file("web.kdep");
    let above = format!("// The web platform.\n// Two templates.\n{}", web.text(&fx.db))
        .replace("[\"web\", \"platform\"]", "[\"web\", \"platform\", \"sre\"]");
    fx.db.start_log();
    web.set_text(&mut fx.db).to(above);
    let after = the_diagnostic(&fx);
    let log = fx.db.take_log();
    assert_eq!(line_of(&after).as_deref(), Some("12"), "{after}");
    // The same report, two lines down, with the same source line in its excerpt.
    assert_eq!(before.replace("web.kdep:10:", "web.kdep:12:").replace("10 │", "12 │"), after);
    assert_eq!(executed(&log, "file_hir"), 1, "{log:#?}");
    assert_eq!(executed(&log, "file_anchors"), 1, "{log:#?}");
    assert_eq!(executed(&log, "template_model"), 0, "{log:#?}");
    assert_eq!(executed(&log, "app_check"), 0, "{log:#?}");
    assert_eq!(executed(&log, "eval_app"), 0, "{log:#?}");
    // The build reads the moved apps' lines at its last step.
    assert_eq!(sources(&fx), ["web.kdep:16", "web.kdep:20"]);
}

/// What an anchor cannot hold keeps file offsets, and is still reported at the right place: a
/// declaration longer than the anchored range (256 KiB) and declarations past the 1024th of
/// their kind in one file. Each has a bad default at its end; the report names its real line.
#[test]
fn declarations_an_anchor_cannot_hold_keep_file_offsets() {
    let big = "x".repeat(300 * 1024);
    let mut text = format!("//- big.kdep\nschema Big {{\n    blob: string = \"{big}\"\n    n: int(1..2) = 7\n}}\n");
    for i in 0..1100 {
        text.push_str(&format!("schema S{i} {{\n    n: int = 1\n}}\n"));
    }
    text.push_str("schema Last {\n    n: int(1..2) = 9\n}\n");
    let fx = load(TestDb::default(), &text);
    let diags = kdep_eval::check(&fx.db, fx.project);
    let rendered = fx.render(&diags);
    let lines: Vec<&str> = rendered.lines().filter(|l| l.contains("big.kdep:")).collect();
    // `Big` is too long to anchor; `Last` is the 1101st schema, past the ordinals an anchor has.
    assert_eq!(lines.len(), 2, "{rendered}");
    assert!(lines.iter().any(|l| l.contains("big.kdep:3:20 ")), "{rendered}");
    let last = 4 + 3 * 1100 + 2;
    assert!(lines.iter().any(|l| l.contains(&format!("big.kdep:{last}:20 "))), "{rendered}");
}
