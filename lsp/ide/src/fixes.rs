//! Quick fixes for `kdep check`'s diagnostics, rename, and inlay hints of inherited defaults.
//!
//! Fixes are derived from the diagnostic (code, primary range, help) and the same models the
//! diagnostic came from: the permitted values of the field's type, the field a "did you mean"
//! names, the required fields of the app's template.

use kdep_compiler::Snapshot;
use kdep_diag::{FileId, TextRange};
use kdep_sema::check::app_template;
use kdep_sema::hir::{file_hir, AppHir};
use kdep_sema::ty::Ty;

use crate::defs::{def_at, def_target, Def};
use crate::NavTarget;

/// One text edit of a fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub file: FileId,
    pub range: TextRange,
    pub text: String,
}

/// A quick fix: a title and the edits it makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuickFix {
    pub title: String,
    pub edits: Vec<Edit>,
}

/// Quick fixes for the diagnostic with `code` whose primary label is `range` in `file`.
/// `help` are its help lines.
pub fn quick_fixes(snap: &Snapshot, file: FileId, code: &str, range: TextRange, help: &[String]) -> Vec<QuickFix> {
    let Some(input) = snap.input(file) else { return Vec::new() };
    let db = snap.db();
    let hir = file_hir(db, input);
    let text = snap.text(file);
    let edit = |range: TextRange, text: String| Edit { file, range, text };
    // `range` is a file range (from the client); HIR ranges are anchored inside declarations.
    let at = |r: TextRange| hir.anchors.resolve_range(r);
    let mut out = Vec::new();
    match code {
        // A misspelt field (or any "did you mean"): replace the name with the suggestion.
        "K0202" | "K0106" | "K0306" => {
            for h in help {
                if let Some(name) = h.strip_prefix("did you mean `").and_then(|r| r.strip_suffix("`?")) {
                    out.push(QuickFix {
                        title: format!("replace with `{name}`"),
                        edits: vec![edit(range, name.to_owned())],
                    });
                }
            }
        }
        // An override of a locked field in an app: remove the assignment (its whole lines).
        "K0301" => {
            let in_app = hir.apps.values().any(|a| app_sets(a).any(|s| at(s.range) == range));
            if in_app {
                let start = text.get(..range.start as usize).and_then(|t| t.rfind('\n')).map_or(0, |i| i + 1);
                let end = text
                    .get(range.end as usize..)
                    .and_then(|t| t.find('\n'))
                    .map_or(text.len(), |i| range.end as usize + i + 1);
                let key = text.get(range.as_usize_range()).and_then(|t| t.split('=').next()).unwrap_or("").trim();
                out.push(QuickFix {
                    title: format!("remove the override of locked `{key}`"),
                    edits: vec![edit(TextRange::from_usize(start, end), String::new())],
                });
            }
        }
        // A value the field's literal union does not allow: each permitted value.
        "K0206" => {
            for a in hir.apps.values() {
                let Some(set) = app_sets(a).find(|s| at(s.value.range) == range) else { continue };
                let Some((key, _)) = set.key.first() else { continue };
                let Ok(model) = app_template(db, snap.project(), input, a.name.clone()) else { continue };
                let Some(field) = model.fields.get(key) else { continue };
                for v in crate::completion::permitted_values(&field.ty) {
                    out.push(QuickFix { title: format!("use {}", v.label), edits: vec![edit(range, v.label)] });
                }
            }
        }
        // Required fields an app leaves unset: add them after the app's `{`.
        "K0203" => {
            for a in hir.apps.values().filter(|a| at(a.name_range) == range) {
                let Ok(model) = app_template(db, snap.project(), input, a.name.clone()) else { continue };
                let set: Vec<&str> = a.sets.iter().filter_map(|s| s.key.first().map(|(k, _)| &**k)).collect();
                let missing: Vec<String> = model
                    .fields
                    .values()
                    .filter(|f| f.default.is_none() && f.locked.is_none() && !matches!(*f.ty, Ty::Optional(_)))
                    .filter(|f| !set.contains(&&*f.name))
                    .map(|f| format!("\n    {} = {}", f.name, placeholder(&f.ty)))
                    .collect();
                let end = at(a.template.range).end;
                let Some(brace) = text.get(end as usize..).and_then(|t| t.find('{')) else { continue };
                let at = end as usize + brace + 1;
                if !missing.is_empty() {
                    out.push(QuickFix {
                        title: "add the missing required fields".to_owned(),
                        edits: vec![edit(TextRange::from_usize(at, at), missing.concat())],
                    });
                }
            }
        }
        _ => {}
    }
    out
}

