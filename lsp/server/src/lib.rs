//! The kdep language server (`kdep lsp`): protocol plumbing over `kdep-ide` and the compiler's
//! editable session. Built on `tower-lsp-server`, the maintained fork of tower-lsp.
//!
//! Threads: the protocol runs on tokio; one writer thread ([`world::World`]) owns the sessions
//! and applies edits in arrival order; each read request runs on a blocking thread with a
//! snapshot taken by the writer when the request arrived. An edit cancels the snapshots that
//! are still reading (salsa unwinds them), and the request is answered `ContentModified`. A
//! panic inside a request is caught, logged and answered with an internal error; the server
//! keeps serving.

mod convert;
mod stdlib_docs;
mod world;

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use kdep_compiler::Snapshot;
use kdep_diag::FileId;
use serde_json::Value as Json;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types as lsp;
use tower_lsp_server::{Client, LanguageServer, LspService, Server};

pub use world::Disk;
use world::{Msg, Publish, World};

/// The command a code lens runs to show an app's manifests (arguments: document URI, app name,
/// environment name or null). Also callable by clients directly (`workspace/executeCommand`).
pub const SHOW_MANIFESTS: &str = "kdep.showManifests";

/// Serves the protocol on stdin/stdout until the client exits.
pub fn run_stdio(disk: Disk) {
    // Readers run the compiler on blocking threads; its depth limits, not their stacks, must decide.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(64 << 20)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kdep lsp: cannot start the runtime: {e}");
            return;
        }
    };
    runtime.block_on(async {
        let (service, socket) = LspService::new(|client| Backend::start(client, disk));
        Server::new(tokio::io::stdin(), tokio::io::stdout(), socket).serve(service).await;
    });
    // Blocking readers may still be unwinding; they hold nothing the process needs.
    runtime.shutdown_background();
}

struct Backend {
    client: Client,
    writer: Mutex<mpsc::Sender<Msg>>,
    stdlib: Arc<stdlib_docs::StdlibDocs>,
    /// `KDEP_LSP_PANIC_ON=hover` makes that request panic: how the tests prove a panic is
    /// answered with an error while the server keeps serving.
    panic_on: Option<String>,
    /// `KDEP_LSP_STALL_ON=hover` makes that request hold its snapshot (after logging that it
    /// does) until an edit cancels it: how the tests prove a stale read is answered
    /// `ContentModified` rather than with an answer about text that is gone.
    stall_on: Option<String>,
    /// Whether the client confirms annotated workspace edits (set by `initialize`).
    change_annotations: std::sync::atomic::AtomicBool,
}

/// Where a part of a session's diagnostics comes from: the file whose check produced it (by
/// path, which stays valid when the session is loaded again) and which half of that check, or
/// `None` for the loader's problems and those of no file.
type Origin = Option<(PathBuf, Half)>;

/// The two halves of a file's check ([`kdep_compiler::FileCheck`]): its own diagnostics, which
/// an edit of the file changes and which are published first, and its duplicate objects, which
/// read every app of the package and come with the rest of the package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Half {
    Own,
    Duplicates,
}

/// Diagnostics by the file they are shown in.
type ByPath = HashMap<PathBuf, Vec<lsp::Diagnostic>>;

/// What has been published, per document, so only changes are sent.
#[derive(Default)]
struct Published {
    /// Session root → origin → the diagnostics it reported, by the file they are shown in.
    by_session: BTreeMap<PathBuf, HashMap<Origin, ByPath>>,
    /// Open documents outside any package → the reason.
    outside: HashMap<PathBuf, String>,
    /// What the client shows now, per file.
    shown: HashMap<PathBuf, Vec<lsp::Diagnostic>>,
    /// The newest batch that published: an older batch's thread that finishes late must not
    /// put its results over a newer one's.
    seq: u64,
}

impl Backend {
    fn start(client: Client, disk: Disk) -> Backend {
        let stdlib = Arc::new(stdlib_docs::StdlibDocs::new());
        let (tx, rx) = mpsc::channel();
        let world = World::new(disk, stdlib.dir().map(Path::to_path_buf));
        let publisher = client.clone();
        let handle = tokio::runtime::Handle::current();
        let docs = Arc::clone(&stdlib);
        let published = Arc::new(Mutex::new(Published::default()));
        let spawned = std::thread::Builder::new()
            .name("kdep-lsp-writer".into())
            // The compiler recurses on deep (bounded) input; give it the CLI's stack.
            .stack_size(256 << 20)
            .spawn(move || {
                world.run(rx, &|batch| publish(batch, &publisher, &handle, &docs, &published));
            });
        if let Err(e) = spawned {
            eprintln!("kdep lsp: cannot start the writer thread: {e}");
        }
        let panic_on = std::env::var("KDEP_LSP_PANIC_ON").ok();
        let stall_on = std::env::var("KDEP_LSP_STALL_ON").ok();
        Backend { client, writer: Mutex::new(tx), stdlib, panic_on, stall_on, change_annotations: Default::default() }
    }

    fn send(&self, msg: Msg) {
        if let Ok(tx) = self.writer.lock() {
            let _ = tx.send(msg);
        }
    }

