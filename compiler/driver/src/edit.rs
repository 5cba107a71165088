//! Source edits for promotion: `kdep set image APP[.container]=REF [--env E]` finds where an
//! app sets its image (its body, or its `in E` block), replaces that string or adds the
//! assignment, formats the file, and accepts the result only if the package checks as before.
//!
//! The app and its assignments are read from sema's lowered model (`hir::file_hir`: `AppHir`,
//! its `sets` and `in` blocks), the one the checker and evaluator read, so "the app" and "where
//! it sets `image`" mean what they mean to `kdep check` (the first declaration of a name wins).
//! Whether the app may set the field (declared, not locked, a type whose constraint accepts the
//! reference) is not decided here: the edited package is checked by the same queries as
//! `kdep check` (`Workspace::check`), so a locked image is refused with K0301 naming the lock,
//! a bad reference with the type's own diagnostic, an unknown field with K0202. This module only
//! finds the place to edit and refuses what it cannot edit (a computed value, K0671).

use std::path::PathBuf;
use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, FileId, Span, TextRange};
use kdep_sema::hir;

use crate::loader::FileKind;
use crate::Workspace;

/// What `kdep set image` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRequest<'a> {
    pub app: &'a str,
    /// `APP.NAME`: the field path `NAME.image` (a record holding a second container's image);
    /// `None`: the field `image`.
    pub container: Option<&'a str>,
    /// Set the image for this environment only (in the app's `in ENV` block).
    pub env: Option<&'a str>,
    pub reference: &'a str,
}

/// A successful edit: the file's text before and after (identical when the image was already
/// set to the reference), and what changed, for the CLI to report and write atomically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageEdit {
    pub file: FileId,
    pub abs_path: PathBuf,
    pub display_path: String,
    pub before: String,
    pub after: String,
    /// 1-based line of the assignment in `after`.
    pub line: usize,
    /// The previous value, when the app set one in the edited block.
    pub previous: Option<String>,
    /// Other blocks of the app that set their own image and so keep it (`in production`).
    pub unchanged_envs: Vec<String>,
}

