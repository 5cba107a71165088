//! Provenance of emitted values: which layer and source line set a field of a built object
//! (`kdep explain Deployment/checkout spec.replicas`), and the source map of a whole build.
//!
//! Nothing here evaluates anything of its own. The value and its [`Origin`] are read from the
//! built objects (the evaluator stamps an origin on every map entry, and an emitted
//! `replicas = replicas` keeps the field's); the field the origin belongs to is found among the
//! app's evaluated fields ([`crate::app::eval_app`], memoised), and what that value overrode is
//! read from the app's declaration and the template models (the defaults and type declarations
//! of every template merged into the app's template), which are the same queries the evaluator
//! reads. Spans are byte ranges; the CLI turns them into `file:line:column`.

use kdep_diag::Span;
use kdep_sema::check::app_template;
use kdep_sema::db::{Db, Project, SourceFile};
use kdep_sema::hir::{file_hir, Name};
use kdep_sema::index::project_index;
use kdep_sema::model::template_model;

use crate::manifest::Manifest;
use crate::value::{Layer, Origin, Value};

/// One step of a field path: `spec.template.spec.containers[0].image`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// Parses `a.b[0].c` and `metadata.labels["app.kubernetes.io/name"]`. The error says what is
/// wrong with the path as written.
pub fn parse_path(path: &str) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    let mut rest = path;
    let mut expect_key = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or_else(|| format!("`[` without `]` in `{path}`"))?;
            let inner = after.get(..close).unwrap_or_default();
            if let Some(quoted) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                out.push(Segment::Key(quoted.to_owned()));
            } else {
                let n = inner
                    .parse::<usize>()
                    .map_err(|_| format!("`[{inner}]` in `{path}` is neither a list index nor a quoted key"))?;
                out.push(Segment::Index(n));
            }
            rest = after.get(close + 1..).unwrap_or_default();
            expect_key = false;
            continue;
        }
        if let Some(after) = rest.strip_prefix('.') {
            if expect_key {
                return Err(format!("empty segment in `{path}`"));
            }
            rest = after;
            expect_key = true;
            continue;
        }
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let key = rest.get(..end).unwrap_or_default();
        if !expect_key {
            return Err(format!("expected `.` or `[` before `{key}` in `{path}`"));
        }
        out.push(Segment::Key(key.to_owned()));
        rest = rest.get(end..).unwrap_or_default();
        expect_key = false;
    }
    if out.is_empty() || expect_key {
        return Err(format!("`{path}` is not a field path (write it like `spec.replicas`)"));
    }
    Ok(out)
}

/// The path as `kdep explain` and the source map print it.
pub fn display_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Segment::Index(n) => out.push_str(&format!("[{n}]")),
            Segment::Key(k) if k.is_empty() || k.contains(['.', '[', ']', '"']) => {
                out.push_str(&format!("[{}]", serde_json::Value::from(k.as_str())));
            }
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
        }
    }
    out
}

/// Why a value could not be found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// No built object is `Kind/name`; `suggestion` is the closest one.
    NoObject { wanted: String, suggestion: Option<String>, available: Vec<String> },
    /// The object has no such field; `at` is the part of the path that exists.
    NoField { object: String, at: String, missing: String, suggestion: Option<String>, keys: Vec<String> },
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NoObject { wanted, .. } => write!(f, "no object `{wanted}` in this build"),
            LookupError::NoField { object, at, missing, .. } if at.is_empty() => {
                write!(f, "`{object}` has no field `{missing}`")
            }
            LookupError::NoField { object, at, missing, .. } => {
                write!(f, "`{object}` has no field `{missing}` under `{at}`")
            }
        }
    }
}

/// `Kind/name` of a manifest.
pub fn object_ref(m: &Manifest) -> String {
    format!("{}/{}", m.kind, m.name)
}

/// Finds the object `kind/name` (kind compared without case, as kubectl does).
pub fn find_object<'m>(manifests: &'m [Manifest], wanted: &str) -> Result<&'m Manifest, LookupError> {
    let (kind, name) = wanted.split_once('/').unwrap_or(("", wanted));
    if let Some(m) = manifests.iter().find(|m| m.kind.eq_ignore_ascii_case(kind) && m.name == name) {
        return Ok(m);
    }
    let available: Vec<String> = manifests.iter().map(object_ref).collect();
    let suggestion = kdep_sema::suggest::best(wanted, available.iter().map(String::as_str)).map(str::to_owned);
    Err(LookupError::NoObject { wanted: wanted.to_owned(), suggestion, available })
}