    fn path(&self, uri: &lsp::Uri) -> Option<PathBuf> {
        let path = uri.to_file_path()?.into_owned();
        // The loader canonicalises package folders; so must the documents' paths.
        Some(canonical(&path))
    }

    /// Runs `f` on a snapshot of the session holding `uri`, on a blocking thread. No session (a
    /// document outside any package): the default answer. Cancelled by an edit:
    /// `ContentModified`. A panic: an internal error naming the request, logged.
    async fn read<R, F>(&self, what: &'static str, uri: &lsp::Uri, f: F) -> Result<R>
    where
        R: Default + Send + 'static,
        F: FnOnce(&Snapshot, FileId, &stdlib_docs::StdlibDocs) -> R + Send + 'static,
    {
        let Some(path) = self.path(uri) else { return Ok(R::default()) };
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Snapshot { path, reply });
        let Ok(Some((snap, file))) = rx.await else { return Ok(R::default()) };
        let docs = Arc::clone(&self.stdlib);
        let inject_panic = self.panic_on.as_deref() == Some(what);
        let stall = self.stall_on.as_deref() == Some(what);
        if stall {
            let note = format!("kdep lsp: {what} holds its snapshot until an edit (KDEP_LSP_STALL_ON)");
            self.client.log_message(lsp::MessageType::INFO, note).await;
        }
        let job = tokio::task::spawn_blocking(move || {
            let out = std::panic::catch_unwind(AssertUnwindSafe(|| {
                // Fault injection for the robustness tests (see `Backend::panic_on`, `stall_on`).
                assert!(!inject_panic, "injected panic in {what} (KDEP_LSP_PANIC_ON)");
                if stall {
                    // Bounded, so a test that never edits still gets an answer.
                    for _ in 0..12_000 {
                        salsa::Database::unwind_if_revision_cancelled(snap.db());
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                }
                f(&snap, file, &docs)
            }));
            drop(snap);
            out
        });
        self.answer(what, job.await).await
    }

    async fn answer<R>(
        &self,
        what: &'static str,
        joined: std::result::Result<std::thread::Result<R>, tokio::task::JoinError>,
    ) -> Result<R> {
        let payload = match joined {
            Ok(Ok(r)) => return Ok(r),
            Ok(Err(payload)) => payload,
            Err(e) => {
                return Err(Error {
                    code: ErrorCode::InternalError,
                    message: format!("{what} failed: {e}").into(),
                    data: None,
                })
            }
        };
        if payload.is::<salsa::Cancelled>() {
            return Err(Error::content_modified());
        }
        let reason = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        let message = format!("kdep lsp: internal error in {what}: {reason}");
        self.client.log_message(lsp::MessageType::ERROR, &message).await;
        Err(Error { code: ErrorCode::InternalError, message: message.into(), data: None })
    }
}

/// `path` made absolute and without symlinks, as far as it exists (a new file's folder).
fn canonical(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir).map_or_else(|_| path.to_path_buf(), |d| d.join(name)),
        _ => path.to_path_buf(),
    }
}

/// The URI of a loaded file: its path on disk, or its copy in the stdlib folder.
fn file_uri(snap: &Snapshot, file: FileId, docs: &stdlib_docs::StdlibDocs) -> Option<lsp::Uri> {
    let f = snap.file(file)?;
    let path = match f.abs_path.to_str().and_then(|p| p.strip_prefix("std:/")) {
        Some(rel) => docs.path(rel, snap.text(file))?,
        None => f.abs_path.clone(),
    };
    lsp::Uri::from_file_path(path)
}

fn location(snap: &Snapshot, target: &kdep_ide::NavTarget, docs: &stdlib_docs::StdlibDocs) -> Option<lsp::Location> {
    Some(lsp::Location {
        uri: file_uri(snap, target.file, docs)?,
        range: convert::range(snap.text(target.file), target.range),
    })
}

