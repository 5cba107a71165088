//! Editor answers over the compiler's session: hover, definitions, completion, symbols,
//! formatting and diagnostics, as plain data (byte offsets, strings) with no protocol types.
//!
//! Every answer reads the one semantic model on a [`Snapshot`]: names through
//! `kdep_sema::scope` (`use_at`, `walk_file`, `Resolver`), fields, locks and defaults from the
//! template models, types from `kdep_sema::ty`, diagnostics from the query `kdep check` unions.
//! Nothing here re-derives a rule; where something was missing it was added there.

mod completion;
mod defs;
mod fixes;
mod highlight;
mod hover;
mod symbols;

use kdep_compiler::Snapshot;
use kdep_diag::{Diagnostic, FileId, TextRange};

pub use completion::{completions, CompletionItem, CompletionKind};
pub use defs::{definition, references};
pub use fixes::{inlay_hints, quick_fixes, rename, Edit, QuickFix, Rename};
pub use highlight::{semantic_tokens, HighlightToken, TokenType};
pub use hover::hover;
pub use symbols::{document_symbols, workspace_symbols, Symbol, SymbolKind};

/// `range` of `file` in file offsets. HIR ranges inside declarations are anchored (relative to
/// their declaration, see `kdep_diag::anchor`); every answer resolves them before it leaves.
pub(crate) fn resolve(snap: &Snapshot, file: FileId, range: TextRange) -> TextRange {
    match snap.input(file) {
        Some(input) => kdep_sema::anchors::resolve_in(snap.db(), input, range),
        None => range,
    }
}

/// A cursor offset of `file` in HIR coordinates (anchored inside an anchored declaration), to
/// compare it with HIR ranges.
pub(crate) fn anchored(snap: &Snapshot, input: kdep_sema::SourceFile, offset: u32) -> u32 {
    kdep_sema::anchors::anchor_offset(snap.db(), input, offset)
}

/// A place to jump to: a file and the range of the name there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NavTarget {
    pub file: FileId,
    pub range: TextRange,
}

/// What hovering at an offset shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hover {
    /// The range the hover is about (the name under the cursor).
    pub range: TextRange,
    pub markdown: String,
}

/// The diagnostics of `kdep check` whose primary label is in `file` (the loader's problems
/// included). `check` is the union of these over the files, so the editor and the command line
/// cannot disagree.
pub fn file_diagnostics(snap: &Snapshot, file: FileId) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = snap
        .loaded()
        .diagnostics
        .iter()
        .filter(|d| d.primary.as_ref().is_some_and(|p| p.span.file == file))
        .cloned()
        .collect();
    if let Some(input) = snap.input(file) {
        let analysed = kdep_sema::index::reachable_files(snap.db(), snap.project()).contains(&input);
        if analysed {
            out.extend(kdep_eval::file_diagnostics(snap.db(), snap.project(), input));
        }
    }
    kdep_diag::normalize(&mut out);
    out
}

/// The file in canonical layout (the code of `kdep fmt`), or `None` when it does not parse:
/// broken code is never reformatted.
pub fn format(snap: &Snapshot, file: FileId) -> Option<String> {
    kdep_syntax::format::format(file, snap.text(file)).ok()
}

/// 1-based line of `offset` in `file`, for "declared at file:line" in hovers.
fn line_of(snap: &Snapshot, file: FileId, offset: u32) -> usize {
    let text = snap.text(file);
    text.get(..offset as usize).map_or(1, |t| t.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// `path:line` of a place, with the display path (`platform/web.kdep:12`).
fn place(snap: &Snapshot, file: FileId, range: TextRange) -> String {
    let range = resolve(snap, file, range);
    format!("{}:{}", snap.display_path(file), line_of(snap, file, range.start))
}

/// The apps of `file` with their name range, for the code lens that shows their manifests.
pub fn apps(snap: &Snapshot, file: FileId) -> Vec<(String, TextRange)> {
    let Some(input) = snap.input(file) else { return Vec::new() };
    if !snap.is_root_module(file) {
        return Vec::new();
    }
    let hir = kdep_sema::hir::file_hir(snap.db(), input);
    hir.apps.values().map(|a| (a.name.to_string(), hir.anchors.resolve_range(a.name_range))).collect()
}

/// The declared environments of the session's root package, in name order.
pub fn environments(snap: &Snapshot) -> Vec<String> {
    kdep_eval::environments(snap.db(), snap.project()).into_iter().map(|e| e.name).collect()
}

/// The manifests app `app` of `file` produces in environment `env` (none: no `in` blocks, no
/// namespace), as `kdep build` writes them (YAML), or the errors that stop it.
pub fn app_manifests(snap: &Snapshot, file: FileId, app: &str, env: Option<&str>) -> Result<String, Vec<Diagnostic>> {
    let db = snap.db();
    let project = snap.project();
    let input = snap.input(file).ok_or_else(Vec::new)?;
    let infos = kdep_eval::environments(db, project);
    let namespace = match env {
        None => None,
        Some(e) => match infos.iter().find(|i| i.name == e) {
            Some(info) => info.namespace.clone(),
            None => {
                let d = Diagnostic::error(
                    kdep_diag::Code::ENVIRONMENT_NOT_FOUND,
                    format!("environment `{e}` is not declared"),
                );
                return Err(vec![d]);
            }
        },
    };
    let eval = kdep_eval::app::eval_app(db, project, input, app.into(), env.map(Into::into));
    let display = kdep_eval::app::source_display(db, input, &app.into());
    let objects = eval.objects.iter().cloned().map(|mut m| {
        m.source_display.clone_from(&display);
        m
    });
    let (manifests, mut diags) = kdep_eval::manifest::finalize(objects.collect(), namespace.as_deref());
    diags.extend(eval.diagnostics.iter().filter(|d| d.is_error()).cloned());
    if kdep_diag::has_errors(&diags) {
        kdep_eval::finish_diagnostics(db, project, &mut diags);
        return Err(diags);
    }
    let objects: Vec<kdep_compiler::Value> = manifests.into_iter().map(|m| m.object).collect();
    Ok(kdep_eval::emit::to_yaml_stream(&objects))
}
