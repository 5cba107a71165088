//! kdep's evaluator: values with provenance, builtins, manifests and their YAML/JSON emission.
//!
//! Entry points for the driver: [`build`], [`check`] (and [`check_by_file`]), [`environments`],
//! [`file_diagnostics`].
//! Per-app evaluation ([`app::eval_app`]) and per-`let` evaluation
//! ([`interp::module_let_value`]) are salsa queries on top of `kdep-sema`'s.

pub mod app;
pub mod builtins;
mod builtins_glue;
mod conform;
mod coverage;
pub mod emit;
pub mod held;
pub mod interp;
pub mod manifest;
mod parallel;
mod policy;
pub mod provenance;
mod reads;
pub mod testing;
pub mod typeck;
pub mod value;
pub mod witness;

use kdep_diag::{Code, Diagnostic};
use kdep_sema::db::{Project, SourceFile};
use kdep_sema::hir::{file_hir, Name};
use kdep_sema::index::project_index;

pub use app::EnvironmentInfo;
pub use held::{HeldObject, RenderedObjects};
pub use kdep_sema::db::Db;

/// What `kdep build` produces.
#[derive(Clone, Debug, Default)]
pub struct BuildOutput {
    pub manifests: Vec<manifest::Manifest>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Every declared environment of the root package, with its evaluated settings.
pub fn environments(db: &dyn Db, project: Project) -> Vec<EnvironmentInfo> {
    app::environment_infos(db, project).list.clone()
}

/// Problems of one file that need no particular environment: syntax, resolution, types,
/// permissions, constant defaults, top-level `let`s.
fn file_static(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    let mut out = kdep_sema::check::static_diagnostics(db, project, file);
    out.extend(app::default_diagnostics(db, project, file).iter().cloned());
    out.extend(typeck::type_diagnostics(db, project, file).iter().cloned());
    out.extend(file_lets_and_cycles(db, project, file, file_hir(db, file)));
    out
}

/// [`file_static`] for a build, which reads each file's checks once: the same checks, in the
/// same order, as plain functions on the file's lowering `hir`, module scope and apps' facts
/// (fetched once by the caller) instead of through their per-file and per-app queries, whose
/// memos a build would never read again (each read costing a claim, an interned key, an LRU
/// entry and the memo itself).
fn file_static_of(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    hir: &kdep_sema::hir::FileHir,
    module: &kdep_sema::scope::Resolver,
    apps: &[kdep_sema::check::AppFacts],
) -> Vec<Diagnostic> {
    let mut out = kdep_sema::check::static_diagnostics_of(db, project, file, hir, module, Some(apps));
    out.extend(app::default_diagnostics_of(db, project, file, hir));
    out.extend(typeck::type_diagnostics_of(db, project, file, hir, module));
    out.extend(file_lets_and_cycles(db, project, file, hir));
    out
}

/// The last part of [`file_static`]: the file's top-level `let`s (evaluated once for the
/// project) and the let cycles located in it.
fn file_lets_and_cycles(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    hir: &kdep_sema::hir::FileHir,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for name in hir.lets.keys() {
        out.extend(interp::module_let_value(db, project, file, name.clone()).diagnostics.iter().cloned());
    }
    let cycles = kdep_sema::lets::let_cycles(db, project);
    let fid = file.id(db);
    out.extend(cycles.diagnostics.iter().filter(|d| d.primary.as_ref().is_some_and(|p| p.span.file == fid)).cloned());
    out
}

/// The environments an app is checked in: none, then every declared one.
fn all_envs(db: &dyn Db, project: Project) -> Vec<Option<Name>> {
    let index = kdep_sema::check::environment_index(db, project);
    std::iter::once(None).chain(index.envs.keys().map(|k| Some(k.clone()))).collect()
}

/// Everything `kdep check` reports that originates in one file: its static problems, and for a
/// root-package file the evaluation of its apps in every environment (and with none), the
/// problems of its environment declarations and the duplicate objects its apps emit. `kdep check`
/// is the union of this query over every analysed file, so the editor (which publishes each
/// diagnostic in the file of its primary label) and `check` cannot disagree.
pub fn file_diagnostics(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    let mut out = file_diagnostics_but_duplicates(db, project, file);
    out.extend(file_duplicate_objects(db, project, file));
    finish_diagnostics(db, project, &mut out);
    out
}

/// Diagnostics as they leave the compiler: positions in file offsets (anchored ones resolved,
/// see `kdep_sema::anchors`), then in canonical order (which compares positions).
pub fn finish_diagnostics(db: &dyn Db, project: Project, diags: &mut Vec<Diagnostic>) {
    kdep_sema::anchors::resolve_diagnostics(db, project, diags);
    kdep_diag::normalize(diags);
}

/// Whether `file` is a module of the root package (its apps are evaluated and built).
fn is_root_file(db: &dyn Db, project: Project, file: SourceFile) -> bool {
    let index = project_index(db, project);
    index.file_module.get(&file).and_then(|(p, _)| index.packages.get(*p)).is_some_and(|p| p.is_root)
}

/// The duplicate objects [`file_diagnostics`] reports in `file` (at the app that emits the
/// second object). Apart because it reads every app's objects in every environment: the
/// editor publishes the rest of an edited file's diagnostics first and these after.
pub fn file_duplicate_objects(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    if !is_root_file(db, project, file) {
        return Vec::new();
    }
    let fid = file.id(db);
    let mut out = Vec::new();
    for env in all_envs(db, project) {
        let dups = duplicate_objects(db, project, env);
        out.extend(dups.iter().filter(|d| d.primary.as_ref().is_some_and(|p| p.span.file == fid)).cloned());
    }
    kdep_sema::anchors::resolve_diagnostics(db, project, &mut out);
    out
}

/// [`file_diagnostics`] without [`file_duplicate_objects`]: what depends on `file`'s own
/// declarations, the templates and lets they read, and the project-wide indexes only.
pub fn file_diagnostics_but_duplicates(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    // The static checks first: they build the file's template models one declaration at a
    // time, where an app would first ask for the deepest extension and build its whole chain
    // in one nested descent.
    let mut out = file_static(db, project, file);
    if is_root_file(db, project, file) {
        let hir = file_hir(db, file);
        let envs = all_envs(db, project);
        // Reading `env` without an environment (K0506) is not a mistake when the package
        // declares environments: `check` evaluates the app in each of them, and only an
        // environment-less `build` would fail.
        let declares_envs = envs.len() > 1;
        for env in envs {
            let keep_no_env = env.is_some() || !declares_envs;
            for name in hir.apps.keys() {
                let outcome = app_check(db, project, file, name.clone(), env.clone());
                let kept = outcome.diagnostics.iter().filter(|d| keep_no_env || d.code != Code::NO_ENVIRONMENT);
                out.extend(kept.cloned());
            }
        }
        let fid = file.id(db);
        let located_here = |d: &&Diagnostic| d.primary.as_ref().is_some_and(|p| p.span.file == fid);
        let envs = app::environment_infos(db, project);
        out.extend(envs.diagnostics.iter().filter(located_here).cloned());
        // Policy coverage of the package's own templates: `check` only (a build has apps to check).
        out.extend(coverage::template_coverage(db, project, file));
    }
    finish_diagnostics(db, project, &mut out);
    out
}

/// What `check` keeps of evaluating one app in one environment: its diagnostics and the
/// identities of the objects it emits (stamped for the environment's namespace). The values
/// are dropped once evaluated, so a check of many apps holds no value trees; the editor and
/// `kdep explain` read [`app::eval_app`], which keeps them.
#[derive(Debug, Default)]
struct AppCheck {
    objects: Vec<manifest::ObjectIdentity>,
    diagnostics: Vec<Diagnostic>,
}

/// [`AppCheck`] of one app in one environment. Read by reference (`returns(ref)`): a memo
/// returned by clone costs each read an increment and a decrement of its `Arc`'s count (two
/// atomic writes), and `check` reads each app's check twice (its file's diagnostics, then the
/// environment's duplicate check).
#[salsa::tracked(returns(ref), no_eq)]
fn app_check(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    app: Name,
    env: Option<Name>,
) -> std::sync::Arc<AppCheck> {
    let infos = app::environment_infos(db, project);
    let namespace =
        env.as_ref().and_then(|e| infos.list.iter().find(|i| *i.name == **e)).and_then(|i| i.namespace.as_deref());
    let eval = app::evaluate_app(db, project, file, app, env.clone());
    let objects = eval.objects.iter().map(|m| manifest::ObjectIdentity::of(m, namespace)).collect();
    std::sync::Arc::new(AppCheck { objects, diagnostics: eval.diagnostics })
}

/// Objects that collide (same kind, namespace and name) in one environment: whatever `build`
/// rejects, `check` reports. The per-app checks are memoised, so this re-reads them.
#[salsa::tracked(returns(clone))]
fn duplicate_objects(db: &dyn Db, project: Project, env: Option<Name>) -> std::sync::Arc<Vec<Diagnostic>> {
    let index = project_index(db, project);
    let mut checks = Vec::new();
    for file in index.root_files() {
        for name in file_hir(db, file).apps.keys() {
            checks.push(app_check(db, project, file, name.clone(), env.clone()));
        }
    }
    // Read in place: the identities stay in the apps' memos.
    let objects: Vec<&manifest::ObjectIdentity> = checks.iter().flat_map(|c| c.objects.iter()).collect();
    std::sync::Arc::new(manifest::duplicate_diagnostics(&objects))
}

/// Type checks every file of every package and evaluates every app of the root package in
/// every declared environment (and with none). Produces no output. The union of
/// [`file_diagnostics`] over the analysed files, computed in parallel.
pub fn check(db: &dyn Db, project: Project) -> Vec<Diagnostic> {
    let (per_file, unlocated) = check_by_file(db, project);
    let mut out: Vec<Diagnostic> =
        per_file.into_iter().flat_map(|(_, d)| d.own.into_iter().chain(d.duplicates)).collect();
    out.extend(unlocated);
    finish_diagnostics(db, project, &mut out);
    out
}

/// [`file_diagnostics`] in its two parts.
#[derive(Clone, Debug, Default)]
pub struct FileCheck {
    /// [`file_diagnostics_but_duplicates`].
    pub own: Vec<Diagnostic>,
    /// [`file_duplicate_objects`].
    pub duplicates: Vec<Diagnostic>,
}

/// [`check`] before the union: [`file_diagnostics`] of each analysed file (in its two parts),
/// and the problems that originate in no file. The editor keeps them apart so it can replace
/// the part of one file it has just recomputed.
pub fn check_by_file(db: &dyn Db, project: Project) -> (Vec<(SourceFile, FileCheck)>, Vec<Diagnostic>) {
    let files = prepare(db, project);
    // Each file's own diagnostics, its apps evaluated in every environment among them, in one
    // pass over the threads: the duplicate check of an environment reads every app, so it runs
    // after this pass (computed inside the first file's diagnostics it would evaluate every app
    // on that one thread while the others wait for it). One pass instead of two (the apps
    // first, then the rest of each file's diagnostics) is one wait for the slowest thread less,
    // and a file's lowering, scope and models are still in the cache of the thread that
    // evaluates its apps when its other checks read them.
    let own = parallel::par_map(db, &files, &|db, file| file_diagnostics_but_duplicates(db, project, *file));
    // Each environment's duplicate check reads every app's objects: one per thread (each on a
    // handle of its own), since they would otherwise run one after another.
    let envs = all_envs(db, project);
    parallel::par_each_forked(db, &envs, &|db, env| {
        duplicate_objects(db, project, env.clone());
    });
    let duplicates = parallel::par_map(db, &files, &|db, file| file_duplicate_objects(db, project, *file));
    let per_file = own.into_iter().zip(duplicates).map(|(own, duplicates)| FileCheck { own, duplicates });
    // Environment problems without a location in any analysed file (none today) are still shown.
    let infos = app::environment_infos(db, project);
    let mut unlocated: Vec<Diagnostic> = infos.diagnostics.iter().filter(|d| d.primary.is_none()).cloned().collect();
    kdep_sema::anchors::resolve_diagnostics(db, project, &mut unlocated);
    (files.into_iter().zip(per_file).collect(), unlocated)
}

/// Work done before the parallel phase: the root package's files are lowered and their imports
/// resolved (in parallel), then the files they import are found, and the project-wide queries
/// and every top-level `let` are computed, in two groups side by side. Evaluating the lets here
/// (all in one group) means worker threads only read them, so no cycle can span two threads.
/// Returns the files to analyse.
fn prepare(db: &dyn Db, project: Project) -> Vec<SourceFile> {
    let roots = on_side_handle(db, &|db| project_index(db, project).root_files());
    parallel::par_map(db, &roots, &|db, file| {
        // The imports too (and so the item index): `reachable_files` below reads every root
        // file's imports, and would otherwise compute them all on one thread.
        kdep_sema::index::file_imports(db, project, *file);
    });
    let files = on_side_handle(db, &|db| kdep_sema::index::reachable_files(db, project).to_vec());
    // The project-wide queries, in two groups side by side (each on a handle of its own; one
    // after the other with one thread): before, they were a sequential stretch between the
    // parallel phases. The first group only reads lowered files and indexes, never evaluates,
    // so every `let` is still evaluated by the second group alone, on one thread. Most of them
    // read the reachable files, computed above for both (a group that computed them would keep
    // the other waiting for them). The groups are about the same size (N = 5000, one thread:
    // 14.0 M instructions and 12-13 M): the let graph is in the first, first, since the second
    // group's evaluation reads it; the second starts with the import cycles meanwhile.
    parallel::par_each_forked(db, &[0, 1], &|db, group| match group {
        0 => {
            kdep_sema::lets::let_cycles(db, project);
            // Project-wide like the let graph: computed here, so no worker blocks on another's.
            kdep_sema::check::app_cycles(db, project);
            // Read for every emitted object (which schema checks it, its scope).
            kdep_sema::resources::resource_registry(db, project);
        }
        _ => {
            // Read by every file's checks (imports, environments, policies): each reads every
            // file, so computed first on a worker's handle it would leave that handle's record
            // of reads as large as the package, and every later query there would pay to clear it.
            kdep_sema::index::import_cycles(db, project);
            app::environment_infos(db, project);
            // Read for every app's objects (their `kdep.dev/apply-after`).
            kdep_sema::order::apply_order(db, project);
            kdep_sema::check::environment_index(db, project);
            kdep_sema::policy::active_policies(db, project);
            // The lets' names from the item index (in declaration order, like the lowered
            // file's): a file without lets (an app module) is not lowered here.
            for file in &files {
                let items = kdep_sema::index::item_index(db, *file);
                for (name, _) in items.items.iter().filter(|(_, h)| h.kind == kdep_sema::index::ItemKind::Let) {
                    interp::module_let_value(db, project, *file, name.clone());
                }
            }
        }
    });
    files
}

/// Before `prepare`, in a batched build of a large package (`Handle::lowers_again`): the root
/// files' imports, and so their item indexes, computed a batch of files at a time, each batch's
/// lowered files dropped after it. The project-wide queries of `prepare` then read the item
/// indexes and lower only the files the index says they need (lets, functions, schemas,
/// templates, policies, environments, `@after`, settings that may read another app), so the
/// lowering of a plain app file is not held from here to its batch, which lowers it again.
fn index_in_batches(handle: &mut Handle<'_>, project: Project) {
    let roots = on_side_handle(handle.db(), &|db| project_index(db, project).root_files());
    if !handle.lowers_again(&roots) {
        return;
    }
    if let Handle::Owned { db, lowered_twice, .. } = handle {
        *lowered_twice = true;
        kdep_sema::hir::set_file_hir_lru(*db, usize::MAX);
    }
    for part in roots.chunks(handle.batch()) {
        parallel::par_map(handle.db(), part, &|db, file| {
            kdep_sema::index::file_imports(db, project, *file);
        });
        handle.evict_lowered();
    }
    // Untracked again until the batches start: what `prepare` lowers now (the templates and
    // libraries, read by every batch) is not dropped by the first eviction.
    if let Handle::Owned { db, .. } = handle {
        kdep_sema::hir::set_file_hir_lru(*db, 0);
    }
}

/// Runs project-wide queries (those reading every file) on another handle to the database when
/// there is one, dropped afterwards. Salsa keeps one record of reads per query-stack depth and
/// per handle, reused by every later query at that depth, and clearing it costs its largest
/// size so far: a query that read all N files would make each of the N per-file queries that
/// follow on the same handle pay for N, quadratic in the package's size.
fn on_side_handle<R>(db: &dyn Db, f: &dyn Fn(&dyn Db) -> R) -> R {
    match db.fork() {
        Some(side) => f(&*side),
        None => f(db),
    }
}

/// Compiles the root package's apps for `env` (None: no `in` blocks and no namespace).
pub fn build(db: &dyn Db, project: Project, env: Option<&str>) -> BuildOutput {
    let (manifests, diagnostics) = build_with(Handle::Shared(db), project, env, Vec::new(), &|mut m, namespace| {
        manifest::stamp_manifest(&mut m, namespace);
        m
    });
    BuildOutput { manifests, diagnostics }
}

/// What [`build_rendered`] produces: every object written out, in output order (a large
/// build's texts held compressed; read them with [`RenderedObjects::texts`]).
#[derive(Debug, Default)]
pub struct RenderedBuild {
    pub objects: RenderedObjects,
    pub diagnostics: Vec<Diagnostic>,
}

/// [`build`], streaming: each app's objects are stamped and written out (in `format`) as soon
/// as the app is evaluated, on the thread that evaluated it, and their values dropped, so a
/// build holds its output text rather than every app's value tree. The texts joined by
/// [`emit::join_stream`] are byte for byte what [`build`]'s manifests give through
/// [`emit::to_yaml_stream`] or [`emit::to_json`].
pub fn build_rendered(db: &dyn Db, project: Project, env: Option<&str>, format: emit::Format) -> RenderedBuild {
    let holder = held::Holder::new(COMPRESS_FROM, BLOCK_BYTES, db.parallelism());
    let (objects, diagnostics) = build_with(Handle::Shared(db), project, env, holder, &|m, namespace| {
        manifest::RenderedObject::render(&m, namespace, format)
    });
    RenderedBuild { objects, diagnostics }
}

/// How [`build_rendered_in_batches`] divides a package. `Default`: the compiler's choice
/// ([`BATCH_FILES`], [`LOWER_AGAIN_FROM`]); the tests set both to exercise small packages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Batching {
    /// Files evaluated between two evictions (`None`: [`BATCH_FILES`]).
    pub files: Option<usize>,
    /// Size of the root package's sources, in bytes, from which a batched build drops each
    /// file's lowering after `prepare` read what it needs of it, and lowers the file again in
    /// its batch (`None`: [`LOWER_AGAIN_FROM`]).
    pub lower_again_from: Option<usize>,
    /// Estimated bytes of output text from which the texts are held compressed until they are
    /// written (`None`: [`COMPRESS_FROM`]; see [`held`]).
    pub compress_from: Option<usize>,
    /// Bytes of text per compressed block (`None`: [`BLOCK_BYTES`]).
    pub block_bytes: Option<usize>,
}