/// Publishes the diagnostics of every changed session, in two steps, on a thread of its own so
/// typing is never blocked by analysis:
///
/// 1. the open documents: their own part of `kdep check` is recomputed (everything but the
///    duplicate objects, which read every app) and what they show is published at once;
/// 2. the rest of each session: `kdep check` by file (memoised, so only what the edit changed is
///    recomputed), and every file whose diagnostics differ is published.
///
/// A newer edit cancels the step that is running (salsa unwinds the snapshot); its own batch
/// publishes instead. After step 2 every file shows exactly what `kdep check` reports.
fn publish(
    batch: Publish,
    client: &Client,
    handle: &tokio::runtime::Handle,
    docs: &Arc<stdlib_docs::StdlibDocs>,
    published: &Arc<Mutex<Published>>,
) {
    let client = client.clone();
    let handle = handle.clone();
    let docs = Arc::clone(docs);
    let published = Arc::clone(published);
    let job = move || {
        let send = |path: &PathBuf, diags: Vec<lsp::Diagnostic>| {
            if let Some(uri) = lsp::Uri::from_file_path(path) {
                handle.block_on(client.publish_diagnostics(uri, diags, None));
            }
        };
        // Step 1: the open documents' own part, per session.
        let mut first: Vec<(PathBuf, Vec<(Origin, ByPath)>)> = Vec::new();
        for (root, snap) in &batch.snapshots {
            let result = salsa::Cancelled::catch(AssertUnwindSafe(|| {
                let mut parts = Vec::new();
                for path in &batch.open {
                    let Some(file) = snap.file_id(path) else { continue };
                    let Some(diags) = snap.check_file_first(file) else { continue };
                    parts.push((Some((path.clone(), Half::Own)), by_path(snap, &docs, diags)));
                }
                parts
            }));
            match result {
                Ok(parts) => first.push((root.clone(), parts)),
                Err(_) => return,
            }
        }
        {
            let Ok(mut state) = published.lock() else { return };
            if state.seq > batch.seq {
                return;
            }
            state.seq = batch.seq;
            for root in &batch.dropped {
                state.by_session.remove(root);
            }
            for path in &batch.inside {
                state.outside.remove(path);
            }
            for (path, why) in &batch.outside {
                state.outside.insert(path.clone(), why.clone());
            }
            for (root, parts) in first {
                let session = state.by_session.entry(root).or_default();
                for (origin, diags) in parts {
                    session.insert(origin, diags);
                }
            }
            // Open documents always get an answer after an edit (possibly "no problems"), so
            // the editor knows the analysis caught up.
            let mut want = wanted(&state);
            for path in &batch.open {
                let new = want.remove(path).unwrap_or_default();
                send(path, new.clone());
                set_shown(&mut state, path, new);
            }
            // Files whose session is gone or that left a package: cleared or told why now.
            let mut stale: Vec<PathBuf> =
                state.shown.keys().filter(|p| !want.contains_key(*p) && !batch.open.contains(p)).cloned().collect();
            stale.sort();
            for path in stale {
                send(&path, Vec::new());
                state.shown.remove(&path);
            }
        }
        // Step 2: the whole of each session.
        let mut computed: Vec<(PathBuf, HashMap<Origin, ByPath>)> = Vec::new();
        for (root, snap) in batch.snapshots {
            let result = salsa::Cancelled::catch(AssertUnwindSafe(|| session_diagnostics(&snap, &docs)));
            drop(snap);
            match result {
                Ok(map) => computed.push((root, map)),
                // A newer edit is on its way; its batch publishes.
                Err(_) => return,
            }
        }
        let Ok(mut state) = published.lock() else { return };
        if state.seq > batch.seq {
            return;
        }
        for (root, map) in computed {
            state.by_session.insert(root, map);
        }
        let mut want = wanted(&state);
        let mut paths: Vec<PathBuf> = want.keys().chain(state.shown.keys()).cloned().collect();
        paths.sort();
        paths.dedup();
        // Open documents first: they are what the user is looking at.
        paths.sort_by_key(|p| !batch.open.contains(p));
        for path in paths {
            let new = want.remove(&path).unwrap_or_default();
            if state.shown.get(&path).map_or(new.is_empty(), |old| *old == new) {
                continue;
            }
            send(&path, new.clone());
            set_shown(&mut state, &path, new);
        }
    };
    if let Err(e) = std::thread::Builder::new().name("kdep-lsp-diagnostics".into()).stack_size(256 << 20).spawn(job) {
        eprintln!("kdep lsp: cannot start a diagnostics thread: {e}");
    }
}

/// What each file should show: the union over sessions (a dependency's file is analysed by its
/// own package's session and by its dependents') and origins, deduplicated, and the reason of
/// each open document outside any package.
fn wanted(state: &Published) -> ByPath {
    let mut want: ByPath = HashMap::new();
    let mut parts: Vec<(&Origin, &ByPath)> = state.by_session.values().flat_map(|m| m.iter()).collect();
    // A fixed order (origins are in hash maps), so the same state publishes the same list.
    parts.sort_by(|a, b| a.0.cmp(b.0));
    for (_, map) in parts {
        for (path, diags) in map {
            let slot = want.entry(path.clone()).or_default();
            for d in diags {
                if !slot.contains(d) {
                    slot.push(d.clone());
                }
            }
        }
    }
    for (path, why) in &state.outside {
        want.entry(path.clone()).or_default().push(lsp::Diagnostic {
            range: lsp::Range::default(),
            severity: Some(lsp::DiagnosticSeverity::WARNING),
            source: Some("kdep".into()),
            message: why.clone(),
            ..Default::default()
        });
    }
    // `kdep check`'s order within each file (by position, then code), whatever part it came from.
    for diags in want.values_mut() {
        diags.sort_by(|a, b| {
            let key = |d: &lsp::Diagnostic| {
                let code = match &d.code {
                    Some(lsp::NumberOrString::String(c)) => c.clone(),
                    Some(lsp::NumberOrString::Number(n)) => n.to_string(),
                    None => String::new(),
                };
                (d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character, code)
            };
            key(a).cmp(&key(b)).then_with(|| a.message.cmp(&b.message))
        });
    }
    want
}

fn set_shown(state: &mut Published, path: &Path, diags: Vec<lsp::Diagnostic>) {
    if diags.is_empty() {
        state.shown.remove(path);
    } else {
        state.shown.insert(path.to_path_buf(), diags);
    }
}

