//! kdep's single diagnostic type: plain data with stable codes, shared by every compiler stage.
//!
//! Stages build [`Diagnostic`]s with byte ranges into files named by [`FileId`]; only the
//! renderers (terminal via ariadne, JSON for CI, LSP in the server) turn offsets into lines
//! and columns. Nothing here knows about salsa, the disk or the terminal size.

pub mod anchor;
mod codes;
mod line_index;
#[cfg(feature = "render")]
pub mod render;

pub use codes::{Code, ALL_CODES};
pub use line_index::{LineCol, LineIndex};

use std::fmt;

/// Identifies one source file for the lifetime of a compilation session.
///
/// The driver assigns ids; renderers resolve them to a path and text through a
/// [`render::Sources`] implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub u32);

/// A half-open byte range `[start, end)` inside one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TextRange {
    pub start: u32,
    pub end: u32,
}

impl TextRange {
    pub fn new(start: u32, end: u32) -> Self {
        debug_assert!(start <= end, "inverted range {start}..{end}");
        TextRange { start, end }
    }

    /// Builds a range from `usize` offsets, saturating at `u32::MAX` (files are capped far below).
    pub fn from_usize(start: usize, end: usize) -> Self {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        TextRange::new(clamp(start), clamp(end).max(clamp(start)))
    }

    pub fn empty(at: u32) -> Self {
        TextRange { start: at, end: at }
    }

    pub fn len(self) -> u32 {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The smallest range covering both.
    pub fn cover(self, other: TextRange) -> TextRange {
        TextRange { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    pub fn contains(self, offset: u32) -> bool {
        self.start <= offset && offset < self.end
    }

    pub fn as_usize_range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl fmt::Display for TextRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// A range in a specific file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub file: FileId,
    pub range: TextRange,
}

impl Span {
    pub fn new(file: FileId, range: TextRange) -> Self {
        Span { file, range }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    /// Informational; never fails a build.
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// A message attached to a source range.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

impl Label {
    pub fn new(span: Span, message: impl Into<String>) -> Self {
        Label { span, message: message.into() }
    }
}

/// A machine-applicable edit suggested by a diagnostic (used by `kdep fix` and editor quick fixes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fix {
    /// Short imperative title, e.g. "replace with `\"small\"`".
    pub title: String,
    pub edits: Vec<TextEdit>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TextEdit {
    pub span: Span,
    pub replacement: String,
}

/// One problem found in the sources.
///
/// Invariant: `message` is short, lowercase-first and has no final period; long explanations go
/// in `help` lines or in the code's documentation (`kdep explain CODE`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// Where the problem is. `None` only for problems with no source location (e.g. an empty package).
    pub primary: Option<Label>,
    /// Related places, possibly in other files and packages (e.g. where a field was locked).
    pub secondary: Vec<Label>,
    pub help: Vec<String>,
    pub notes: Vec<String>,
    pub fix: Option<Fix>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: code.default_severity(),
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: Vec::new(),
            notes: Vec::new(),
            fix: None,
        }
    }

    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, ..Diagnostic::new(code, message) }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::new(code, message) }
    }

    /// Sets the primary location and its label text.
    pub fn with_primary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.primary = Some(Label::new(span, message));
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.secondary.push(Label::new(span, message));
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help.push(help.into());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn with_fix(mut self, fix: Fix) -> Self {
        self.fix = Some(fix);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Sort key giving a stable, reader-friendly order: by file, then position, then code.
    pub fn sort_key(&self) -> (Option<FileId>, u32, u32, &'static str, &str) {
        match &self.primary {
            Some(l) => (Some(l.span.file), l.span.range.start, l.span.range.end, self.code.id, &self.message),
            None => (None, 0, 0, self.code.id, &self.message),
        }
    }
}

/// Sorts diagnostics into their canonical order and removes exact duplicates
/// (the same problem can be reached through two import paths).
pub fn normalize(diags: &mut Vec<Diagnostic>) {
    diags.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    // Equal diagnostics have equal keys, but diagnostics with equal keys may differ (in their
    // labels), so a duplicate need not be adjacent: compare within each run of equal keys.
    let mut out: Vec<Diagnostic> = Vec::with_capacity(diags.len());
    for d in diags.drain(..) {
        let dup = out.iter().rev().take_while(|o| o.sort_key() == d.sort_key()).any(|o| *o == d);
        if !dup {
            out.push(d);
        }
    }
    *diags = out;
}

/// Returns `true` when any diagnostic is an error.
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_removes_duplicates_that_are_not_adjacent() {
        let at = |start: u32| Span::new(FileId(0), TextRange { start, end: start + 1 });
        let d = |label: &str| Diagnostic::error(Code::CHECK_FAILED, "x").with_primary(at(0), label);
        let mut diags = vec![d("a"), d("b"), d("a"), d("b"), d("c")];
        normalize(&mut diags);
        let labels: Vec<&str> = diags.iter().filter_map(|d| d.primary.as_ref()).map(|l| l.message.as_str()).collect();
        assert_eq!(labels, ["a", "b", "c"]);
    }
}