/// Estimated bytes of output text (from the first batch's) from which a build holds its
/// objects' texts compressed, each batch's as one run in output order ([`held`]). Below it a
/// build holds the texts as written: N = 5000 writes 11 MB of YAML, which compressing would
/// save little of its peak for the time it costs; N = 100,000 writes 229 MB, most of its peak.
pub const COMPRESS_FROM: usize = 64 << 20;

/// Bytes of text per compressed block of held output: large enough for LZ4 to find the
/// repetitions between objects of one template, small enough that the one decompressed block
/// per run held while writing (a run per batch of [`BATCH_FILES`] files) stays small.
pub const BLOCK_BYTES: usize = 32 << 10;

/// Root-package source bytes from which a batched build lowers its files twice (in `prepare`
/// for their item indexes, then in their batch) instead of holding every lowered file from
/// `prepare` until its batch. By default never: measured at N = 100,000 on 2 threads with the
/// texts held compressed ([`held`]), lowering twice cuts peak memory from about 551 to 366 MiB
/// (2.5x to 1.7x the output, within the 2x target) but costs about a fifth more CPU (27% more
/// CPU and 30% more wall time before the texts were compressed), which breaks the linear
/// per-instance cost (1.3x that of N = 1000 instead of 0.94x, measured in the fifth pass).
/// `KDEP_LOWER_AGAIN_FROM=BYTES` chooses it for a build that must fit in less memory
/// (docs/performance.md, Memory).
pub const LOWER_AGAIN_FROM: usize = usize::MAX;