/// Diagnostics by the file of their primary label; problems with no location (a file that is
/// not UTF-8, too large) are shown on the root package's `kdep.toml`.
fn by_path(snap: &Snapshot, docs: &stdlib_docs::StdlibDocs, diags: Vec<kdep_diag::Diagnostic>) -> ByPath {
    let mut out: ByPath = HashMap::new();
    let loaded = snap.loaded();
    let root_toml = loaded.packages.get(loaded.root).map(|p| p.package_toml_file);
    let related = |span: &kdep_diag::Span| {
        Some(lsp::Location {
            uri: file_uri(snap, span.file, docs)?,
            range: convert::range(snap.text(span.file), span.range),
        })
    };
    for d in diags {
        let Some(file) = d.primary.as_ref().map(|p| p.span.file).or(root_toml) else { continue };
        let Some(path) = file_uri(snap, file, docs).and_then(|u| u.to_file_path().map(|p| p.into_owned())) else {
            continue;
        };
        out.entry(path).or_default().push(convert::diagnostic(snap.text(file), &d, &related));
    }
    out
}

/// `kdep check`'s diagnostics of one session, by origin (see [`Origin`]).
fn session_diagnostics(snap: &Snapshot, docs: &stdlib_docs::StdlibDocs) -> HashMap<Origin, ByPath> {
    let (rest, files) = snap.check_by_file();
    let mut out: HashMap<Origin, ByPath> = HashMap::new();
    out.insert(None, by_path(snap, docs, rest));
    for (file, part) in files {
        let Some(path) = snap.file(file).map(|f| f.abs_path.clone()) else { continue };
        out.insert(Some((path.clone(), Half::Own)), by_path(snap, docs, part.own));
        out.insert(Some((path, Half::Duplicates)), by_path(snap, docs, part.duplicates));
    }
    out
}