impl Workspace {
    /// Plans `kdep set image`: the edited file, checked. Errors are diagnostics (exit 1): an
    /// unknown app or environment, a computed image, or what `kdep check` reports on the
    /// edited package that it did not report before.
    pub fn set_image(&mut self, req: &ImageRequest<'_>) -> Result<ImageEdit, Vec<Diagnostic>> {
        let (file_idx, app) = self.find_app(req.app)?;
        if let Some(env) = req.env {
            let envs: Vec<String> = self.environments().into_iter().map(|e| e.name).collect();
            if !envs.iter().any(|e| e == env) {
                let mut d =
                    Diagnostic::error(Code::ENVIRONMENT_NOT_FOUND, format!("environment `{env}` is not declared"));
                d = match kdep_sema::suggest::best(env, envs.iter().map(String::as_str)) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None if envs.is_empty() => d.with_help("the package declares no environments"),
                    None => d.with_help(format!("declared environments: {}", envs.join(", "))),
                };
                return Err(vec![d]);
            }
        }
        let Some(file) = self.loaded.files.get(file_idx).cloned() else {
            return Err(vec![Diagnostic::error(Code::UNKNOWN_APP, "internal: file index out of range")]);
        };
        let key: Vec<&str> = match req.container {
            Some(c) => c.split('.').chain(["image"]).collect(),
            None => vec!["image"],
        };
        // Source text lives only in salsa (`Session`), not in the loaded file.
        let source = self.file_text(file.id).to_owned();
        let text = source.as_str();
        // The app's HIR ranges are anchored to the app; edits need file offsets.
        let at = self.file_ranges(file.id);
        let syntax = kdep_syntax::parse(file.id, text).diagnostics;
        if kdep_diag::has_errors(&syntax) {
            let mut diags = syntax;
            diags.push(
                Diagnostic::error(Code::IMAGE_NOT_SETTABLE, format!("`{}` has syntax errors", file.display_path))
                    .with_help("fix them first: `kdep set image` only edits files that parse"),
            );
            return Err(diags);
        }
        let mut quoted = String::new();
        kdep_syntax::format::write_string_literal(&mut quoted, req.reference);
        // Where the value goes: the `in ENV` block or the body, the last assignment of the key
        // there (a duplicate is K0307 anyway).
        let block = target_block(&app, req.env);
        let existing = block.iter().rev().find(|set| key_is(set, &key));
        let unchanged_envs = if req.env.is_none() {
            app.envs.iter().filter(|b| b.sets.iter().any(|set| key_is(set, &key))).map(|b| b.env.to_string()).collect()
        } else {
            Vec::new()
        };
        let (edited, previous) = match existing {
            Some(set) => match &set.value.kind {
                hir::ExprKind::Str(prev) => (splice(text, at(set.value.range), &quoted), Some(prev.to_string())),
                _ => return Err(vec![computed(file.id, req, at(set.value.range))]),
            },
            None => {
                let assignment = format!("{} = {quoted}", key.join("."));
                match req.env {
                    Some(env) => match app.envs.iter().rev().find(|b| &*b.env == env) {
                        Some(b) => insert_before_close(text, at(b.range), &assignment),
                        None => insert_before_close(text, at(app.range), &format!("in {env} {{\n{assignment}\n}}")),
                    },
                    // Before the first `in` block, so the body reads base values first.
                    None => match app.envs.first() {
                        Some(b) => {
                            let start = (at(b.range).start as usize).min(text.len());
                            let mut s = text.to_owned();
                            s.insert_str(start, &format!("{assignment}\n"));
                            (s, None)
                        }
                        None => insert_before_close(text, at(app.range), &assignment),
                    },
                }
            }
        };
        // The file parsed before the edit and the edit writes a well-formed assignment, so a
        // failure here is a bug; it is still reported, never written.
        let formatted = crate::format_source(&edited).map_err(|mut diags| {
            diags.push(Diagnostic::error(Code::IMAGE_NOT_SETTABLE, "internal: the edited file does not parse"));
            diags
        })?;
        let before_errors: Vec<(&'static str, String)> =
            self.check().into_iter().filter(Diagnostic::is_error).map(|d| (d.code.id, d.message)).collect();
        self.replace_text(file_idx, formatted.clone());
        // The line of the assignment in the formatted text, found as it was found above.
        let after = self.file_ranges(file.id);
        let line = self
            .find_app(req.app)
            .ok()
            .and_then(|(_, app)| {
                target_block(&app, req.env)
                    .into_iter()
                    .rev()
                    .find(|set| key_is(set, &key))
                    .map(|set| after(set.range).start as usize)
            })
            .map_or(1, |at| formatted.get(..at).map_or(0, |s| s.matches('\n').count()) + 1);
        let mut new_errors: Vec<Diagnostic> = self
            .check()
            .into_iter()
            .filter(|d| d.is_error() && !before_errors.iter().any(|(c, m)| *c == d.code.id && *m == d.message))
            .collect();
        if !new_errors.is_empty() {
            let what = match req.env {
                Some(env) => format!("the image of app `{}` in `{env}`", req.app),
                None => format!("the image of app `{}`", req.app),
            };
            new_errors.push(
                Diagnostic::error(Code::IMAGE_NOT_SETTABLE, format!("{what} cannot be set to \"{}\"", req.reference))
                    .with_help(
                        "the errors above are what `kdep check` would report after the edit; nothing was written",
                    ),
            );
            // The diagnostics point into the edited text; keep it for rendering them.
            return Err(new_errors);
        }
        Ok(ImageEdit {
            file: file.id,
            abs_path: file.abs_path.clone(),
            display_path: file.display_path.clone(),
            before: source.clone(),
            after: formatted,
            line,
            previous,
            unchanged_envs,
        })
    }

    /// The root-package file and model of app `name`, from sema's lowered declarations (the
    /// same `AppHir` the checker and evaluator read: the first declaration of a name wins).
    /// Turns HIR ranges of `file` (anchored inside declarations) into file ranges.
    fn file_ranges(&self, file: FileId) -> impl Fn(TextRange) -> TextRange {
        let anchors = self.inputs.get(&file).map(|input| kdep_sema::anchors::file_anchors(&self.db, *input));
        move |r| anchors.as_ref().map_or(r, |m| m.resolve_range(r))
    }