/// Files per batch of [`build_rendered_in_batches`] when the caller does not choose. Each
/// batch starts its threads and per-run caches afresh, which costs little next to evaluating
/// a few hundred files (N = 5000, one thread: 1,936 M instructions in batches of 1,024 and
/// 1,934 M in batches of 256); what a batch holds until the next eviction is about a megabyte
/// per hundred apps (peak RSS at N = 5000: 59.5–60.0 MiB with 1,024, 58.2–58.5 MiB with 256).
pub const BATCH_FILES: usize = 256;
/// Lowered files and per-app values kept at an eviction: the most recently read, among them
/// the templates and libraries every app reads (they would be lowered again).
const KEEP_RECENT: usize = 16;

/// [`build_rendered`] with memory bounded by the output rather than the package: the files are
/// evaluated `batching.files` at a time, and between batches the database drops what only the
/// finished batch needed (its lowered files and per-app memos; see `set_file_hir_lru` and the
/// `lru` of the per-app queries).
///
/// A package smaller than `batching.lower_again_from` bytes of root sources is lowered once:
/// salsa's LRU only tracks reads once the batches start, after `prepare` lowered every file, so
/// what it drops are the values the batches read, never the lowering of a file still to
/// build. A larger one is lowered in batches first, for the item indexes and imports the
/// project-wide queries read (`index_in_batches`), each batch's lowering dropped after it, and
/// each file is lowered again in its build batch. The output is the same bytes whatever the
/// batch size and either way (tests compare them).
pub fn build_rendered_in_batches(
    db: &mut dyn Db,
    project: Project,
    env: Option<&str>,
    format: emit::Format,
    batching: Batching,
) -> RenderedBuild {
    let holder = held::Holder::new(
        batching.compress_from.unwrap_or(COMPRESS_FROM),
        batching.block_bytes.unwrap_or(BLOCK_BYTES),
        db.parallelism(),
    );
    let handle = Handle::Owned { db, batching, lowered_twice: false };
    let (objects, diagnostics) = build_with(handle, project, env, holder, &|m, namespace| {
        manifest::RenderedObject::render(&m, namespace, format)
    });
    RenderedBuild { objects, diagnostics }
}

