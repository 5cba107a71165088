//! Hover: what a name is — for fields their type, doc comment, default, constraint and who
//! locked or last set them (layer and file); for other declarations their kind and place.

use kdep_compiler::Snapshot;
use kdep_diag::{FileId, TextRange};
use kdep_sema::db::SourceFile;
use kdep_sema::hir::{file_hir, Name};
use kdep_sema::index::project_index;

use crate::defs::{def_at, Def};
use crate::{place, resolve, Hover};

/// What hovering at `offset` of `file` shows; `None` where there is nothing to say.
pub fn hover(snap: &Snapshot, file: FileId, offset: u32) -> Option<Hover> {
    let (range, def) = def_at(snap, file, offset)?;
    let db = snap.db();
    let markdown = match &def {
        Def::Field { model, field, app } => {
            let kind = if model.is_schema { "schema" } else { "template" };
            let mut out = format!("```kdep\n{}: {}\n```\n", field.name, field.ty);
            out.push_str(&format!(
                "field of {kind} `{}`, declared at `{}`\n",
                model.qualified,
                place(snap, field.decl_span.file, field.decl_span.range)
            ));
            if let Some(lock) = &field.locked {
                out.push_str(&format!(
                    "\n**locked** by template `{}` at `{}`: instances cannot set it\n",
                    lock.template,
                    place(snap, lock.span.file, lock.span.range)
                ));
            }
            if let Some(default) = &field.default {
                let text = source_of(snap, default.span.file, default.span.range);
                let layer = if default.extending { "extending template" } else { "template" };
                out.push_str(&format!(
                    "\n{} `{}`, set by {layer} `{}` at `{}`\n",
                    if field.locked.is_some() { "value" } else { "default" },
                    one_line(text),
                    default.template,
                    place(snap, default.span.file, default.span.range)
                ));
            } else if !matches!(*field.ty, kdep_sema::ty::Ty::Optional(_)) && field.locked.is_none() {
                out.push_str("\nrequired: every instance sets it\n");
            }
            if let Some((app_file, app)) = app {
                out.push_str(&app_values(snap, *app_file, app, &field.name));
            }
            if let Some(doc) = &field.doc {
                out.push_str("\n---\n\n");
                out.push_str(doc.trim());
                out.push('\n');
            }
            out
        }
        Def::TemplateLet(l) => {
            let text = source_of(snap, l.span.file, l.span.range);
            format!(
                "```kdep\n{}\n```\n`let` of template `{}`, at `{}`\n",
                one_line(text),
                l.owner,
                place(snap, l.span.file, l.span.range)
            )
        }
        Def::ModuleLet { file, name } => {
            let hir = file_hir(db, *file);
            let l = hir.lets.get(name)?;
            let text = source_of(snap, file.id(db), l.range);
            format!(
                "```kdep\n{}\n```\ntop-level `let` of module `{}`\n",
                one_line(text),
                project_index(db, snap.project()).module_display(*file)
            )
        }
        Def::Module(file) => {
            format!("module `{}` (`{}`)\n", project_index(db, snap.project()).module_display(*file), file.path(db))
        }
        Def::Function { file, name } => {
            let hir = file_hir(db, *file);
            let f = hir.functions.get(name)?;
            let text = source_of(snap, file.id(db), f.range);
            let sig = text.split_once(") ->").map_or(text, |(head, _)| head);
            let ret = text.split_once(") ->").and_then(|(_, rest)| rest.split_once('=')).map_or("", |(r, _)| r.trim());
            format!(
                "```kdep\n{sig}) -> {ret}\n```\nfunction of module `{}`\n",
                project_index(db, snap.project()).module_display(*file)
            )
        }
        Def::Decl { file, name } => {
            let index = project_index(db, snap.project());
            let items = kdep_sema::index::item_index(db, *file);
            let kind = items.items.get(name).map_or("declaration", |h| h.kind.describe());
            let hir = file_hir(db, *file);
            let doc = hir
                .templates
                .get(name)
                .and_then(|t| doc_before(snap.text(file.id(db)), resolve(snap, file.id(db), t.range).start));
            let mut out = format!("{kind} `{}.{name}`, at `{}`\n", index.module_display(*file), file.path(db));
            if let Some(doc) = doc {
                out.push_str("\n---\n\n");
                out.push_str(&doc);
                out.push('\n');
            }
            out
        }
        Def::Env(decl) => {
            format!("environment `{}`, declared at `{}`\n", decl.name, place(snap, decl.span.file, decl.span.range))
        }
        Def::EnvField(name) => format!("`env.{name}`: an entry of the environment the app is built for\n"),
    };
    Some(Hover { range: resolve(snap, file, range), markdown })
}

/// The source text of a HIR range of `file`.
fn source_of(snap: &Snapshot, file: FileId, range: TextRange) -> &str {
    snap.text(file).get(resolve(snap, file, range).as_usize_range()).unwrap_or_default()
}

/// What field `field` of app `app` evaluates to in each declared environment (or without one,
/// when the package declares none), and which layer set it: read from the app's memoised
/// evaluation, the same `kdep build` and `kdep check` read, so the hover cannot disagree with
/// the build. An environment where the app does not evaluate says so.
fn app_values(snap: &Snapshot, file: SourceFile, app: &Name, field: &str) -> String {
    let db = snap.db();
    let project = snap.project();
    let envs: Vec<Option<Name>> = match crate::environments(snap) {
        names if names.is_empty() => vec![None],
        names => names.into_iter().map(|n| Some(Name::from(n.as_str()))).collect(),
    };
    let mut out = format!("\nvalues of app `{app}`:\n");
    for env in envs {
        let label = env.as_deref().map_or("no environment".to_owned(), |e| format!("`{e}`"));
        let eval = kdep_eval::app::eval_app(db, project, file, app.clone(), env.clone());
        let line = match eval.fields.get_entry(field) {
            Some(entry) => {
                let mut line = format!("- {label}: `{}`", entry.value.render_short().replace('`', "'"));
                let by = entry.origin.layer.describe();
                match &entry.origin.span {
                    Some(span) => line.push_str(&format!(" — {by}, `{}`", place(snap, span.file, span.range))),
                    None => line.push_str(&format!(" — {by}")),
                }
                line
            }
            None if eval.diagnostics.iter().any(|d| d.is_error()) => format!("- {label}: not evaluated (errors)"),
            None => format!("- {label}: not set"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Collapses an expression's text to one line for a hover heading.
fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 120 {
        format!("{}…", joined.chars().take(120).collect::<String>())
    } else {
        joined
    }
}

/// The `///` doc comment lines right before `offset` (attributes in between are skipped).
fn doc_before(text: &str, offset: u32) -> Option<String> {
    let before = text.get(..offset as usize)?;
    let mut lines: Vec<&str> = Vec::new();
    for line in before.lines().rev().skip_while(|l| l.trim().is_empty()) {
        let t = line.trim();
        if let Some(doc) = t.strip_prefix("///") {
            lines.push(doc.strip_prefix(' ').unwrap_or(doc));
        } else if t.starts_with('@') && lines.is_empty() {
            continue;
        } else {
            break;
        }
    }
    if lines.is_empty() {
        return None;
    }
    lines.reverse();
    Some(lines.join("\n"))
}
