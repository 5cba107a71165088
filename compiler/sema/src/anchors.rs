//! The one place where anchored HIR positions become file offsets (see [`kdep_diag::anchor`]).
//!
//! HIR ranges of anchored declarations (and every span built from them: template models,
//! diagnostics of evaluation, provenance) are relative to their declaration, so text typed
//! above a declaration leaves them equal and salsa reuses what was built from them. They are
//! resolved here, with the file's [`AnchorMap`], where they leave the compiler: diagnostics
//! (`kdep_eval::check`, `build`, `file_diagnostics`), provenance and the editor's answers. The
//! map is a cheap per-file query that re-runs with the file's lowering.

use std::sync::Arc;

use kdep_diag::anchor::AnchorMap;
use kdep_diag::{Diagnostic, FileId, Span, TextRange};
use rustc_hash::FxHashMap;

use crate::db::{Db, Project, SourceFile};
use crate::hir::file_hir;
use crate::index::project_index;

/// Where the anchored declarations of `file` are now.
#[salsa::tracked(returns(clone))]
pub fn file_anchors(db: &dyn Db, file: SourceFile) -> Arc<AnchorMap> {
    Arc::new(file_hir(db, file).anchors.clone())
}

/// Every file of the project by id (spans name files by id).
#[salsa::tracked(returns(clone))]
fn files_by_id(db: &dyn Db, project: Project) -> Arc<FxHashMap<FileId, SourceFile>> {
    Arc::new(project_index(db, project).file_module.keys().map(|f| (f.id(db), *f)).collect())
}

/// `range` of file `file` in file offsets.
pub fn resolve_range(db: &dyn Db, project: Project, file: FileId, range: TextRange) -> TextRange {
    if !kdep_diag::anchor::is_anchored(range) {
        return range;
    }
    match files_by_id(db, project).get(&file) {
        Some(sf) => file_anchors(db, *sf).resolve_range(range),
        None => range,
    }
}

/// `span` in file offsets.
pub fn resolve_span(db: &dyn Db, project: Project, span: Span) -> Span {
    Span::new(span.file, resolve_range(db, project, span.file, span.range))
}

/// Every range of `diags` in file offsets.
pub fn resolve_diagnostics(db: &dyn Db, project: Project, diags: &mut [Diagnostic]) {
    for d in diags.iter_mut().filter(|d| d.has_anchored_ranges()) {
        d.map_ranges(&mut |file, range| resolve_range(db, project, file, range));
    }
}

/// The HIR form of file offset `offset` of `file` (anchored inside an anchored declaration), for
/// comparing an editor's cursor with HIR ranges.
pub fn anchor_offset(db: &dyn Db, file: SourceFile, offset: u32) -> u32 {
    file_anchors(db, file).anchor(offset)
}

/// `range` of `file` in file offsets, when the file is known (editor answers about one file).
pub fn resolve_in(db: &dyn Db, file: SourceFile, range: TextRange) -> TextRange {
    file_anchors(db, file).resolve_range(range)
}
