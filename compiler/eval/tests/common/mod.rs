//! Test support: an in-memory salsa database, multi-file fixtures, diagnostic rendering.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kdep_diag::{Diagnostic, FileId};
use kdep_sema::db::{DependentRules, EmitPermissions, Package, Project, SourceFile};

/// A database that can record which queries executed.
#[salsa::db]
#[derive(Clone, Default)]
pub struct TestDb {
    storage: salsa::Storage<Self>,
    pub log: Arc<Mutex<Option<Vec<String>>>>,
    /// Worker threads `build` and `check` may use (1: everything on the caller's thread).
    pub threads: usize,
}

impl TestDb {
    pub fn with_log() -> Self {
        let log: Arc<Mutex<Option<Vec<String>>>> = Arc::new(Mutex::new(None));
        let sink = log.clone();
        TestDb {
            storage: salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
                if let salsa::EventKind::WillExecute { database_key } = event.kind {
                    if let Some(log) = sink.lock().expect("log lock").as_mut() {
                        log.push(format!("{database_key:?}"));
                    }
                }
            }))),
            log,
            threads: 1,
        }
    }

    /// A database that calls `on_event` for every salsa event (on the thread that caused it).
    pub fn with_events(on_event: impl Fn(&salsa::Event) + Send + Sync + 'static) -> Self {
        TestDb {
            storage: salsa::Storage::new(Some(Box::new(move |event: salsa::Event| on_event(&event)))),
            log: Arc::default(),
            threads: 1,
        }
    }

    pub fn parallel(threads: usize) -> Self {
        TestDb { threads, ..TestDb::default() }
    }

    pub fn start_log(&self) {
        *self.log.lock().expect("log lock") = Some(Vec::new());
    }

    pub fn take_log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").replace(Vec::new()).unwrap_or_default()
    }
}

#[salsa::db]
impl salsa::Database for TestDb {}

#[salsa::db]
impl kdep_sema::Db for TestDb {
    fn parallelism(&self) -> usize {
        self.threads
    }

    fn fork(&self) -> Option<Box<dyn kdep_sema::Db + Send>> {
        (self.threads > 1).then(|| Box::new(self.clone()) as Box<dyn kdep_sema::Db + Send>)
    }
}

/// A loaded fixture: files by display path, the project, and render sources.
pub struct Fixture {
    pub db: TestDb,
    pub project: Project,
    pub files: Vec<(String, SourceFile)>,
    pub directives: BTreeMap<String, String>,
}