    fn find_app(&self, name: &str) -> Result<(usize, Arc<hir::AppHir>), Vec<Diagnostic>> {
        let mut found = Vec::new();
        let mut all = Vec::new();
        for (idx, file) in self.loaded.files.iter().enumerate() {
            if file.kind != FileKind::Source || file.package != Some(self.loaded.root) {
                continue;
            }
            let Some(input) = self.inputs.get(&file.id) else { continue };
            let lowered = hir::file_hir(&self.db, *input);
            for (app_name, app) in &lowered.apps {
                all.push(app_name.to_string());
                if &**app_name == name {
                    found.push((idx, app.clone()));
                }
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => {
                let mut d = Diagnostic::error(
                    Code::UNKNOWN_APP,
                    format!("package `{}` has no app `{name}`", self.package_name()),
                );
                all.sort();
                d = match kdep_sema::suggest::best(name, all.iter().map(String::as_str)) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None if all.is_empty() => d.with_help("the package declares no apps"),
                    None => d.with_help(format!("apps: {}", all.join(", "))),
                };
                Err(vec![d])
            }
            _ => Err(found
                .iter()
                .map(|(idx, app)| {
                    let id = self.loaded.files.get(*idx).map_or(FileId(0), |f| f.id);
                    Diagnostic::error(Code::UNKNOWN_APP, format!("app `{name}` is declared in more than one module"))
                        .with_primary(Span::new(id, self.file_ranges(id)(app.name_range)), "one of them")
                        .with_help("rename one of the apps: `kdep set image` names an app by its name alone")
                })
                .collect()),
        }
    }

    /// Replaces a loaded file's text in memory (the salsa input and the text diagnostics
    /// render), so the next `check` sees the edit.
    fn replace_text(&mut self, file_idx: usize, text: String) {
        // Source text lives only in salsa (`Session`): setting the input is the whole edit.
        let Some(id) = self.loaded.files.get(file_idx).map(|f| f.id) else { return };
        self.set_text(id, &text);
    }
}

fn computed(file: FileId, req: &ImageRequest<'_>, at: TextRange) -> Diagnostic {
    Diagnostic::error(Code::IMAGE_COMPUTED, format!("the image of app `{}` is computed", req.app))
        .with_primary(Span::new(file, at), "not a plain string `kdep set image` can replace")
        .with_help(
            "change the value it is computed from (a `let`, a version field), or write the reference as a plain string",
        )
}

fn key_is(set: &hir::SetHir, want: &[&str]) -> bool {
    set.key.len() == want.len() && set.key.iter().zip(want).all(|((name, _), w)| &**name == *w)
}

fn splice(text: &str, range: TextRange, with: &str) -> String {
    let r = range.as_usize_range();
    let mut s = String::with_capacity(text.len() + with.len());
    s.push_str(text.get(..r.start).unwrap_or(text));
    s.push_str(with);
    s.push_str(text.get(r.end..).unwrap_or(""));
    s
}

/// Inserts `what` on its own line before the closing brace of `block` (whose range ends with
/// it); the formatter then indents it.
fn insert_before_close(text: &str, block: TextRange, what: &str) -> (String, Option<String>) {
    let close = (block.end as usize).saturating_sub(1).min(text.len());
    // Right after the last entry, so no blank line appears between it and the new one.
    let at = text.get(..close).map_or(close, |s| s.trim_end().len());
    let mut s = text.to_owned();
    s.insert_str(at, &format!("\n{what}\n"));
    (s, None)
}

/// The assignments of the block where the app sets a value: its `in ENV` blocks for an
/// environment, else its body.
fn target_block<'a>(app: &'a hir::AppHir, env: Option<&str>) -> Vec<&'a hir::SetHir> {
    match env {
        Some(env) => app.envs.iter().filter(|b| &*b.env == env).flat_map(|b| b.sets.iter()).collect(),
        None => app.sets.iter().collect(),
    }
}
