//! A build reads each app file's own facts once, as plain functions (no per-app memo), and
//! keeps a per-thread table of the shared values it read (emit plans and rules) for the rest
//! of the build: nothing of it may outlive the build's revision, reach a tracked query, or
//! change what is reported.

mod common;

use common::{load, Fixture, TestDb};
use kdep_eval::value::Value;
use salsa::Setter;

const FIXTURE: &str = r#"
//! permissions root: namespaces=batch
//- lib/values.kdep
let replicas = 2

//- environments.kdep
environment prod { namespace = "shop" }

//- platform/web.kdep
import lib.values

template Web {
    name: string
    size: int(1..50) = values.replicas
    emit {
        apiVersion = "v1"
        kind = "ConfigMap"
        metadata.name = name
        metadata.namespace = "batch"
        data.size = "${size}"
    }
}

//- apps/a.kdep
import platform.web

app a = web.Web {
    name = "a"
}

//- apps/b.kdep
import platform.web

app b = web.Web {
    name = "b"
    size = 7
}
"#;

/// `data.size` of the object app `name` emits, from a build.
fn built_size(fx: &Fixture, app: &str) -> Option<String> {
    let built = kdep_eval::build(&fx.db, fx.project, None);
    assert!(built.diagnostics.is_empty(), "{}", fx.render(&built.diagnostics));
    let m = built.manifests.iter().find(|m| m.app == app)?;
    match m.object.get("data").and_then(|d| d.get("size")) {
        Some(Value::Str(s)) => Some(s.to_string()),
        _ => None,
    }
}

/// `data.size` of app `name` of `file` as the editor evaluates it (the memoised `eval_app`).
fn editor_size(fx: &Fixture, file: &str, app: &str) -> Option<String> {
    let out = kdep_eval::app::eval_app(&fx.db, fx.project, fx.file(file), app.into(), None);
    match out.objects.first().and_then(|m| m.object.get("data").and_then(|d| d.get("size")).cloned()) {
        Some(Value::Str(s)) => Some(s.to_string()),
        _ => None,
    }
}

fn edit(fx: &mut Fixture, file: &str, from: &str, to: &str) {
    let f = fx.file(file);
    let text = f.text(&fx.db).replace(from, to);
    assert_ne!(&text, f.text(&fx.db), "the edit must change `{file}`");
    f.set_text(&mut fx.db).to(text);
}

/// After a build, an edit of an app file, of the template it instantiates and of a module `let`
/// the template reads each reach the editor's queries (`eval_app`, `file_diagnostics`) and the
/// next build, on one thread and on two. A build that kept its per-file facts or its table of
/// shared reads past its revision, or an editor query that read them (a bypass of salsa inside
/// a tracked query), would give an old value here.
#[test]
fn edits_after_a_build_reach_the_editor_and_the_next_build() {
    for threads in [1, 2] {
        let mut fx = load(TestDb::parallel(threads), FIXTURE);
        // The editor first, then a build, so its memos are older than the build's reads.
        assert_eq!(editor_size(&fx, "apps/a.kdep", "a").as_deref(), Some("2"));
        assert_eq!(built_size(&fx, "a").as_deref(), Some("2"));
        assert_eq!(built_size(&fx, "b").as_deref(), Some("7"));

        // The app file.
        edit(&mut fx, "apps/b.kdep", "size = 7", "size = 8");
        assert_eq!(built_size(&fx, "b").as_deref(), Some("8"));
        assert_eq!(editor_size(&fx, "apps/b.kdep", "b").as_deref(), Some("8"));

        // The module `let` the template's default reads.
        edit(&mut fx, "lib/values.kdep", "let replicas = 2", "let replicas = 3");
        assert_eq!(editor_size(&fx, "apps/a.kdep", "a").as_deref(), Some("3"));
        assert_eq!(built_size(&fx, "a").as_deref(), Some("3"));

        // The template: a new default, then an emit that names another kind.
        edit(&mut fx, "platform/web.kdep", "= values.replicas", "= values.replicas + 10");
        assert_eq!(built_size(&fx, "a").as_deref(), Some("13"));
        assert_eq!(editor_size(&fx, "apps/a.kdep", "a").as_deref(), Some("13"));
        edit(&mut fx, "platform/web.kdep", "kind = \"ConfigMap\"", "kind = \"Settings\"");
        let built = kdep_eval::build(&fx.db, fx.project, None);
        assert!(built.manifests.iter().all(|m| m.kind == "Settings"), "{:?}", built.manifests);

        // The app's own checks follow the app file: a field the template does not have.
        edit(&mut fx, "apps/a.kdep", "name = \"a\"", "name = \"a\"\n    colour = 1");
        let codes = |d: &[kdep_diag::Diagnostic]| d.iter().map(|d| d.code.id).collect::<Vec<_>>();
        let in_editor = kdep_eval::file_diagnostics(&fx.db, fx.project, fx.file("apps/a.kdep"));
        assert_eq!(codes(&in_editor), ["K0202"], "{}", fx.render(&in_editor));
        let built = kdep_eval::build(&fx.db, fx.project, None);
        assert_eq!(codes(&built.diagnostics), ["K0202"], "{}", fx.render(&built.diagnostics));
        assert_eq!(fx.render(&built.diagnostics), fx.render(&in_editor));
    }
}