impl LanguageServer for Backend {
    async fn initialize(&self, p: lsp::InitializeParams) -> Result<lsp::InitializeResult> {
        let edit = p.capabilities.workspace.as_ref().and_then(|w| w.workspace_edit.as_ref());
        let annotations =
            edit.is_some_and(|e| e.document_changes == Some(true) && e.change_annotation_support.is_some());
        self.change_annotations.store(annotations, std::sync::atomic::Ordering::Relaxed);
        Ok(lsp::InitializeResult {
            server_info: Some(lsp::ServerInfo { name: "kdep".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
            capabilities: lsp::ServerCapabilities {
                text_document_sync: Some(lsp::TextDocumentSyncCapability::Options(lsp::TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(lsp::TextDocumentSyncKind::FULL),
                    save: Some(lsp::TextDocumentSyncSaveOptions::Supported(true)),
                    ..Default::default()
                })),
                hover_provider: Some(lsp::HoverProviderCapability::Simple(true)),
                completion_provider: Some(lsp::CompletionOptions {
                    trigger_characters: Some(vec![".".into(), " ".into(), "\"".into()]),
                    ..Default::default()
                }),
                definition_provider: Some(lsp::OneOf::Left(true)),
                references_provider: Some(lsp::OneOf::Left(true)),
                document_symbol_provider: Some(lsp::OneOf::Left(true)),
                workspace_symbol_provider: Some(lsp::OneOf::Left(true)),
                document_formatting_provider: Some(lsp::OneOf::Left(true)),
                code_lens_provider: Some(lsp::CodeLensOptions { resolve_provider: Some(false) }),
                code_action_provider: Some(lsp::CodeActionProviderCapability::Simple(true)),
                rename_provider: Some(lsp::OneOf::Left(true)),
                inlay_hint_provider: Some(lsp::OneOf::Left(true)),
                semantic_tokens_provider: Some(lsp::SemanticTokensServerCapabilities::SemanticTokensOptions(
                    lsp::SemanticTokensOptions {
                        legend: semantic_legend(),
                        full: Some(lsp::SemanticTokensFullOptions::Bool(true)),
                        range: None,
                        ..Default::default()
                    },
                )),
                execute_command_provider: Some(lsp::ExecuteCommandOptions {
                    commands: vec![SHOW_MANIFESTS.into()],
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    async fn initialized(&self, _: lsp::InitializedParams) {
        // Watch the package files so sessions follow the disk (new, changed, deleted modules and
        // `kdep.toml`); clients without dynamic registration send nothing and edits still work.
        let watchers = ["**/*.kdep", "**/kdep.toml"]
            .iter()
            .map(|g| lsp::FileSystemWatcher { glob_pattern: lsp::GlobPattern::String((*g).into()), kind: None })
            .collect();
        let options = lsp::DidChangeWatchedFilesRegistrationOptions { watchers };
        if let Ok(register_options) = serde_json::to_value(options) {
            let registration = lsp::Registration {
                id: "kdep-watch".into(),
                method: "workspace/didChangeWatchedFiles".into(),
                register_options: Some(register_options),
            };
            // A client that does not support it answers with an error; nothing to do then.
            let _ = self.client.register_capability(vec![registration]).await;
        }
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, p: lsp::DidOpenTextDocumentParams) {
        let Some(path) = self.path(&p.text_document.uri) else { return };
        self.send(Msg::Open { path, text: p.text_document.text, version: p.text_document.version });
    }

    async fn did_change(&self, p: lsp::DidChangeTextDocumentParams) {
        let Some(path) = self.path(&p.text_document.uri) else { return };
        // Full sync: the last change holds the whole text.
        let Some(change) = p.content_changes.into_iter().last() else { return };
        self.send(Msg::Change { path, text: change.text, version: p.text_document.version });
    }

    async fn did_save(&self, p: lsp::DidSaveTextDocumentParams) {
        let Some(path) = self.path(&p.text_document.uri) else { return };
        self.send(Msg::Disk { path });
    }

    async fn did_close(&self, p: lsp::DidCloseTextDocumentParams) {
        let Some(path) = self.path(&p.text_document.uri) else { return };
        self.send(Msg::Close { path });
    }

    async fn did_change_watched_files(&self, p: lsp::DidChangeWatchedFilesParams) {
        for change in p.changes {
            let Some(path) = self.path(&change.uri) else { continue };
            self.send(Msg::Disk { path });
        }
    }

    async fn hover(&self, p: lsp::HoverParams) -> Result<Option<lsp::Hover>> {
        let pos = p.text_document_position_params;
        self.read("hover", &pos.text_document.uri, move |snap, file, _| {
            let text = snap.text(file);
            let h = kdep_ide::hover(snap, file, convert::offset(text, pos.position))?;
            Some(lsp::Hover {
                contents: lsp::HoverContents::Markup(lsp::MarkupContent {
                    kind: lsp::MarkupKind::Markdown,
                    value: h.markdown,
                }),
                range: Some(convert::range(text, h.range)),
            })
        })
        .await
    }

    async fn goto_definition(&self, p: lsp::GotoDefinitionParams) -> Result<Option<lsp::GotoDefinitionResponse>> {
        let pos = p.text_document_position_params;
        self.read("definition", &pos.text_document.uri, move |snap, file, docs| {
            let target = kdep_ide::definition(snap, file, convert::offset(snap.text(file), pos.position))?;
            Some(lsp::GotoDefinitionResponse::Scalar(location(snap, &target, docs)?))
        })
        .await
    }

    async fn references(&self, p: lsp::ReferenceParams) -> Result<Option<Vec<lsp::Location>>> {
        // Every session that has the file: a platform's field is used by the apps of the
        // packages that depend on it, which only their sessions analyse.
        let pos = p.text_document_position;
        let include_declaration = p.context.include_declaration;
        let Some(path) = self.path(&pos.text_document.uri) else { return Ok(None) };
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::AllSnapshots { reply });
        let Ok(snaps) = rx.await else { return Ok(None) };
        let docs = Arc::clone(&self.stdlib);
        let job = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                let mut out: Vec<lsp::Location> = Vec::new();
                let mut found = false;
                for snap in &snaps {
                    let Some(file) = snap.file_id(&path) else { continue };
                    found = true;
                    let offset = convert::offset(snap.text(file), pos.position);
                    let mut targets = kdep_ide::references(snap, file, offset);
                    if !include_declaration {
                        if let Some(decl) = kdep_ide::definition(snap, file, offset) {
                            targets.retain(|t| *t != decl);
                        }
                    }
                    for loc in targets.iter().filter_map(|t| location(snap, t, &docs)) {
                        if !out.contains(&loc) {
                            out.push(loc);
                        }
                    }
                }
                out.sort_by(|a, b| {
                    (a.uri.as_str(), a.range.start.line, a.range.start.character).cmp(&(
                        b.uri.as_str(),
                        b.range.start.line,
                        b.range.start.character,
                    ))
                });
                found.then_some(out)
            }))
        });
        self.answer("references", job.await).await
    }

    async fn completion(&self, p: lsp::CompletionParams) -> Result<Option<lsp::CompletionResponse>> {
        let pos = p.text_document_position;
        self.read("completion", &pos.text_document.uri, move |snap, file, _| {
            let items = kdep_ide::completions(snap, file, convert::offset(snap.text(file), pos.position));
            let items = items
                .into_iter()
                .map(|i| lsp::CompletionItem {
                    label: i.label,
                    kind: Some(match i.kind {
                        kdep_ide::CompletionKind::Field => lsp::CompletionItemKind::FIELD,
                        kdep_ide::CompletionKind::Value => lsp::CompletionItemKind::ENUM_MEMBER,
                        kdep_ide::CompletionKind::Module => lsp::CompletionItemKind::MODULE,
                        kdep_ide::CompletionKind::Environment => lsp::CompletionItemKind::CONSTANT,
                        kdep_ide::CompletionKind::Variable => lsp::CompletionItemKind::VARIABLE,
                        kdep_ide::CompletionKind::Function => lsp::CompletionItemKind::FUNCTION,
                        kdep_ide::CompletionKind::Declaration => lsp::CompletionItemKind::CLASS,
                    }),
                    detail: i.detail,
                    documentation: i.documentation.map(|d| {
                        lsp::Documentation::MarkupContent(lsp::MarkupContent {
                            kind: lsp::MarkupKind::Markdown,
                            value: d,
                        })
                    }),
                    insert_text: i.insert,
                    ..Default::default()
                })
                .collect();
            Some(lsp::CompletionResponse::Array(items))
        })
        .await
    }

    async fn document_symbol(&self, p: lsp::DocumentSymbolParams) -> Result<Option<lsp::DocumentSymbolResponse>> {
        self.read("documentSymbol", &p.text_document.uri, move |snap, file, _| {
            let text = snap.text(file);
            let symbols =
                kdep_ide::document_symbols(snap, file).into_iter().map(|s| document_symbol(text, s)).collect();
            Some(lsp::DocumentSymbolResponse::Nested(symbols))
        })
        .await
    }

    async fn symbol(&self, p: lsp::WorkspaceSymbolParams) -> Result<Option<lsp::WorkspaceSymbolResponse>> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::AllSnapshots { reply });
        let Ok(snaps) = rx.await else { return Ok(None) };
        let docs = Arc::clone(&self.stdlib);
        let query = p.query;
        let job = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| {
                let mut out: Vec<lsp::WorkspaceSymbol> = Vec::new();
                for snap in &snaps {
                    for s in kdep_ide::workspace_symbols(snap, &query, 200) {
                        let Some(uri) = file_uri(snap, s.file, &docs) else { continue };
                        let sym = lsp::WorkspaceSymbol {
                            name: s.name,
                            kind: symbol_kind(s.kind),
                            tags: None,
                            container_name: Some(snap.display_path(s.file).to_owned()),
                            location: lsp::OneOf::Left(lsp::Location {
                                uri,
                                range: convert::range(snap.text(s.file), s.selection),
                            }),
                            data: None,
                        };
                        if !out.iter().any(|o| o.name == sym.name && o.location == sym.location) {
                            out.push(sym);
                        }
                    }
                }
                Some(lsp::WorkspaceSymbolResponse::Nested(out))
            }))
        });
        self.answer("workspace/symbol", job.await).await
    }

    async fn formatting(&self, p: lsp::DocumentFormattingParams) -> Result<Option<Vec<lsp::TextEdit>>> {
        self.read("formatting", &p.text_document.uri, move |snap, file, _| {
            let text = snap.text(file);
            // The stdlib is read-only: no edits.
            if !snap.file(file).is_some_and(|f| f.kind == kdep_compiler::loader::FileKind::Source) {
                return None;
            }
            let formatted = kdep_ide::format(snap, file)?;
            if formatted == text {
                return Some(Vec::new());
            }
            let end = convert::position(text, u32::try_from(text.len()).unwrap_or(u32::MAX));
            Some(vec![lsp::TextEdit {
                range: lsp::Range { start: lsp::Position::default(), end },
                new_text: formatted,
            }])
        })
        .await
    }

    async fn code_lens(&self, p: lsp::CodeLensParams) -> Result<Option<Vec<lsp::CodeLens>>> {
        let uri = p.text_document.uri.clone();
        self.read("codeLens", &p.text_document.uri, move |snap, file, _| {
            let text = snap.text(file);
            let envs = kdep_ide::environments(snap);
            let mut lenses = Vec::new();
            for (app, range) in kdep_ide::apps(snap, file) {
                let targets: Vec<Option<String>> =
                    if envs.is_empty() { vec![None] } else { envs.iter().cloned().map(Some).collect() };
                for env in targets {
                    let title = match &env {
                        Some(e) => format!("manifests: {e}"),
                        None => "manifests".to_owned(),
                    };
                    lenses.push(lsp::CodeLens {
                        range: convert::range(text, range),
                        command: Some(lsp::Command {
                            title,
                            command: SHOW_MANIFESTS.into(),
                            arguments: Some(vec![
                                Json::String(uri.as_str().to_owned()),
                                Json::String(app.clone()),
                                env.map_or(Json::Null, Json::String),
                            ]),
                        }),
                        data: None,
                    });
                }
            }
            Some(lenses)
        })
        .await
    }

    async fn code_action(&self, p: lsp::CodeActionParams) -> Result<Option<lsp::CodeActionResponse>> {
        let uri = p.text_document.uri.clone();
        let diagnostics = p.context.diagnostics;
        self.read("codeAction", &p.text_document.uri, move |snap, file, docs| {
            let text = snap.text(file);
            let mut out = Vec::new();
            for d in diagnostics {
                let Some(lsp::NumberOrString::String(code)) = &d.code else { continue };
                let range =
                    kdep_diag::TextRange::new(convert::offset(text, d.range.start), convert::offset(text, d.range.end));
                let help: Vec<String> =
                    d.message.lines().filter_map(|l| l.strip_prefix("help: ")).map(str::to_owned).collect();
                for fix in kdep_ide::quick_fixes(snap, file, code, range, &help) {
                    let mut changes: HashMap<lsp::Uri, Vec<lsp::TextEdit>> = HashMap::new();
                    for e in fix.edits {
                        let Some(target) = file_uri(snap, e.file, docs) else { continue };
                        changes.entry(target).or_default().push(lsp::TextEdit {
                            range: convert::range(snap.text(e.file), e.range),
                            new_text: e.text,
                        });
                    }
                    out.push(lsp::CodeActionOrCommand::CodeAction(lsp::CodeAction {
                        title: fix.title,
                        kind: Some(lsp::CodeActionKind::QUICKFIX),
                        diagnostics: Some(vec![d.clone()]),
                        edit: Some(lsp::WorkspaceEdit { changes: Some(changes), ..Default::default() }),
                        is_preferred: None,
                        ..Default::default()
                    }));
                }
            }
            let _ = &uri;
            Some(out)
        })
        .await
    }

    async fn rename(&self, p: lsp::RenameParams) -> Result<Option<lsp::WorkspaceEdit>> {
        // Like references: every session that has the file, so dependents' uses are renamed too.
        let pos = p.text_document_position;
        let new_name = p.new_name;
        let Some(path) = self.path(&pos.text_document.uri) else { return Ok(None) };
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::AllSnapshots { reply });
        let Ok(snaps) = rx.await else { return Ok(None) };
        let docs = Arc::clone(&self.stdlib);
        type Renamed = (HashMap<lsp::Uri, Vec<lsp::TextEdit>>, Option<String>);
        let job = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| -> std::result::Result<Option<Renamed>, String> {
                let mut changes: HashMap<lsp::Uri, Vec<lsp::TextEdit>> = HashMap::new();
                let mut found = false;
                let mut note = None;
                for snap in &snaps {
                    let Some(file) = snap.file_id(&path) else { continue };
                    found = true;
                    let offset = convert::offset(snap.text(file), pos.position);
                    let renamed = kdep_ide::rename(snap, file, offset, &new_name)?;
                    note = note.or(renamed.note);
                    for t in renamed.targets {
                        let Some(uri) = file_uri(snap, t.file, &docs) else { continue };
                        let edit = lsp::TextEdit {
                            range: convert::range(snap.text(t.file), t.range),
                            new_text: new_name.clone(),
                        };
                        let slot = changes.entry(uri).or_default();
                        if !slot.contains(&edit) {
                            slot.push(edit);
                        }
                    }
                }
                for edits in changes.values_mut() {
                    edits.sort_by_key(|e| (e.range.start.line, e.range.start.character));
                }
                Ok(found.then_some((changes, note)))
            }))
        });
        let (changes, note) = match self.answer("rename", job.await).await? {
            Ok(Some(renamed)) => renamed,
            Ok(None) => return Ok(None),
            Err(why) => return Err(Error::invalid_params(why)),
        };
        let Some(note) = note else {
            return Ok(Some(lsp::WorkspaceEdit { changes: Some(changes), ..Default::default() }));
        };
        // What the rename cannot see (an environment's name in CI scripts and plans): a client
        // that supports change annotations asks the user to confirm with this note; others are
        // told in a message next to the plain edit.
        if !self.change_annotations.load(std::sync::atomic::Ordering::Relaxed) {
            self.client.show_message(lsp::MessageType::WARNING, &note).await;
            return Ok(Some(lsp::WorkspaceEdit { changes: Some(changes), ..Default::default() }));
        }
        let id: lsp::ChangeAnnotationIdentifier = "kdep.renameEnvironment".into();
        let mut files: Vec<(lsp::Uri, Vec<lsp::TextEdit>)> = changes.into_iter().collect();
        files.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        let edits = files
            .into_iter()
            .map(|(uri, edits)| lsp::TextDocumentEdit {
                text_document: lsp::OptionalVersionedTextDocumentIdentifier { uri, version: None },
                edits: edits
                    .into_iter()
                    .map(|text_edit| lsp::OneOf::Right(lsp::AnnotatedTextEdit { text_edit, annotation_id: id.clone() }))
                    .collect(),
            })
            .collect();
        let annotation = lsp::ChangeAnnotation {
            label: "Rename environment".into(),
            needs_confirmation: Some(true),
            description: Some(note),
        };
        Ok(Some(lsp::WorkspaceEdit {
            changes: None,
            document_changes: Some(lsp::DocumentChanges::Edits(edits)),
            change_annotations: Some(HashMap::from([(id, annotation)])),
        }))
    }

    async fn inlay_hint(&self, p: lsp::InlayHintParams) -> Result<Option<Vec<lsp::InlayHint>>> {
        self.read("inlayHint", &p.text_document.uri, move |snap, file, _| {
            let text = snap.text(file);
            let hints = kdep_ide::inlay_hints(snap, file)
                .into_iter()
                .map(|(offset, label)| lsp::InlayHint {
                    position: convert::position(text, offset),
                    label: lsp::InlayHintLabel::String(label),
                    kind: None,
                    text_edits: None,
                    tooltip: Some(lsp::InlayHintTooltip::String("defaults this app inherits".into())),
                    padding_left: Some(true),
                    padding_right: None,
                    data: None,
                })
                .collect();
            Some(hints)
        })
        .await
    }

    async fn semantic_tokens_full(&self, p: lsp::SemanticTokensParams) -> Result<Option<lsp::SemanticTokensResult>> {
        self.read("semanticTokens", &p.text_document.uri, move |snap, file, _| {
            let text = snap.text(file);
            // The protocol's relative encoding: line delta, start delta (UTF-16), length.
            let mut data = Vec::new();
            let (mut line, mut start) = (0u32, 0u32);
            for t in kdep_ide::semantic_tokens(snap, file) {
                let from = convert::position(text, t.range.start);
                let to = convert::position(text, t.range.end);
                if to.line != from.line {
                    continue;
                }
                let delta_start = if from.line == line { from.character - start } else { from.character };
                let ty = kdep_ide::TokenType::ALL.iter().position(|x| *x == t.ty).unwrap_or(0);
                data.push(lsp::SemanticToken {
                    delta_line: from.line - line,
                    delta_start,
                    length: to.character - from.character,
                    token_type: u32::try_from(ty).unwrap_or(0),
                    token_modifiers_bitset: u32::from(t.declaration) | (u32::from(t.documentation) << 1),
                });
                line = from.line;
                start = from.character;
            }
            Some(lsp::SemanticTokensResult::Tokens(lsp::SemanticTokens { result_id: None, data }))
        })
        .await
    }

    async fn execute_command(&self, p: lsp::ExecuteCommandParams) -> Result<Option<lsp::LSPAny>> {
        if p.command != SHOW_MANIFESTS {
            return Err(Error::invalid_params(format!("unknown command `{}`", p.command)));
        }
        let args = p.arguments;
        let (Some(Json::String(uri)), Some(Json::String(app))) = (args.first(), args.get(1)) else {
            return Err(Error::invalid_params(format!(
                "{SHOW_MANIFESTS} takes [document URI, app name, environment name or null]"
            )));
        };
        let env = args.get(2).and_then(Json::as_str).map(str::to_owned);
        let uri: lsp::Uri = uri.parse().map_err(|_| Error::invalid_params(format!("`{uri}` is not a URI")))?;
        let app = app.clone();
        let out = self
            .read("executeCommand", &uri, move |snap, file, _| {
                Some(match kdep_ide::app_manifests(snap, file, &app, env.as_deref()) {
                    Ok(yaml) => Ok(yaml),
                    Err(diags) => Err(diags
                        .iter()
                        .map(|d| format!("[{}] {}", d.code.id, d.message))
                        .collect::<Vec<_>>()
                        .join("\n")),
                })
            })
            .await?;
        match out {
            Some(Ok(yaml)) => Ok(Some(Json::String(yaml))),
            Some(Err(message)) => Err(Error { code: ErrorCode::InvalidParams, message: message.into(), data: None }),
            None => Err(Error::invalid_params("the document is not in a loaded kdep package")),
        }
    }
}

