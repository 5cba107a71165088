//! Completion: modules after `import`, environments after `in`, the fields an app may still set
//! (locked and already-set fields left out), the permitted values of a literal union, members of
//! an imported module after `alias.`, and the names a body sees.
//!
//! The context is read from the text before the cursor (so half-typed code works: the parser
//! may not have a node for what is being typed yet); what is offered comes from the semantic
//! model.

use kdep_compiler::Snapshot;
use kdep_diag::FileId;
use kdep_sema::check::{app_template, environment_index};
use kdep_sema::hir::{file_hir, AppHir};
use kdep_sema::index::{item_index, project_index, ItemKind};
use kdep_sema::model::TemplateModel;
use kdep_sema::scope::Resolver;
use kdep_sema::ty::{Lit, Ty};

/// What a completion item is, for the editor's icon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionKind {
    Field,
    Value,
    Module,
    Environment,
    Variable,
    Function,
    Declaration,
}

/// One completion proposal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionItem {
    pub label: String,
    pub kind: CompletionKind,
    /// A type or short description.
    pub detail: Option<String>,
    pub documentation: Option<String>,
    /// What to insert when it differs from the label (`field = `).
    pub insert: Option<String>,
}

impl CompletionItem {
    fn new(label: impl Into<String>, kind: CompletionKind) -> Self {
        CompletionItem { label: label.into(), kind, detail: None, documentation: None, insert: None }
    }
}

/// Completions at `offset` of `file`, in a stable order.
pub fn completions(snap: &Snapshot, file: FileId, offset: u32) -> Vec<CompletionItem> {
    let Some(input) = snap.input(file) else { return Vec::new() };
    let db = snap.db();
    let project = snap.project();
    let text = snap.text(file);
    let Some(before) = text.get(..offset as usize) else { return Vec::new() };
    let line = before.rsplit('\n').next().unwrap_or_default();
    let trimmed = line.trim_start();

    if let Some(rest) = trimmed.strip_prefix("import ") {
        if rest.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            let mut modules = project_index(db, project).importable(input);
            modules.sort();
            modules.dedup();
            return modules.into_iter().map(|m| CompletionItem::new(m, CompletionKind::Module)).collect();
        }
    }

    // Inside a record literal the static check follows along a schema (`emit apps.Deployment
    // { ... }` and the objects nested in it): the schema's fields not set yet, with their docs
    // (for Kubernetes kinds, the OpenAPI descriptions).
    // The cursor in HIR coordinates (anchored inside declarations), to compare with HIR ranges.
    let offset = crate::anchored(snap, input, offset);
    if is_key_position(trimmed) {
        if let Some(record) = kdep_eval::typeck::record_at(db, project, input, offset) {
            let mut out = Vec::new();
            for (name, field) in &record.model.fields {
                let set_elsewhere =
                    record.keys.iter().any(|(k, r)| k == name && !(r.start <= offset && offset <= r.end));
                if field.locked.is_some() || set_elsewhere {
                    continue;
                }
                let mut item = CompletionItem::new(name.to_string(), CompletionKind::Field);
                item.detail = Some(field.ty.to_string());
                item.documentation = field.doc.clone();
                item.insert = Some(format!("{name} = "));
                out.push(item);
            }
            return out;
        }
    }
    let hir = file_hir(db, input);
    let app = hir.apps.values().find(|a| a.range.start < offset && (offset <= a.range.end || a.range.is_empty()));
    if let Some(app) = app {
        if let Some(rest) = trimmed.strip_prefix("in ") {
            if rest.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return environment_index(db, project)
                    .envs
                    .keys()
                    .map(|e| CompletionItem::new(e.to_string(), CompletionKind::Environment))
                    .collect();
            }
        }
        let model = app_template(db, project, input, app.name.clone()).ok();
        if is_key_position(trimmed) {
            return model.map_or_else(Vec::new, |m| settable_fields(&m, app, offset));
        }
        if let Some(field) = value_of_key(trimmed) {
            if let Some(field) = model.as_ref().and_then(|m| m.fields.get(field)) {
                let values = permitted_values(&field.ty);
                if !values.is_empty() {
                    return values;
                }
            }
        }
        return names(snap, &Resolver::app(db, project, input), trimmed);
    }
    for t in hir.templates.values() {
        if t.range.start < offset && offset <= t.range.end {
            if let Some(field) = value_of_key(trimmed) {
                let model = kdep_sema::model::template_model(db, project, input, t.name.clone());
                if let Some(field) = model.as_ref().and_then(|m| m.fields.get(field)) {
                    let values = permitted_values(&field.ty);
                    if !values.is_empty() {
                        return values;
                    }
                }
            }
            return names(snap, &Resolver::body(db, project, input, &t.name), trimmed);
        }
    }
    names(snap, &Resolver::module(db, project, input), trimmed)
}