/// The emit rules a build reads once per thread (`kdep_eval`'s table of shared reads) are those
/// of its own revision: a package that loses the right to write namespace `batch` between two
/// builds in `prod` (namespace `shop`) on the same thread gets the error from the second, and the objects back from a
/// third once the right is given again. A table that outlived its build (never emptied, or read
/// without checking which build filled it) would still hold the first build's rules. The same
/// through the batched build, whose batches of one file each start their threads afresh. And
/// the editor's check, whose per-app evaluation is a tracked query: one that read the table
/// (a bypass of salsa) would not be re-run by the edit, and keep the first answer.
#[test]
fn a_build_reads_the_emit_rules_of_its_own_revision() {
    let mut fx = load(TestDb::default(), FIXTURE);
    let root = fx.project.root(&fx.db);
    let allowed = root.permissions(&fx.db).clone();
    let codes = |fx: &mut Fixture, batched: bool| {
        let diags = if batched {
            let batching = kdep_eval::Batching { files: Some(1), ..Default::default() };
            let format = kdep_eval::emit::Format::Yaml;
            kdep_eval::build_rendered_in_batches(&mut fx.db, fx.project, Some("prod"), format, batching).diagnostics
        } else {
            kdep_eval::build(&fx.db, fx.project, Some("prod")).diagnostics
        };
        diags.iter().map(|d| d.code.id.to_owned()).collect::<Vec<_>>()
    };
    // What the editor reports for app `a` (its check evaluates it in `prod` too).
    let editor = |fx: &Fixture| {
        let diags = kdep_eval::file_diagnostics(&fx.db, fx.project, fx.file("apps/a.kdep"));
        diags.iter().map(|d| d.code.id.to_owned()).collect::<Vec<_>>()
    };
    for batched in [false, true] {
        assert!(codes(&mut fx, batched).is_empty());
        assert!(editor(&fx).is_empty());
        root.set_permissions(&mut fx.db).to(Default::default());
        let denied = codes(&mut fx, batched);
        assert_eq!(denied.len(), 2, "{denied:?}");
        assert!(denied.iter().all(|c| c == "K0313"), "{denied:?}");
        assert_eq!(editor(&fx), ["K0313"]);
        root.set_permissions(&mut fx.db).to(allowed.clone());
        assert!(codes(&mut fx, batched).is_empty());
        assert!(editor(&fx).is_empty());
    }
}

/// Apps with errors of every stage (unknown and missing fields and a locked override, caught
/// statically; a value out of range and a failed check, caught by evaluation; `env` read with
/// no environment): `build`, `check` and the union of the editor's `file_diagnostics` report
/// the same diagnostics in the same order, on one thread and on two.
#[test]
fn build_check_and_the_editor_report_the_same_app_errors() {
    let text = r#"
//- platform/web.kdep
template Web {
    name: string
    replicas: int(1..5) = 2
    locked team: string = "core"
    ratio: int = 1
    check replicas * ratio < 20
    emit { apiVersion = "v1", kind = "ConfigMap", metadata.name = name, data.n = "${replicas * ratio}" }
}

template Env {
    name: string
    emit { apiVersion = "v1", kind = "ConfigMap", metadata.name = "${name}-${env.name}" }
}

//- apps/a.kdep
import platform.web

app unknown = web.Web {
    name = "unknown"
    colour = "blue"
}

app missing = web.Web {
    replicas = 3
}

app locked = web.Web {
    name = "locked"
    team = "other"
}

//- apps/b.kdep
import platform.web

app computed = web.Web {
    name = "computed"
    replicas = 2 + 4
}

app failed = web.Web {
    name = "failed"
    replicas = 4
    ratio = 5
}

app fine = web.Web {
    name = "fine"
}

app envless = web.Env {
    name = "envless"
}
"#;
    for threads in [1, 2] {
        let fx = load(TestDb::parallel(threads), text);
        let built = kdep_eval::build(&fx.db, fx.project, None).diagnostics;
        let checked = kdep_eval::check(&fx.db, fx.project);
        let mut edited: Vec<_> =
            fx.files.iter().flat_map(|(_, f)| kdep_eval::file_diagnostics(&fx.db, fx.project, *f)).collect();
        kdep_eval::finish_diagnostics(&fx.db, fx.project, &mut edited);
        let codes: Vec<&str> = built.iter().map(|d| d.code.id).collect();
        assert_eq!(codes, ["K0210", "K0506", "K0202", "K0203", "K0301", "K0204"], "{}", fx.render(&built));
        assert_eq!(fx.render(&built), fx.render(&checked));
        assert_eq!(fx.render(&built), fx.render(&edited));
        assert_eq!(built, checked);
    }
}