/// The token types and modifiers, in the order `kdep_ide::TokenType::ALL` and the modifier bits use.
fn semantic_legend() -> lsp::SemanticTokensLegend {
    let types = kdep_ide::TokenType::ALL.iter().map(|t| match t {
        kdep_ide::TokenType::Keyword => lsp::SemanticTokenType::KEYWORD,
        kdep_ide::TokenType::String => lsp::SemanticTokenType::STRING,
        kdep_ide::TokenType::Number => lsp::SemanticTokenType::NUMBER,
        kdep_ide::TokenType::Regexp => lsp::SemanticTokenType::REGEXP,
        kdep_ide::TokenType::Operator => lsp::SemanticTokenType::OPERATOR,
        kdep_ide::TokenType::Comment => lsp::SemanticTokenType::COMMENT,
        kdep_ide::TokenType::Variable => lsp::SemanticTokenType::VARIABLE,
        kdep_ide::TokenType::Property => lsp::SemanticTokenType::PROPERTY,
        kdep_ide::TokenType::Namespace => lsp::SemanticTokenType::NAMESPACE,
        kdep_ide::TokenType::Function => lsp::SemanticTokenType::FUNCTION,
        kdep_ide::TokenType::Type => lsp::SemanticTokenType::TYPE,
        kdep_ide::TokenType::Parameter => lsp::SemanticTokenType::PARAMETER,
    });
    lsp::SemanticTokensLegend {
        token_types: types.collect(),
        token_modifiers: vec![lsp::SemanticTokenModifier::DECLARATION, lsp::SemanticTokenModifier::DOCUMENTATION],
    }
}

