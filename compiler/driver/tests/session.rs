//! The editable session: edits, added and removed modules and snapshots give what a fresh
//! load of the same files gives, and a snapshot is cancelled by an edit instead of reading half of it.

use std::path::Path;

use kdep_compiler::{Change, MemoryFs, Session, Workspace};

const FIXTURE: &str = "\
//- /ws/platform/kdep.toml
[package]
name = \"platform\"
version = \"1.0.0\"
//- /ws/platform/web.kdep
template Web {
    name: string
    replicas: int(1..5) = 2
    locked port = 8080
}
//- /ws/shop/kdep.toml
[package]
name = \"shop\"
version = \"0.1.0\"
[dependencies]
platform = { path = \"../platform\" }
//- /ws/shop/app.kdep
import platform.web

app checkout = web.Web {
    name = \"checkout\"
}
";

fn codes(session: &Session) -> Vec<String> {
    session.check().iter().map(|d| format!("{} {}", d.code.id, d.message)).collect()
}

fn load(fs: &MemoryFs) -> Session {
    Workspace::load(fs, Path::new("/ws/shop")).expect("loads")
}

#[test]
fn edits_give_what_a_fresh_load_gives() {
    let fs = MemoryFs::from_fixture(FIXTURE);
    let mut session = load(&fs);
    assert_eq!(codes(&session), Vec::<String>::new());
    let app = session.file_id(Path::new("/ws/shop/app.kdep")).expect("app.kdep is loaded");
    let edited = "import platform.web\n\napp checkout = web.Web {\n    name = \"checkout\"\n    port = 1\n}\n";
    assert_eq!(session.set_text(app, edited), Change::Applied);
    assert_eq!(session.set_text(app, edited), Change::Unchanged);

    let mut fresh_fs = fs.clone();
    fresh_fs.insert("/ws/shop/app.kdep", edited);
    let fresh = load(&fresh_fs);
    assert_eq!(codes(&session), codes(&fresh));
    assert_eq!(codes(&session), ["K0301 `port` is locked by template `platform.web.Web`"]);
    // The renderers read the edited text (from salsa), not the text loaded from disk.
    let sources = session.sources(None);
    assert_eq!(kdep_compiler::diag::render::Sources::text(&sources, app), edited);
}

#[test]
fn the_stdlib_and_dependencies_outside_the_session_are_not_editable() {
    let fs = MemoryFs::from_fixture(FIXTURE);
    let mut session = load(&fs);
    let std_file = session.loaded().files.iter().find(|f| f.module == "std.workloads").map(|f| f.id).expect("stdlib");
    assert_eq!(session.set_text(std_file, "garbage {"), Change::NotInSession);
    assert_eq!(session.add_file(Path::new("/elsewhere/x.kdep"), "let x = 1\n"), Change::NotInSession);
    assert_eq!(session.add_file(Path::new("/ws/shop/notes.txt"), "hi"), Change::NotInSession);
    assert_eq!(session.add_file(Path::new("/ws/shop/.hidden.kdep"), "let x = \n"), Change::NotInSession);
}

#[test]
fn modules_added_and_removed_on_disk() {
    let fs = MemoryFs::from_fixture(FIXTURE);
    let mut session = load(&fs);
    let app = session.file_id(Path::new("/ws/shop/app.kdep")).expect("loaded");
    let importing = "import platform.web\nimport extra.more\n\napp checkout = web.Web {\n    name = more.n\n}\n";
    session.set_text(app, importing);
    assert_eq!(codes(&session).len(), 1, "{:?}", codes(&session));
    assert!(codes(&session)[0].starts_with("K0101"), "{:?}", codes(&session));

    let more = Path::new("/ws/shop/extra/more.kdep");
    assert_eq!(session.add_file(more, "let n = \"checkout\"\n"), Change::Applied);
    assert_eq!(codes(&session), Vec::<String>::new());

    // A new module in the dependency package is visible to importers too.
    let web2 = Path::new("/ws/platform/web2.kdep");
    assert_eq!(session.add_file(web2, "let y = 1\n"), Change::Applied);
    let display = session.loaded().files.iter().find(|f| f.abs_path == web2).map(|f| f.display_path.clone());
    assert_eq!(display.as_deref(), Some("platform/web2.kdep"));

    assert_eq!(session.remove_file(more), Change::Applied);
    assert!(codes(&session)[0].starts_with("K0101"), "{:?}", codes(&session));
    assert_eq!(session.remove_file(more), Change::Unchanged);
    // Created again: back in the package, under the same id.
    let id = session.file_id(more);
    assert_eq!(session.add_file(more, "let n = \"checkout\"\n"), Change::Applied);
    assert_eq!(session.file_id(more), id);
    assert_eq!(codes(&session), Vec::<String>::new());
}

#[test]
fn an_edit_cancels_a_snapshot_that_is_reading() {
    let fs = MemoryFs::from_fixture(FIXTURE);
    let mut session = load(&fs);
    let app = session.file_id(Path::new("/ws/shop/app.kdep")).expect("loaded");
    let snapshot = session.snapshot();
    assert_eq!(snapshot.check().len(), 0);
    let reader = std::thread::spawn(move || {
        // Keeps asking until the edit below cancels it; salsa unwinds with `Cancelled`.
        salsa::Cancelled::catch(std::panic::AssertUnwindSafe(|| loop {
            let _ = snapshot.check();
        }))
    });
    session.set_text(app, "app broken = {\n");
    let result: Result<(), salsa::Cancelled> = reader.join().expect("the reader does not panic");
    assert!(result.is_err(), "the reader was cancelled");
    assert!(!codes(&session).is_empty());
}

/// `check` is the union of `check_by_file`'s parts; a file's first part (what the editor
/// publishes right after an edit) is its own diagnostics without the duplicate objects, which
/// come in the file's second part.
#[test]
fn check_is_the_union_of_its_parts_by_file() {
    let fixture = FIXTURE.replace(
        "    locked port = 8080\n}",
        "    locked port = 8080\n    emit {\n        apiVersion = \"v1\"\n        kind = \"ConfigMap\"\n        metadata.name = name\n    }\n}",
    ) + "//- /ws/shop/cart.kdep\nimport platform.web\n\napp cart = web.Web {\n    name = \"checkout\"\n    port = 1\n}\n";
    let fs = MemoryFs::from_fixture(&fixture);
    let session = load(&fs);
    let snap = session.snapshot();
    let whole = snap.check();
    let ids = |diags: &[kdep_compiler::diag::Diagnostic]| diags.iter().map(|d| d.code.id).collect::<Vec<_>>();
    assert_eq!(ids(&whole), ["K0407", "K0301"], "{whole:#?}");

    let (rest, files) = snap.check_by_file();
    let mut union: Vec<_> = rest;
    for (_, part) in &files {
        union.extend(part.own.iter().cloned());
        union.extend(part.duplicates.iter().cloned());
    }
    kdep_compiler::diag::normalize(&mut union);
    assert_eq!(union, whole);

    let cart = session.file_id(Path::new("/ws/shop/cart.kdep")).expect("cart.kdep is loaded");
    let first = snap.check_file_first(cart).expect("cart.kdep is analysed");
    assert_eq!(ids(&first), ["K0301"]);
    let (_, part) = files.iter().find(|(f, _)| *f == cart).expect("cart.kdep has a part");
    assert_eq!(ids(&part.duplicates), ["K0407"]);
    assert_eq!(part.own, first);
}

/// The run's cache of checked constant records (`ConformCache` in `kdep_eval::interp`) must not
/// hide from salsa what a check read. Two apps emit the same constant map, checked against a
/// schema whose nested field's schema lives in another module: the second app's check reuses
/// the first one's record. When that nested schema is edited so the map no longer fits, an
/// edited session must report both apps, as a fresh load does.
#[test]
fn an_edit_to_a_nested_schema_reaches_every_app_that_reused_a_checked_record() {
    let fixture = "\
//- /ws/shop/kdep.toml
[package]
name = \"shop\"
version = \"0.1.0\"
//- /ws/shop/inner.kdep
schema Opts {
    level: int(1..5)
}
//- /ws/shop/mini.kdep
import inner

schema Probe {
    path: string
    opts: inner.Opts?
}

schema Meta {
    name: string
}

@resource(apiVersion = \"v1\", kind = \"Thing\", scope = \"Namespaced\")
schema Thing {
    metadata: Meta
    probe: Probe?
}
//- /ws/shop/web.kdep
template Web {
    name: string
    let health = { path = \"/healthz\", opts = { level = 3 } }

    emit {
        apiVersion = \"v1\"
        kind = \"Thing\"
        metadata.name = name
        probe = health
    }
}
//- /ws/shop/a.kdep
import web

app a = web.Web { name = \"a\" }
//- /ws/shop/b.kdep
import web

app b = web.Web { name = \"b\" }
//- /ws/shop/c.kdep
import web

app c = web.Web { name = \"c\" }
";
    let fs = MemoryFs::from_fixture(fixture);
    let mut session = load_at(&fs, "/ws/shop");
    assert_eq!(codes(&session), Vec::<String>::new());
    // Both runs before the edit, as an editor does: the per-file check, then the whole.
    let _ = session.snapshot().check_by_file();
    let inner = session.file_id(Path::new("/ws/shop/inner.kdep")).expect("inner.kdep is loaded");
    let narrowed = "schema Opts {\n    level: int(1..2)\n}\n";
    assert_eq!(session.set_text(inner, narrowed), Change::Applied);

    let mut fresh_fs = fs.clone();
    fresh_fs.insert("/ws/shop/inner.kdep", narrowed);
    let fresh = load_at(&fresh_fs, "/ws/shop");
    // Per file: `check` shows one diagnostic at the template's literal, whichever app found it.
    let per_app = |session: &Session| -> Vec<(String, usize)> {
        let (_, files) = session.snapshot().check_by_file();
        let mut out: Vec<(String, usize)> = files
            .iter()
            .filter_map(|(id, part)| {
                let path = session.loaded().files.iter().find(|f| f.id == *id)?.display_path.clone();
                Some((path, part.own.iter().filter(|d| d.code.id == "K0204").count()))
            })
            .filter(|(path, _)| ["a.kdep", "b.kdep", "c.kdep"].contains(&path.rsplit('/').next().unwrap_or_default()))
            .collect();
        out.sort();
        out
    };
    let expected: Vec<(String, usize)> = ["a.kdep", "b.kdep", "c.kdep"].iter().map(|n| (n.to_string(), 1)).collect();
    assert_eq!(per_app(&fresh), expected);
    assert_eq!(per_app(&session), expected);
}

/// The parts of an emitted object proven to conform from declared types are planned once per
/// template (`typeck::emit_plans`): an edit to the template's field type or to the schema must
/// re-plan, or a value the edit lets through (or a schema the edit tightens) would go unchecked.
#[test]
fn an_edit_to_a_field_type_or_a_schema_replans_the_emitted_objects() {
    let mini = |range: &str| {
        format!(
            "schema Meta {{\n    name: string\n}}\n\nschema Spec {{\n    replicas: int({range})?\n}}\n\n\
             @resource(apiVersion = \"v1\", kind = \"Thing\", scope = \"Namespaced\")\n\
             schema Thing {{\n    metadata: Meta\n    spec: Spec?\n}}\n"
        )
    };
    let web = |range: &str| {
        format!(
            "template Web {{\n    name: string\n    replicas: int({range}) = 2\n    emit {{\n        \
             apiVersion = \"v1\"\n        kind = \"Thing\"\n        metadata.name = name\n        \
             spec = {{ replicas = replicas }}\n    }}\n}}\n"
        )
    };
    let app = |n: u32| format!("import web\n\napp a = web.Web {{ name = \"a\", replicas = {n} }}\n");
    let mut fs = MemoryFs::new();
    fs.insert("/ws/shop/kdep.toml", "[package]\nname = \"shop\"\nversion = \"0.1.0\"\n");
    fs.insert("/ws/shop/mini.kdep", mini("0..10"));
    fs.insert("/ws/shop/web.kdep", web("1..5"));
    fs.insert("/ws/shop/a.kdep", app(4));
    let mut session = load_at(&fs, "/ws/shop");
    assert_eq!(codes(&session), Vec::<String>::new());
    let _ = session.snapshot().check_by_file();
    let id = |session: &Session, name: &str| {
        session.file_id(Path::new(&format!("/ws/shop/{name}"))).expect("the file is loaded")
    };
    let fresh = |files: [(&str, String); 3]| {
        let mut fs = fs.clone();
        for (name, text) in files {
            fs.insert(format!("/ws/shop/{name}"), text);
        }
        codes(&load_at(&fs, "/ws/shop"))
    };

    // The template's type widens (4 still fits the schema), then the app sets 40, which does not.
    assert_eq!(session.set_text(id(&session, "web.kdep"), &web("1..50")), Change::Applied);
    assert_eq!(codes(&session), Vec::<String>::new());
    assert_eq!(session.set_text(id(&session, "a.kdep"), &app(40)), Change::Applied);
    let expected = fresh([("mini.kdep", mini("0..10")), ("web.kdep", web("1..50")), ("a.kdep", app(40))]);
    assert_eq!(codes(&session), expected);
    assert_eq!(expected, ["K0204 `replicas` is 40, outside the allowed range 0..10"]);

    // Back to 4 and to the proven `int(1..5)`, then the schema tightens below 4.
    assert_eq!(session.set_text(id(&session, "a.kdep"), &app(4)), Change::Applied);
    assert_eq!(session.set_text(id(&session, "web.kdep"), &web("1..5")), Change::Applied);
    assert_eq!(codes(&session), Vec::<String>::new());
    assert_eq!(session.set_text(id(&session, "mini.kdep"), &mini("0..3")), Change::Applied);
    let expected = fresh([("mini.kdep", mini("0..3")), ("web.kdep", web("1..5")), ("a.kdep", app(4))]);
    assert_eq!(codes(&session), expected);
    assert_eq!(expected, ["K0204 `replicas` is 4, outside the allowed range 0..3"]);
}

fn load_at(fs: &MemoryFs, root: &str) -> Session {
    Workspace::load(fs, Path::new(root)).expect("loads")
}