/// Whether the cursor is where a key of an app body or `in` block starts (`    repl|`).
fn is_key_position(trimmed: &str) -> bool {
    trimmed.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// `replicas = "sm|`: the field whose value is being written.
fn value_of_key(trimmed: &str) -> Option<&str> {
    let (key, value) = trimmed.split_once('=')?;
    let key = key.trim();
    let value = value.trim_start();
    let simple = key.chars().all(|c| c.is_alphanumeric() || c == '_') && !key.is_empty();
    let partial = value.trim_start_matches('"').chars().all(|c| c.is_alphanumeric() || "_-.".contains(c));
    (simple && partial).then_some(key)
}

/// Fields of the app's template the block around `offset` may still set: not locked, not set
/// there already. Required fields first.
fn settable_fields(model: &TemplateModel, app: &AppHir, offset: u32) -> Vec<CompletionItem> {
    let block = app.envs.iter().find(|b| b.range.start < offset && offset <= b.range.end);
    let sets = match block {
        Some(b) => &b.sets,
        None => &app.sets,
    };
    let already: Vec<&str> = sets
        .iter()
        .filter(|s| !(s.range.start <= offset && offset <= s.range.end))
        .filter_map(|s| s.key.first().map(|(k, _)| &**k))
        .collect();
    let mut out: Vec<(bool, CompletionItem)> = Vec::new();
    for (name, field) in &model.fields {
        if field.locked.is_some() || already.contains(&&**name) {
            continue;
        }
        let required = field.default.is_none() && !matches!(*field.ty, Ty::Optional(_));
        let mut item = CompletionItem::new(name.to_string(), CompletionKind::Field);
        item.detail = Some(if required { format!("{} (required)", field.ty) } else { field.ty.to_string() });
        item.documentation = field.doc.clone();
        item.insert = Some(format!("{name} = "));
        out.push((!required, item));
    }
    // Stable: required first, then declaration order.
    out.sort_by_key(|(optional, _)| *optional);
    out.into_iter().map(|(_, i)| i).collect()
}

/// The literal values a type permits (`"small" | "medium"`), quoted as they are written.
pub(crate) fn permitted_values(ty: &Ty) -> Vec<CompletionItem> {
    match ty {
        Ty::Optional(inner) => permitted_values(inner),
        Ty::Union(lits) => lits
            .iter()
            .map(|l| {
                let text = match l {
                    Lit::Str(s) => format!("\"{s}\""),
                    other => other.to_string(),
                };
                let mut item = CompletionItem::new(text, CompletionKind::Value);
                item.detail = Some(ty.to_string());
                item
            })
            .collect(),
        Ty::Bool => ["true", "false"].iter().map(|v| CompletionItem::new(*v, CompletionKind::Value)).collect(),
        _ => Vec::new(),
    }
}

/// Names a body sees (after `alias.`: the module's declarations).
fn names(snap: &Snapshot, scope: &Resolver, trimmed: &str) -> Vec<CompletionItem> {
    let db = snap.db();
    let word_start = trimmed.rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).map_or(0, |i| i + 1);
    let word = trimmed.get(word_start..).unwrap_or_default();
    if let Some((alias, _)) = word.rsplit_once('.') {
        let Some(module) = scope.module_alias(alias) else { return Vec::new() };
        let items = item_index(db, module);
        return items
            .items
            .iter()
            .map(|(name, h)| {
                let kind = match h.kind {
                    ItemKind::Let => CompletionKind::Variable,
                    ItemKind::Fn => CompletionKind::Function,
                    _ => CompletionKind::Declaration,
                };
                let mut item = CompletionItem::new(name.to_string(), kind);
                item.detail = Some(h.kind.describe().to_string());
                item
            })
            .collect();
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for name in scope.value_names() {
        if seen.insert(name.to_string()) {
            out.push(CompletionItem::new(name, CompletionKind::Variable));
        }
    }
    for f in scope.functions() {
        if seen.insert(f.to_string()) {
            out.push(CompletionItem::new(f.to_string(), CompletionKind::Function));
        }
    }
    if scope.sees_env() {
        out.push(CompletionItem::new("environment", CompletionKind::Variable));
    }
    if let Some(members) = scope.members() {
        // Template bodies: the template's own lets are already in `value_names`; mark fields.
        for item in &mut out {
            if let Some(f) = members.fields.get(item.label.as_str()) {
                item.kind = CompletionKind::Field;
                item.detail = Some(f.ty.to_string());
            }
        }
    }
    out
}