fn symbol_kind(kind: kdep_ide::SymbolKind) -> lsp::SymbolKind {
    match kind {
        kdep_ide::SymbolKind::Module => lsp::SymbolKind::MODULE,
        kdep_ide::SymbolKind::Template => lsp::SymbolKind::CLASS,
        kdep_ide::SymbolKind::Schema => lsp::SymbolKind::STRUCT,
        kdep_ide::SymbolKind::App => lsp::SymbolKind::OBJECT,
        kdep_ide::SymbolKind::Environment => lsp::SymbolKind::NAMESPACE,
        kdep_ide::SymbolKind::Let => lsp::SymbolKind::VARIABLE,
        kdep_ide::SymbolKind::Function => lsp::SymbolKind::FUNCTION,
        kdep_ide::SymbolKind::Field => lsp::SymbolKind::FIELD,
    }
}

#[expect(deprecated, reason = "`deprecated` is a required field of the protocol type")]
fn document_symbol(text: &str, s: kdep_ide::Symbol) -> lsp::DocumentSymbol {
    lsp::DocumentSymbol {
        name: s.name,
        detail: s.detail,
        kind: symbol_kind(s.kind),
        tags: None,
        deprecated: None,
        range: convert::range(text, s.range),
        selection_range: convert::range(text, s.selection),
        children: (!s.children.is_empty()).then(|| s.children.into_iter().map(|c| document_symbol(text, c)).collect()),
    }
}