fn app_sets(a: &AppHir) -> impl Iterator<Item = &kdep_sema::hir::SetHir> {
    a.sets.iter().chain(a.envs.iter().flat_map(|b| b.sets.iter()))
}

/// A value of the right kind to start from.
fn placeholder(ty: &Ty) -> String {
    match ty {
        Ty::Int(_) => "0".into(),
        Ty::Float(_) => "0.0".into(),
        Ty::Bool => "false".into(),
        Ty::List(..) => "[]".into(),
        Ty::Map(..) | Ty::Schema(_) => "{}".into(),
        Ty::Union(lits) => lits.first().map_or_else(
            || "\"\"".into(),
            |l| match l {
                kdep_sema::ty::Lit::Str(s) => format!("\"{s}\""),
                other => other.to_string(),
            },
        ),
        _ => "\"\"".into(),
    }
}

/// What a rename changes: every place to write the new name, and for an environment a note
/// on the places it cannot see (the editor asks the user to confirm with it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rename {
    pub targets: Vec<NavTarget>,
    pub note: Option<String>,
}

/// Rename of the declaration at `offset`: fields, template lets, module lets, functions,
/// templates, apps and environments (their declaration, `in NAME` blocks and every other place
/// the resolver records). Refused with the reason where it is unsafe: not a name, a keyword, a
/// clash with a member, an item or an environment, a module (named by its file), the stdlib.
pub fn rename(snap: &Snapshot, file: FileId, offset: u32, new_name: &str) -> Result<Rename, String> {
    let valid = new_name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && new_name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("`{new_name}` is not a name: use letters, digits and `_`, not starting with a digit"));
    }
    if kdep_syntax::format::is_keyword(new_name) {
        return Err(format!("`{new_name}` is a keyword of kdep: choose another name"));
    }
    let Some((_, def)) = def_at(snap, file, offset) else { return Err("nothing to rename here".into()) };
    match &def {
        Def::Module(_) => return Err("modules are named by their file: rename the file instead".into()),
        Def::EnvField(_) => return Err("the entries of `env` are fixed by kdep and cannot be renamed".into()),
        Def::Env(decl) => {
            let envs = kdep_sema::check::environment_index(snap.db(), snap.project());
            if let Some(other) = envs.envs.get(new_name).filter(|o| o.name != decl.name) {
                return Err(format!(
                    "environment `{new_name}` is already declared at `{}`",
                    crate::place(snap, other.span.file, other.span.range)
                ));
            }
        }
        Def::Field { model, .. } if model.fields.contains_key(new_name) || model.lets.contains_key(new_name) => {
            return Err(format!("template `{}` already has a member `{new_name}`", model.qualified));
        }
        _ => {}
    }
    let Some(decl) = def_target(snap, &def) else { return Err("nothing to rename here".into()) };
    let refs = crate::references(snap, file, offset);
    for r in std::iter::once(&decl).chain(&refs) {
        let editable = snap.file(r.file).is_some_and(|f| f.kind == kdep_compiler::loader::FileKind::Source);
        if !editable {
            return Err(format!("`{}` is in the standard library, which is read-only", snap.display_path(r.file)));
        }
    }
    if let Some(input) = snap.input(decl.file) {
        let items = kdep_sema::index::item_index(snap.db(), input);
        if !matches!(def, Def::Field { .. } | Def::TemplateLet(_)) && items.items.contains_key(new_name) {
            return Err(format!("`{}` already declares `{new_name}`", snap.display_path(decl.file)));
        }
    }
    let note = match &def {
        Def::Env(d) => Some(environment_note(snap, &d.name, new_name)),
        _ => None,
    };
    Ok(Rename { targets: refs, note })
}