/// The database a build runs on: shared (one pass over every file), or owned, which allows
/// evicting between batches.
enum Handle<'a> {
    Shared(&'a dyn Db),
    /// `lowered_twice`: set by `index_in_batches` when the files are lowered again in their
    /// batch, which lets the batches drop the item indexes too (see `set_build_lru`).
    Owned {
        db: &'a mut dyn Db,
        batching: Batching,
        lowered_twice: bool,
    },
}

impl Handle<'_> {
    fn db(&self) -> &dyn Db {
        match self {
            Handle::Shared(db) => *db,
            Handle::Owned { db, .. } => &**db,
        }
    }

    /// Files per batch: all of them on a shared handle.
    fn batch(&self) -> usize {
        match self {
            Handle::Shared(_) => usize::MAX,
            Handle::Owned { batching, .. } => batching.files.unwrap_or(BATCH_FILES).max(1),
        }
    }

    /// Whether `prepare` lowers the root files a batch at a time and drops their lowering
    /// (see [`build_rendered_in_batches`]): on an owned handle, for a package of more than one
    /// batch whose root sources reach `lower_again_from` bytes.
    fn lowers_again(&self, roots: &[SourceFile]) -> bool {
        let Handle::Owned { db, batching, .. } = self else { return false };
        let from = batching.lower_again_from.unwrap_or(LOWER_AGAIN_FROM);
        let bytes: usize = roots.iter().map(|f| f.text(&**db).len()).sum();
        roots.len() > self.batch() && bytes >= from
    }

    /// Drops the lowered files read since the last eviction but the most recently read (the
    /// other queries' values stay, their reads untracked); reads of `file_hir` are tracked
    /// again after it.
    fn evict_lowered(&mut self) {
        let Handle::Owned { db, .. } = self else {
            return;
        };
        kdep_sema::hir::set_file_hir_lru(*db, KEEP_RECENT);
        db.trigger_lru_eviction();
        kdep_sema::hir::set_file_hir_lru(*db, usize::MAX);
    }

    /// Before the build's first batch (`start`) or between two: evicts every value of the
    /// bounded queries read since the last eviction but the most recently read. Reads are
    /// tracked from `start` on, after `prepare` lowered every file and computed the imports,
    /// so those stay until a batch reads them (a file's own batch, or one importing it).
    fn evict(&mut self, start: bool) {
        let Handle::Owned { db, lowered_twice, .. } = self else {
            return;
        };
        if start {
            set_build_lru(*db, usize::MAX, *lowered_twice);
            return;
        }
        set_build_lru(*db, KEEP_RECENT, *lowered_twice);
        db.trigger_lru_eviction();
        // Worker threads' caches ended with them; this thread's pins the dropped files' roots.
        interp::forget_constants();
    }

    /// After the last batch: values are kept again, without tracking reads.
    fn finish(&mut self) {
        if let Handle::Owned { db, lowered_twice, .. } = self {
            set_build_lru(*db, 0, *lowered_twice);
        }
    }
}