/// The value at `path` in `m` and the origin of the map entry that holds it (a list item has
/// the origin of the list's entry).
pub fn lookup(m: &Manifest, path: &[Segment]) -> Result<(Value, Origin), LookupError> {
    let mut value = &m.object;
    let mut origin = Origin::builtin();
    for (i, seg) in path.iter().enumerate() {
        let walked = || display_path(path.get(..i).unwrap_or_default());
        let next = match (seg, value) {
            (Segment::Key(k), Value::Map(map)) => match map.get_entry(k) {
                Some(e) => {
                    origin = e.origin.clone();
                    Some(&e.value)
                }
                None => {
                    let keys: Vec<String> = map.keys().map(|k| k.to_string()).collect();
                    let suggestion = kdep_sema::suggest::best(k, keys.iter().map(String::as_str)).map(str::to_owned);
                    return Err(LookupError::NoField {
                        object: object_ref(m),
                        at: walked(),
                        missing: k.clone(),
                        suggestion,
                        keys,
                    });
                }
            },
            (Segment::Index(n), Value::List(items)) => items.get(*n),
            _ => None,
        };
        let Some(next) = next else {
            let keys = match value {
                Value::List(items) => (0..items.len()).map(|n| format!("[{n}]")).collect(),
                _ => Vec::new(),
            };
            let missing = display_path(std::slice::from_ref(seg));
            return Err(LookupError::NoField { object: object_ref(m), at: walked(), missing, suggestion: None, keys });
        };
        value = next;
    }
    Ok((value.clone(), origin))
}

/// One layer that set a field, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub layer: Layer,
    /// The assignment or default (`replicas = 8`, or the default's expression).
    pub span: Span,
    /// The value's source text (`8`), or the dotted key and value of a patch.
    pub written: String,
}

/// A type declaration of the field along the template chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    /// Qualified name of the template that declared it.
    pub template: Name,
    pub span: Span,
    /// The type as written (`int(1..20)`).
    pub written: String,
}

/// Which template field an emitted value comes from, and everything that set or constrained it.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChain {
    pub app: Name,
    pub field: Name,
    /// Every layer that sets the field in this environment, the winning one first: the app's
    /// `in <env>` block, the app body, then the defaults of the templates, most derived first.
    pub settings: Vec<Setting>,
    /// The field's `locked` declaration, if a template locked it.
    pub locked: Option<(Name, Span)>,
    /// The field's type declarations, base-most first; each later one narrows the earlier.
    pub constraints: Vec<Constraint>,
}

/// The full answer of `kdep explain OBJECT FIELD`.
#[derive(Clone, Debug, PartialEq)]
pub struct Explanation {
    pub object: String,
    pub path: String,
    pub value: Value,
    pub origin: Origin,
    /// `None` when the value was computed in a template body (an `emit` or a `let`), not set
    /// through a field, or set by kdep itself.
    pub field: Option<FieldChain>,
}

/// Explains `path` of object `wanted` in a build of `env`; `manifests` are that build's output.
pub fn explain(
    db: &dyn Db,
    project: Project,
    env: Option<&str>,
    manifests: &[Manifest],
    wanted: &str,
    path: &[Segment],
) -> Result<Explanation, LookupError> {
    let m = find_object(manifests, wanted)?;
    let (value, origin) = lookup(m, path)?;
    let field = field_chain(db, project, env, m, &origin);
    Ok(Explanation { object: object_ref(m), path: display_path(path), value, origin, field })
}

fn text_of(db: &dyn Db, file: SourceFile, span: Span) -> String {
    let range = kdep_sema::anchors::resolve_in(db, file, span.range);
    file.text(db).get(range.as_usize_range()).unwrap_or_default().to_owned()
}