/// Splits `//- path` sections. `pkg:path/to/file.kdep` puts a file into dependency package
/// `pkg` (the root package depends on every such package under its name). Lines `//! key: value`
/// before the first section are directives.
pub fn load(db: TestDb, text: &str) -> Fixture {
    let mut sections: Vec<(String, String)> = Vec::new();
    let mut directives = BTreeMap::new();
    for line in text.split_inclusive('\n') {
        if let Some(path) = line.strip_prefix("//- ") {
            sections.push((path.trim().to_string(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
        } else if let Some(d) = line.strip_prefix("//! ") {
            if let Some((k, v)) = d.split_once(':') {
                directives.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
    }
    let mut root_modules = BTreeMap::new();
    let mut deps: BTreeMap<String, BTreeMap<String, SourceFile>> = BTreeMap::new();
    let mut std_modules = BTreeMap::new();
    let mut files = Vec::new();
    for (i, (path, body)) in sections.into_iter().enumerate() {
        let (pkg, rel) = match path.split_once(':') {
            Some((p, r)) => (Some(p.to_string()), r.to_string()),
            None => (None, path.clone()),
        };
        let display = match &pkg {
            Some(p) => format!("{p}/{rel}"),
            None => rel.clone(),
        };
        let file = SourceFile::new(&db, FileId(i as u32), display.clone(), body);
        let module = rel.trim_end_matches(".kdep").replace('/', ".");
        match pkg.as_deref() {
            Some("std") => {
                std_modules.insert(module, file);
            }
            Some(p) => {
                deps.entry(p.to_string()).or_default().insert(module, file);
            }
            None => {
                root_modules.insert(module, file);
            }
        }
        files.push((display, file));
    }
    // `//! deps team: platform, other` makes dependency package `team` depend on the others
    // (created in dependency order, so only edges to packages declared earlier are possible).
    let mut dep_pkgs: BTreeMap<String, Package> = BTreeMap::new();
    let mut pending: Vec<(String, BTreeMap<String, SourceFile>)> = deps.into_iter().collect();
    while !pending.is_empty() {
        let before = pending.len();
        pending.retain(|(name, modules)| {
            let wanted: Vec<String> = directives
                .get(&format!("deps {name}"))
                .map(|v| v.split(',').map(|d| d.trim().to_string()).filter(|d| !d.is_empty()).collect())
                .unwrap_or_default();
            if !wanted.iter().all(|w| dep_pkgs.contains_key(w)) {
                return true;
            }
            let own: BTreeMap<String, Package> =
                wanted.iter().filter_map(|w| dep_pkgs.get(w).map(|p| (w.clone(), *p))).collect();
            dep_pkgs.insert(
                name.clone(),
                Package::new(&db, name.clone(), modules.clone(), own, permissions(&directives, name)),
            );
            false
        });
        if pending.len() == before {
            // A cyclic or unknown `deps` directive (mutated fixtures): the rest get no deps.
            for (name, modules) in pending.drain(..) {
                let perms = permissions(&directives, &name);
                dep_pkgs.insert(name.clone(), Package::new(&db, name, modules, BTreeMap::new(), perms));
            }
        }
    }
    let root = Package::new(&db, "root".to_string(), root_modules, dep_pkgs.clone(), permissions(&directives, "root"));
    let stdlib = Package::new(&db, "std".to_string(), std_modules, BTreeMap::new(), Default::default());
    let project = Project::new(&db, root, stdlib);
    Fixture { db, project, files, directives }
}

/// `//! permissions pkg: namespaces=a,b; dependents.namespaces=a; dependents.deny-kinds=X,Y;
/// dependents.cluster-scoped=false` gives package `pkg` (or `root`) its `[permissions]`.
fn permissions(directives: &BTreeMap<String, String>, pkg: &str) -> EmitPermissions {
    let mut out = EmitPermissions::default();
    let Some(spec) = directives.get(&format!("permissions {pkg}")) else { return out };
    let list = |v: &str| v.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect::<Vec<_>>();
    for part in spec.split(';') {
        let Some((k, v)) = part.split_once('=') else { continue };
        let dependents = || DependentRules { namespaces: Vec::new(), deny_kinds: Vec::new(), cluster_scoped: true };
        match k.trim() {
            "namespaces" => out.namespaces = list(v),
            "dependents.namespaces" => out.dependents.get_or_insert_with(dependents).namespaces = list(v),
            "dependents.deny-kinds" => out.dependents.get_or_insert_with(dependents).deny_kinds = list(v),
            "dependents.cluster-scoped" => {
                out.dependents.get_or_insert_with(dependents).cluster_scoped = v.trim() == "true"
            }
            // Mutated fixtures (never_panic.rs) produce any text here; ignore what is unknown.
            _ => {}
        }
    }
    out
}

impl Fixture {
    pub fn file(&self, path: &str) -> SourceFile {
        self.files.iter().find(|(p, _)| p == path).map(|(_, f)| *f).expect("fixture file")
    }

    pub fn render(&self, diags: &[Diagnostic]) -> String {
        let sources = Sources { db: &self.db, files: &self.files };
        let mut out = String::new();
        for d in diags {
            // Diagnostics of the per-app queries keep anchored positions; the public entry
            // points (`check`, `build`) resolve them, and so does this for the rest.
            let mut d = d.clone();
            d.map_ranges(&mut |file, range| kdep_sema::anchors::resolve_range(&self.db, self.project, file, range));
            out.push_str(&kdep_diag::render::render_to_string(&d, &sources));
        }
        out
    }

    /// `span` in file offsets (values' origins keep positions anchored to their declaration).
    pub fn resolve(&self, span: kdep_diag::Span) -> kdep_diag::Span {
        kdep_sema::anchors::resolve_span(&self.db, self.project, span)
    }
}

struct Sources<'a> {
    db: &'a TestDb,
    files: &'a [(String, SourceFile)],
}

impl kdep_diag::render::Sources for Sources<'_> {
    fn path(&self, file: FileId) -> String {
        self.files.get(file.0 as usize).map(|(p, _)| p.clone()).unwrap_or_default()
    }

    fn text(&self, file: FileId) -> &str {
        self.files.get(file.0 as usize).map(|(_, f)| f.text(self.db).as_str()).unwrap_or("")
    }
}

/// A build's held texts joined into the stream `kdep build` writes, in `format`.
pub fn joined(out: &kdep_eval::RenderedBuild, format: kdep_eval::emit::Format) -> String {
    let mut got = String::new();
    let joined = out.objects.join(format, |piece| {
        got.push_str(piece);
        Ok::<(), std::io::Error>(())
    });
    assert!(joined.is_ok(), "{joined:?}");
    got
}