/// The LRU capacity of the queries a batched build bounds: per file (lowered file, imports,
/// module scope, and the item index when the files are lowered twice) and per app (its
/// declaration, template, checks); 0 means unbounded and untracked. The item indexes are
/// bounded only when lowering twice: a dropped index that is read again (a template file's,
/// say, when it was not among the most recent at an eviction) lowers its file again, which a
/// build that lowers twice anyway accepts, and a one-pass build promises not to do.
fn set_build_lru(db: &mut dyn Db, capacity: usize, item_indexes: bool) {
    kdep_sema::hir::set_file_hir_lru(db, capacity);
    kdep_sema::index::set_file_imports_lru(db, capacity);
    if item_indexes {
        kdep_sema::index::set_item_index_lru(db, capacity);
    }
    kdep_sema::scope::set_module_scope_lru(db, capacity);
    kdep_sema::hir::set_app_hir_lru(db, capacity);
    kdep_sema::check::set_app_check_lru(db, capacity);
    typeck::set_type_diagnostics_lru(db, capacity);
    app::set_default_diagnostics_lru(db, capacity);
}

/// How [`build_with`] holds what `finish` made of each emitted object from its batch to the
/// end: a list of whole manifests ([`build`]), or [`held::Holder`] (written texts, compressed
/// in a large build).
trait Hold<T> {
    type Out;
    /// Given the first batch's objects (of `done` files out of `files`), before they are added.
    fn first_batch(&mut self, first: &[T], done: usize, files: usize);
    /// One batch's objects, in emission order, `done` of `files` files built with it.
    fn add(&mut self, batch: Vec<T>, done: usize, files: usize);
    /// Duplicates dropped and reported, the rest in output order.
    fn finish(self) -> (Self::Out, Vec<Diagnostic>);
}