/// The field of the app that emitted `m` whose value carries `origin`, with its layers.
fn field_chain(db: &dyn Db, project: Project, env: Option<&str>, m: &Manifest, origin: &Origin) -> Option<FieldChain> {
    if !matches!(
        origin.layer,
        Layer::TemplateDefault { .. } | Layer::ExtendingTemplate { .. } | Layer::App { .. } | Layer::Environment { .. }
    ) {
        return None;
    }
    let index = project_index(db, project);
    let file = index.root_files().into_iter().find(|f| f.id(db) == m.source.file)?;
    let app = Name::from(m.app.as_str());
    let env_name = env.map(Name::from);
    let eval = crate::app::eval_app(db, project, file, app.clone(), env_name.clone());
    let (field, _) = eval.fields.entries().find(|(_, e)| &e.origin == origin)?;
    let field = Name::from(&**field);
    let mut settings = Vec::new();
    let hir = file_hir(db, file);
    let fid = file.id(db);
    let a = hir.apps.get(&app)?;
    let written = |set: &kdep_sema::hir::SetHir| {
        let value = text_of(db, file, Span::new(fid, set.value.range));
        if set.key.len() > 1 {
            format!("{} = {value}", set.key_display())
        } else {
            value
        }
    };
    let for_field = |set: &&kdep_sema::hir::SetHir| set.key.first().is_some_and(|(k, _)| *k == field);
    if let Some(e) = &env_name {
        for block in a.envs.iter().filter(|b| &b.env == e) {
            // The last assignment of a block wins, as in the evaluator.
            for set in block.sets.iter().filter(for_field).rev() {
                settings.push(Setting {
                    layer: Layer::Environment { app: app.clone(), env: e.clone() },
                    span: Span::new(fid, set.range),
                    written: written(set),
                });
            }
        }
    }
    for set in a.sets.iter().filter(for_field).rev() {
        settings.push(Setting {
            layer: Layer::App { app: app.clone() },
            span: Span::new(fid, set.range),
            written: written(set),
        });
    }
    let model = app_template(db, project, file, app.clone()).ok()?;
    // Every declaration merged into the template, base-most first, each with its own view of
    // the field: a default or type that differs from the previous one was set there.
    let mut defaults: Vec<Setting> = Vec::new();
    let mut constraints: Vec<Constraint> = Vec::new();
    let mut locked = None;
    for (sf, name) in model.sources.iter().rev() {
        let Some(src) = template_model(db, project, *sf, name.clone()) else { continue };
        let Some(fm) = src.fields.get(&field) else { continue };
        if let Some(d) = &fm.default {
            if defaults.last().is_none_or(|s| s.span != d.span) && defaults.iter().all(|s| s.span != d.span) {
                let layer = if defaults.is_empty() {
                    Layer::TemplateDefault { template: src.qualified.clone() }
                } else {
                    Layer::ExtendingTemplate { template: src.qualified.clone() }
                };
                defaults.push(Setting { layer, span: d.span, written: text_of(db, d.file, d.span) });
            }
        }
        if let Some(ts) = fm.ty_span {
            if constraints.iter().all(|c| c.span != ts) {
                let text = project_text(db, project, ts).unwrap_or_default();
                constraints.push(Constraint { template: src.qualified.clone(), span: ts, written: text });
            }
        }
        if let (None, Some(l)) = (&locked, &fm.locked) {
            locked = Some((l.template.clone(), l.span));
        }
    }
    settings.extend(defaults.into_iter().rev());
    Some(FieldChain { app, field, settings, locked, constraints })
}

/// The source text of a span in any file of the project (dependencies and the stdlib too).
fn project_text(db: &dyn Db, project: Project, span: Span) -> Option<String> {
    let index = project_index(db, project);
    let file = index.file_module.keys().find(|f| f.id(db) == span.file)?;
    Some(text_of(db, *file, span))
}

/// One entry of a source map: an emitted field path and the origin of its value.
#[derive(Clone, Debug, PartialEq)]
pub struct MappedField {
    pub path: String,
    pub origin: Origin,
}

/// Every leaf path of an emitted object (maps by key, lists by index) with the origin of the
/// entry that holds it, in the object's key order. Empty maps and lists are leaves too.
pub fn source_map(m: &Manifest) -> Vec<MappedField> {
    let mut out = Vec::new();
    // Explicit stack instead of recursion: emitted objects are at most `MAX_VALUE_DEPTH` deep,
    // but the walk should not depend on that.
    let mut stack: Vec<(Vec<Segment>, &Value, Origin)> = vec![(Vec::new(), &m.object, Origin::builtin())];
    while let Some((path, value, origin)) = stack.pop() {
        match value {
            Value::Map(map) if !map.is_empty() => {
                let mut children: Vec<_> = map
                    .entries()
                    .map(|(k, e)| {
                        let mut p = path.clone();
                        p.push(Segment::Key(k.to_string()));
                        (p, &e.value, e.origin.clone())
                    })
                    .collect();
                children.reverse();
                stack.extend(children);
            }
            Value::List(items) if !items.is_empty() => {
                let mut children: Vec<_> = items
                    .iter()
                    .enumerate()
                    .map(|(n, v)| {
                        let mut p = path.clone();
                        p.push(Segment::Index(n));
                        (p, v, origin.clone())
                    })
                    .collect();
                children.reverse();
                stack.extend(children);
            }
            _ if path.is_empty() => {}
            _ => out.push(MappedField { path: display_path(&path), origin }),
        }
    }
    out
}

/// Short machine name of a layer for JSON output.
pub fn layer_kind(layer: &Layer) -> &'static str {
    match layer {
        Layer::TemplateDefault { .. } => "template-default",
        Layer::ExtendingTemplate { .. } => "extending-template",
        Layer::App { .. } => "app",
        Layer::Environment { .. } => "environment",
        Layer::Computed => "computed",
        Layer::Builtin => "builtin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_print_back() {
        let p = parse_path("spec.template.spec.containers[0].image").unwrap();
        assert_eq!(display_path(&p), "spec.template.spec.containers[0].image");
        let p = parse_path("metadata.labels[\"app.kubernetes.io/name\"]").unwrap();
        assert_eq!(p.last(), Some(&Segment::Key("app.kubernetes.io/name".into())));
        assert_eq!(display_path(&p), "metadata.labels[\"app.kubernetes.io/name\"]");
        for bad in ["", ".", "a..b", "a.", "a[x]", "a[0", "a[0]b"] {
            assert!(parse_path(bad).is_err(), "{bad:?} parsed");
        }
    }
}