/// What renaming environment `old` leaves as it is: the places that name it as text, which no
/// resolver sees — `--env old` in scripts and CI, reviewed plans, and string literals in the
/// analysed files (`build("old")` in tests, `environment.name == "old"`), listed by place.
fn environment_note(snap: &Snapshot, old: &str, new: &str) -> String {
    let db = snap.db();
    let quoted = format!("\"{old}\"");
    let mut strings: Vec<String> = Vec::new();
    for input in kdep_sema::index::reachable_files(db, snap.project()).iter().copied() {
        let fid = input.id(db);
        if !snap.file(fid).is_some_and(|f| f.kind == kdep_compiler::loader::FileKind::Source) {
            continue;
        }
        let text = snap.text(fid);
        // A plain string is three tokens: its opening quote, its text and its closing quote.
        let tokens = kdep_syntax::lex(text);
        for w in tokens.windows(3) {
            let [open, body, close] = w else { continue };
            let string = [open, body, close].iter().all(|t| t.kind == kdep_syntax::TokenKind::String);
            let range = TextRange::new(open.range.start, close.range.end);
            if string && text.get(range.as_usize_range()) == Some(quoted.as_str()) {
                strings.push(format!("`{}`", crate::place(snap, fid, range)));
            }
        }
    }
    let mut out = format!(
        "Renaming environment `{old}` to `{new}` changes its declaration and every `in {old}` block. \
         Not renamed: `--env {old}` in scripts and CI, plans made for `{old}`, and the namespace or context it names"
    );
    if strings.is_empty() {
        out.push('.');
    } else {
        let shown: Vec<String> = strings.iter().take(5).cloned().collect();
        let more = if strings.len() > 5 { format!(" and {} more", strings.len() - 5) } else { String::new() };
        out.push_str(&format!(
            ", nor the {} string{} `{quoted}` at {}{more}.",
            strings.len(),
            if strings.len() == 1 { "" } else { "s" },
            shown.join(", ")
        ));
    }
    out
}

/// Inlay hints: after an app's `{`, the inherited defaults of the fields it does not set
/// (neither locked nor required ones). (offset, label) pairs.
pub fn inlay_hints(snap: &Snapshot, file: FileId) -> Vec<(u32, String)> {
    let Some(input) = snap.input(file) else { return Vec::new() };
    let db = snap.db();
    let text = snap.text(file);
    let mut out = Vec::new();
    for a in file_hir(db, input).apps.values() {
        let Ok(model) = app_template(db, snap.project(), input, a.name.clone()) else { continue };
        let set: Vec<&str> = a.sets.iter().filter_map(|s| s.key.first().map(|(k, _)| &**k)).collect();
        let defaults: Vec<String> = model
            .fields
            .values()
            .filter(|f| f.locked.is_none() && !set.contains(&&*f.name))
            .filter_map(|f| {
                let d = f.default.as_ref()?;
                let value =
                    snap.text(d.span.file).get(crate::resolve(snap, d.span.file, d.span.range).as_usize_range())?;
                let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
                (value.len() <= 40).then(|| format!("{} = {value}", f.name))
            })
            .collect();
        let end = crate::resolve(snap, file, a.template.range).end;
        let Some(brace) = text.get(end as usize..).and_then(|t| t.find('{')) else { continue };
        if defaults.is_empty() {
            continue;
        }
        let at = end + brace as u32 + 1;
        out.push((at, format!(" {}", defaults.join(", "))));
    }
    out
}