impl<T: manifest::Emitted> Hold<T> for Vec<T> {
    type Out = Vec<T>;
    fn first_batch(&mut self, first: &[T], done: usize, files: usize) {
        // As many objects per file in the rest, an eighth more: the first batch may hold files
        // without apps (templates). An estimate too large costs address space only (the
        // untouched end of a large allocation is not resident); one too small grows the list.
        let estimate = first.len().saturating_mul(files).div_ceil(done.max(1));
        self.reserve_exact(estimate.saturating_add(estimate / 8));
    }
    fn add(&mut self, batch: Vec<T>, _done: usize, _files: usize) {
        self.extend(batch);
    }
    fn finish(self) -> (Vec<T>, Vec<Diagnostic>) {
        manifest::order_and_deduplicate(self)
    }
}

impl Hold<manifest::RenderedObject> for held::Holder {
    type Out = RenderedObjects;
    fn first_batch(&mut self, first: &[manifest::RenderedObject], done: usize, files: usize) {
        held::Holder::first_batch(self, first, done, files);
    }
    fn add(&mut self, batch: Vec<manifest::RenderedObject>, done: usize, files: usize) {
        held::Holder::add(self, batch, done, files);
    }
    fn finish(self) -> (RenderedObjects, Vec<Diagnostic>) {
        held::Holder::finish(self)
    }
}

/// The body of [`build`] and [`build_rendered`]: `finish` turns each emitted manifest into
/// what the build keeps (given the environment's namespace), `held` holds it from batch to
/// batch; duplicates are then dropped and the rest ordered
/// ([`manifest::order_and_deduplicate`]).
fn build_with<T: manifest::Emitted + Send, H: Hold<T>>(
    mut handle: Handle<'_>,
    project: Project,
    env: Option<&str>,
    mut held: H,
    finish: &(dyn Fn(manifest::Manifest, Option<&str>) -> T + Sync),
) -> (H::Out, Vec<Diagnostic>) {
    index_in_batches(&mut handle, project);
    let db = handle.db();
    let files = prepare(db, project);
    let index = project_index(db, project);
    let mut diagnostics = Vec::new();
    let envs = app::environment_infos(db, project);
    diagnostics.extend(envs.diagnostics.iter().cloned());
    let mut namespace = None;
    let env_name: Option<Name> = match env {
        None => None,
        Some(e) => match envs.list.iter().find(|i| i.name == e) {
            Some(info) => {
                namespace = info.namespace.clone();
                Some(Name::from(e))
            }
            None => {
                let mut d =
                    Diagnostic::error(Code::ENVIRONMENT_NOT_FOUND, format!("environment `{e}` is not declared"));
                if let Some(best) = kdep_sema::suggest::best(e, envs.list.iter().map(|i| i.name.as_str())) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                }
                let declared: Vec<&str> = envs.list.iter().map(|i| i.name.as_str()).collect();
                d = d.with_note(if declared.is_empty() {
                    "no environments are declared".to_string()
                } else {
                    format!("declared environments: {}", declared.join(", "))
                });
                diagnostics.push(d);
                finish_diagnostics(db, project, &mut diagnostics);
                return (held.finish().0, diagnostics);
            }
        },
    };
    let root: rustc_hash::FxHashSet<SourceFile> = index.root_files().into_iter().collect();
    // Each thread's table of shared reads (emit plans and rules), for this build only.
    let reads = reads::Scope::begin();
    // A file's own facts are fetched once and handed down: its lowering, module scope and
    // apps' declarations and templates feed its static checks and its apps' evaluation as
    // plain functions (`file_static_of`, `app::evaluate_facts`), outside any tracked query.
    let build_file = |db: &dyn Db, file: &SourceFile| {
        let hir = file_hir(db, *file);
        let module = kdep_sema::scope::Resolver::module(db, project, *file);
        let facts = kdep_sema::check::AppFacts::of_file(db, project, *file, hir);
        let diags = file_static_of(db, project, *file, hir, &module, &facts);
        let mut apps = Vec::new();
        if root.contains(file) {
            for facts in &facts {
                let out = reads.with_reads(|shared| {
                    app::evaluate_facts(db, project, *file, facts, &module, env_name.clone(), shared)
                });
                // Through `file_anchors`, whose memo of the app file's anchors places the app's
                // diagnostics at the end of the build without lowering the file again.
                let display = app::source_display(db, *file, &facts.name);
                let objects: Vec<T> = out
                    .objects
                    .into_iter()
                    .map(|mut m| {
                        m.source_display.clone_from(&display);
                        finish(m, namespace.as_deref())
                    })
                    .collect();
                apps.push((objects, out.diagnostics));
            }
        }
        (diags, apps)
    };
    // One list for every object, sized after the first batch (`Hold::first_batch`): joining
    // per-batch lists at the end held every object twice for a moment (22 MB at 300,000
    // objects), and growing one list by doubling holds up to twice its length.
    let mut n_apps = 0usize;
    let batch = handle.batch();
    let batched = files.len() > batch;
    if batched {
        handle.evict(true);
    }
    let chunk = batch.min(files.len()).max(1);
    // The worker threads are kept from batch to batch (`parallel::Crew`): each batch hands
    // them a fork of the database, which they drop before the eviction that follows it.
    parallel::with_crew(&build_file, |crew| {
        for (k, part) in files.chunks(chunk).enumerate() {
            if batched && k > 0 {
                handle.evict(false);
            }
            let per_file = crew.map(handle.db(), part, batched);
            let here: usize = per_file.iter().flat_map(|(_, a)| a).map(|(o, _)| o.len()).sum();
            let mut objects = Vec::with_capacity(here);
            for (diags, apps) in per_file {
                diagnostics.extend(diags);
                for (emitted, diags) in apps {
                    n_apps += 1;
                    objects.extend(emitted);
                    diagnostics.extend(diags);
                }
            }
            if k == 0 {
                held.first_batch(&objects, part.len(), files.len());
            }
            held.add(objects, (k * chunk).saturating_add(part.len()), files.len());
        }
        if batched {
            // The last batch too: what it read is not needed to order and write the output, and
            // every object's text is held from here to the end.
            handle.evict(false);
            handle.finish();
        }
    });
    let db = handle.db();
    if n_apps == 0 {
        diagnostics.push(Diagnostic::warning(Code::NO_APPS, "the package declares no `app`, so nothing is emitted"));
    }
    let (objects, dups) = held.finish();
    diagnostics.extend(dups);
    finish_diagnostics(db, project, &mut diagnostics);
    (objects, diagnostics)
}
