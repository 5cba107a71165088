//! Policies: the merged model of a `policy` declaration, which policies are active, and what a
//! waiver names. The evaluator (`kdep-eval/src/policy.rs`) runs the models over emitted objects.
//!
//! A policy is a list of entries. `severity`, `waivable`, `kinds` and `at` are literals, read
//! here (so a malformed policy is a compile-time error with a location, whatever the objects);
//! `when`, `check`, `message` and `params.*` are expressions, evaluated per object in the
//! policy's module with the locals [`crate::scope::POLICY_LOCALS`]. `policy p = base { ... }`
//! starts from `base`'s entries and replaces those it sets again (by key path; `params.x`
//! replaces only that parameter), each entry still resolving names where it is written.

use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Severity, Span, TextRange};

use crate::db::{Db, Project, SourceFile};
use crate::hir::{file_hir, Expr, ExprKind, Name, PathRef};
use crate::index::{file_imports, item_index, project_index, ItemKind};
use crate::ty::Ty;

/// The entry keys a policy may set.
pub const POLICY_KEYS: [&str; 8] = ["severity", "waivable", "kinds", "at", "when", "check", "message", "params"];

/// The longest chain of `policy a = b` bases followed; a longer one is reported.
const MAX_POLICY_CHAIN: usize = 64;

/// One segment of a selector: a key, or `[*]` (every item of a list, every value of a map).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SelectorSeg {
    Key(Name),
    Each,
}

/// An `at` selector, `spec.template.spec.containers[*].image`. The part up to the last `[*]`
/// must exist for the object to have subjects (a Service has no containers, so nothing to
/// check); the rest may be missing, and then the subject's value is `null` and a violation
/// says which field is missing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Selector {
    pub text: String,
    pub segments: Vec<SelectorSeg>,
    /// The byte range of each segment in `text`, for reports at the segment.
    pub ranges: Vec<std::ops::Range<usize>>,
}

impl Selector {
    /// Parses `a.b[*].c`, `a["x.y"]`-free dotted paths with `[*]` wildcards.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut segments = Vec::new();
        let mut ranges = Vec::new();
        let mut pos = 0;
        for part in text.split('.') {
            let start = pos;
            pos += part.len() + 1;
            let (key, mut rest) = match part.find('[') {
                Some(i) => (part.get(..i).unwrap_or_default(), part.get(i..).unwrap_or_default()),
                None => (part, ""),
            };
            if key.is_empty() && (segments.is_empty() || rest.is_empty()) {
                return Err(format!("`{text}` has an empty segment"));
            }
            if !key.is_empty() {
                if !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/')) {
                    return Err(format!("`{key}` in `{text}` is not a field name"));
                }
                segments.push(SelectorSeg::Key(Name::from(key)));
                ranges.push(start..start + key.len());
            }
            let mut at = start + key.len();
            while !rest.is_empty() {
                match rest.strip_prefix("[*]") {
                    Some(r) => {
                        segments.push(SelectorSeg::Each);
                        ranges.push(at..at + 3);
                        at += 3;
                        rest = r;
                    }
                    None => return Err(format!("`{text}`: only `[*]` may follow a field (every item)")),
                }
            }
        }
        Ok(Selector { text: text.to_owned(), segments, ranges })
    }
}

/// An expression entry of a policy, with the file whose scope it is evaluated in.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyExpr {
    pub value: Arc<Expr>,
    pub file: SourceFile,
    /// The whole `key = value` entry.
    pub span: Span,
}

/// A `params.*` entry: its path below `params` (empty for `params = { ... }`).
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyParam {
    pub path: Vec<Name>,
    pub expr: PolicyExpr,
}

/// A policy with its base's entries merged in.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyModel {
    pub file: SourceFile,
    pub name: Name,
    /// `module.name` (`package.module.name` for dependencies), as importers write it.
    pub qualified: String,
    pub name_span: Span,
    pub severity: Severity,
    pub waivable: bool,
    /// The `waivable = false` entry, for "cannot be waived" reports.
    pub waivable_span: Option<Span>,
    /// `kinds = [...]`: the object kinds it applies to; `None` for every kind.
    pub kinds: Option<Vec<String>>,
    /// `at`: the subjects; empty means the object itself.
    pub at: Vec<Selector>,
    pub when: Option<PolicyExpr>,
    pub check: Option<PolicyExpr>,
    pub message: Option<PolicyExpr>,
    pub params: Vec<PolicyParam>,
}

/// The model of policy `name` of `file` (`None` when it is too broken to run) and the
/// problems of its declaration.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PolicyResult {
    pub model: Option<Arc<PolicyModel>>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Where a policy path (`name`, `alias.name`) written in `file` leads: the declaring file and
/// name, or what it is instead.
pub enum PolicyTarget {
    Found(SourceFile, Name),
    /// A declaration of another kind.
    NotPolicy(ItemKind),
    /// Nothing of that name; the policies that could have been meant.
    Unknown(Vec<String>),
}

/// Resolves a policy path as written in `file`: `name` (this module) or `alias.name` (an
/// imported module). Reads only item indexes and imports, like every other path.
pub fn resolve_policy(db: &dyn Db, project: Project, file: SourceFile, path: &PathRef) -> PolicyTarget {
    let (module, name) = match &*path.segments {
        [name] => (Some(file), name.clone()),
        [alias, name] => (file_imports(db, project, file).map.get(alias).copied().flatten(), name.clone()),
        _ => (None, Name::from("")),
    };
    let Some(module) = module else {
        return PolicyTarget::Unknown(visible_policies(db, project, file));
    };
    match item_index(db, module).items.get(&name).map(|h| h.kind) {
        Some(ItemKind::Policy) => PolicyTarget::Found(module, name),
        Some(kind) => PolicyTarget::NotPolicy(kind),
        None => PolicyTarget::Unknown(visible_policies(db, project, file)),
    }
}

/// Policies a path in `file` can name, for "did you mean": the module's own and `alias.name`
/// for each imported module's.
fn visible_policies(db: &dyn Db, project: Project, file: SourceFile) -> Vec<String> {
    let policies = |f: SourceFile| -> Vec<Name> {
        item_index(db, f).items.iter().filter(|(_, h)| h.kind == ItemKind::Policy).map(|(n, _)| n.clone()).collect()
    };
    let mut out: Vec<String> = policies(file).iter().map(|n| n.to_string()).collect();
    for (alias, target) in &file_imports(db, project, file).map {
        if let Some(t) = target {
            out.extend(policies(*t).iter().map(|n| format!("{alias}.{n}")));
        }
    }
    out
}

fn literal_str(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Str(s) => Some(s),
        _ => None,
    }
}

/// The string literals of a `kinds` or `at` entry (one, or a list), each with its range and
/// whether the source text is the value verbatim between its quotes (no escapes), so a byte of
/// the value is a byte of the file.
fn literal_items(e: &Expr) -> impl Iterator<Item = (String, TextRange, bool)> + '_ {
    let items: &[Expr] = match &e.kind {
        ExprKind::List(items) => items,
        _ => std::slice::from_ref(e),
    };
    items.iter().filter_map(|i| literal_str(i).map(|t| (t.to_owned(), i.range, i.range.len() as usize == t.len() + 2)))
}

fn literal_strs(e: &Expr) -> Option<Vec<String>> {
    match &e.kind {
        ExprKind::Str(s) => Some(vec![s.to_string()]),
        ExprKind::List(items) => items.iter().map(|i| literal_str(i).map(str::to_owned)).collect(),
        _ => None,
    }
}

/// The merged model of policy `name` declared in `file`, and its diagnostics.
#[salsa::tracked(returns(clone))]
pub fn policy_result(db: &dyn Db, project: Project, file: SourceFile, name: Name) -> Arc<PolicyResult> {
    let mut diags = Vec::new();
    let hir = file_hir(db, file);
    let Some(own) = hir.policies.get(&name).cloned() else { return Arc::default() };
    let fid = file.id(db);
    // The chain from this policy to its root base, walked here rather than through recursive
    // queries so a cycle is an error, not a salsa cycle.
    let mut chain = vec![(file, own.clone())];
    let mut cur = (file, own.clone());
    while let Some(base) = cur.1.base.clone() {
        let at = Span::new(cur.0.id(db), base.range);
        match resolve_policy(db, project, cur.0, &base) {
            PolicyTarget::Found(bf, bn) => {
                if chain.iter().any(|(f, p)| *f == bf && p.name == bn) {
                    diags.push(
                        Diagnostic::error(Code::INVALID_POLICY, format!("policy `{name}` extends itself"))
                            .with_primary(at, "the chain of bases comes back here"),
                    );
                    return Arc::new(PolicyResult { model: None, diagnostics: only_here(diags, file, db) });
                }
                if chain.len() >= MAX_POLICY_CHAIN {
                    diags.push(
                        Diagnostic::error(Code::INVALID_POLICY, "the chain of policy bases is too long")
                            .with_primary(at, format!("more than {MAX_POLICY_CHAIN} bases")),
                    );
                    return Arc::new(PolicyResult { model: None, diagnostics: only_here(diags, file, db) });
                }
                let Some(p) = file_hir(db, bf).policies.get(&bn).cloned() else { break };
                chain.push((bf, p.clone()));
                cur = (bf, p);
            }
            PolicyTarget::NotPolicy(kind) => {
                diags.push(
                    Diagnostic::error(
                        Code::INVALID_POLICY,
                        format!("`{}` is {}, not a policy", base.display(), kind.describe()),
                    )
                    .with_primary(at, "a policy extends a policy"),
                );
                return Arc::new(PolicyResult { model: None, diagnostics: only_here(diags, file, db) });
            }
            PolicyTarget::Unknown(known) => {
                let mut d = Diagnostic::error(Code::INVALID_POLICY, format!("no policy `{}`", base.display()))
                    .with_primary(at, "unknown policy");
                if let Some(best) = crate::suggest::best(&base.display(), known.iter().map(String::as_str)) {
                    d = d.with_help(format!("did you mean `{best}`?"));
                }
                diags.push(d);
                return Arc::new(PolicyResult { model: None, diagnostics: only_here(diags, file, db) });
            }
        }
    }
    let index = project_index(db, project);
    let mut model = PolicyModel {
        file,
        name: name.clone(),
        qualified: format!("{}.{name}", index.module_display(file)),
        name_span: Span::new(fid, own.name_range),
        severity: Severity::Error,
        waivable: true,
        waivable_span: None,
        kinds: None,
        at: Vec::new(),
        when: None,
        check: None,
        message: None,
        params: Vec::new(),
    };
    // The literal items of the `kinds` and `at` entries in force, with where each is written,
    // for checking them against the schemas below.
    let mut kind_sites: Vec<(String, Span)> = Vec::new();
    let mut at_sites: Vec<(Selector, Span, bool)> = Vec::new();
    // Root base first; each later declaration replaces what it sets again.
    for (pf, p) in chain.iter().rev() {
        let pfid = pf.id(db);
        let mine = *pf == file && p.name == name;
        for set in &p.sets {
            let Some((head, head_range)) = set.key.first() else { continue };
            let span = Span::new(pfid, set.range);
            let key_span = Span::new(pfid, set.key_range());
            let expr = PolicyExpr { value: set.value.clone(), file: *pf, span };
            let mut bad = |msg: String, label: &str, help: &str| {
                // A base's problems are reported at the base; here only our own.
                if mine {
                    diags.push(
                        Diagnostic::error(Code::INVALID_POLICY, msg).with_primary(key_span, label).with_help(help),
                    );
                }
            };
            if &**head != "params" && set.key.len() > 1 {
                bad(
                    format!("`{}` is not a policy entry", set.key_display()),
                    "not a policy entry",
                    "only `params` has entries of its own (`params.registries = [...]`)",
                );
                continue;
            }
            match &**head {
                "severity" => match literal_str(&set.value) {
                    Some("error") => model.severity = Severity::Error,
                    Some("warning") => model.severity = Severity::Warning,
                    _ => bad(
                        "`severity` must be \"error\" or \"warning\"".into(),
                        "not a severity",
                        "write `severity = \"error\"` (fails check and build) or `severity = \"warning\"`",
                    ),
                },
                "waivable" => match set.value.kind {
                    ExprKind::Bool(b) => {
                        model.waivable = b;
                        model.waivable_span = (!b).then_some(span);
                    }
                    _ => bad(
                        "`waivable` must be `true` or `false`".into(),
                        "not a literal bool",
                        "whether apps may waive the policy is fixed when it is declared",
                    ),
                },
                "kinds" => match literal_strs(&set.value) {
                    Some(k) => {
                        kind_sites = literal_items(&set.value).map(|(t, r, _)| (t, Span::new(pfid, r))).collect();
                        model.kinds = Some(k)
                    }
                    None => bad(
                        "`kinds` must be a list of kind names".into(),
                        "not a list of string literals",
                        "write `kinds = [\"Deployment\", \"StatefulSet\"]`",
                    ),
                },
                "at" => match literal_strs(&set.value) {
                    Some(_) => {
                        let mut sels = Vec::new();
                        at_sites.clear();
                        for (text, range, raw) in literal_items(&set.value) {
                            match Selector::parse(&text) {
                                Ok(s) => {
                                    at_sites.push((s.clone(), Span::new(pfid, range), raw));
                                    sels.push(s)
                                }
                                Err(e) => bad(format!("invalid selector {e}"), "invalid selector", "a selector is a dotted path with `[*]` for every item: `spec.template.spec.containers[*].image`"),
                            }
                        }
                        model.at = sels;
                    }
                    None => bad(
                        "`at` must be a selector string or a list of them".into(),
                        "not a string literal",
                        "write `at = \"spec.template.spec.containers[*].image\"`",
                    ),
                },
                "when" => model.when = Some(expr),
                "check" => model.check = Some(expr),
                "message" => model.message = Some(expr),
                "params" => {
                    let path: Vec<Name> = set.key.iter().skip(1).map(|(n, _)| n.clone()).collect();
                    // A later `params.x` replaces an earlier one (and `params = {...}` all of them).
                    model.params.retain(|p| !p.path.starts_with(&path));
                    model.params.push(PolicyParam { path, expr });
                }
                other => {
                    let mut d = Diagnostic::error(Code::INVALID_POLICY, format!("a policy has no entry `{other}`"))
                        .with_primary(Span::new(pfid, *head_range), "unknown entry");
                    if let Some(best) = crate::suggest::best(other, POLICY_KEYS) {
                        d = d.with_help(format!("did you mean `{best}`?"));
                    }
                    d = d.with_help(format!(
                        "a policy's entries are {}; parameters go under `params`",
                        POLICY_KEYS.map(|k| format!("`{k}`")).join(", ")
                    ));
                    if mine {
                        diags.push(d);
                    }
                }
            }
        }
    }
    if model.check.is_none() {
        diags.push(
            Diagnostic::error(Code::INVALID_POLICY, format!("policy `{name}` has no `check`"))
                .with_primary(Span::new(fid, own.name_range), "nothing to check")
                .with_help("add `check = <condition>`, true for a compliant object (it reads `object`, `value`, `params`, `env`)"),
        );
    }
    if model.check.is_some() {
        diags.extend(selector_diagnostics(db, project, &kind_sites, &at_sites));
    }
    let model = model.check.is_some().then(|| Arc::new(model));
    Arc::new(PolicyResult { model, diagnostics: only_here(diags, file, db) })
}

fn only_here(mut diags: Vec<Diagnostic>, file: SourceFile, db: &dyn Db) -> Vec<Diagnostic> {
    let fid = file.id(db);
    diags.retain(|d| d.primary.as_ref().is_none_or(|p| p.span.file == fid));
    diags
}

/// The policies that apply to the objects the root package emits: those declared in the
/// modules `check` analyses ([`crate::index::reachable_files`], which adds every module of a
/// dependency that declares a policy), except the standard library's, which are a library to
/// enable (`policy images_pinned = policies.images_pinned {}`), not rules in force.
#[salsa::tracked(returns(clone))]
pub fn active_policies(db: &dyn Db, project: Project) -> Arc<Vec<Arc<PolicyModel>>> {
    let index = project_index(db, project);
    let mut out = Vec::new();
    for file in crate::index::reachable_files(db, project).iter() {
        let std = index.file_module.get(file).and_then(|(p, _)| index.packages.get(*p)).is_some_and(|p| p.is_stdlib);
        if std {
            continue;
        }
        // The policies' names from the item index (in declaration order, like the lowered
        // file's): a module without policies is not lowered here.
        let items = crate::index::item_index(db, *file);
        for (name, _) in items.items.iter().filter(|(_, h)| h.kind == crate::index::ItemKind::Policy) {
            if let Some(m) = &policy_result(db, project, *file, name.clone()).model {
                out.push(m.clone());
            }
        }
    }
    Arc::new(out)
}

/// A checked waiver of an app: the policy it names, or `None` when it is invalid (reported by
/// [`waiver_diagnostics`]).
pub fn waiver_target(db: &dyn Db, project: Project, file: SourceFile, path: &PathRef) -> Option<(SourceFile, Name)> {
    match resolve_policy(db, project, file, path) {
        PolicyTarget::Found(f, n) => Some((f, n)),
        _ => None,
    }
}

/// Problems of the waivers of the apps of `file`: an unknown policy, no or an empty reason, a
/// policy that forbids waivers (pointing at both), the same policy waived twice.
pub fn waiver_diagnostics(db: &dyn Db, project: Project, file: SourceFile) -> Vec<Diagnostic> {
    let hir = file_hir(db, file);
    let fid = file.id(db);
    let mut out = Vec::new();
    for app in hir.apps.values() {
        let mut seen: Vec<((SourceFile, Name), TextRange)> = Vec::new();
        for w in &app.waivers {
            let at = Span::new(fid, w.policy.range);
            match w.reason.as_ref().map(|(t, r)| (t.trim(), *r)) {
                None => out.push(
                    Diagnostic::error(Code::INVALID_WAIVER, format!("the waiver of `{}` gives no reason", w.policy.display()))
                        .with_primary(Span::new(fid, w.range), "no reason")
                        .with_help(format!("write why the app may break the rule: `waive {} : \"...\"`", w.policy.display())),
                ),
                Some(("", r)) => out.push(
                    Diagnostic::error(Code::INVALID_WAIVER, format!("the waiver of `{}` gives no reason", w.policy.display()))
                        .with_primary(Span::new(fid, r), "empty or computed reason")
                        .with_help("a reason is plain, non-empty text: reviewers read it, and `kdep check --message-format json` lists it"),
                ),
                Some(_) => {}
            }
            match resolve_policy(db, project, file, &w.policy) {
                PolicyTarget::Found(pf, pn) => {
                    if let Some((_, first)) = seen.iter().find(|(k, _)| *k == (pf, pn.clone())) {
                        out.push(
                            Diagnostic::error(
                                Code::INVALID_WAIVER,
                                format!("`{}` is waived twice", w.policy.display()),
                            )
                            .with_primary(at, "waived again here")
                            .with_secondary(Span::new(fid, *first), "first waived here"),
                        );
                        continue;
                    }
                    seen.push(((pf, pn.clone()), w.policy.range));
                    let result = policy_result(db, project, pf, pn.clone());
                    if let Some(m) = &result.model {
                        if !m.waivable {
                            let mut d = Diagnostic::error(
                                Code::WAIVER_FORBIDDEN,
                                format!("policy `{}` cannot be waived", m.qualified),
                            )
                            .with_primary(at, "waiver not permitted");
                            d = match m.waivable_span {
                                Some(s) => d.with_secondary(s, "waivers forbidden here"),
                                None => d.with_secondary(m.name_span, "policy declared here"),
                            };
                            let owner = pf.path(db);
                            out.push(d.with_help(format!(
                                "make the app comply, or ask the owners of {owner} for an exception in the policy itself"
                            )));
                        }
                    }
                }
                PolicyTarget::NotPolicy(kind) => out.push(
                    Diagnostic::error(
                        Code::INVALID_WAIVER,
                        format!("`{}` is {}, not a policy", w.policy.display(), kind.describe()),
                    )
                    .with_primary(at, "not a policy"),
                ),
                PolicyTarget::Unknown(known) => {
                    let mut d =
                        Diagnostic::error(Code::INVALID_WAIVER, format!("no policy `{}` to waive", w.policy.display()))
                            .with_primary(at, "unknown policy");
                    if let Some(best) = crate::suggest::best(&w.policy.display(), known.iter().map(String::as_str)) {
                        d = d.with_help(format!("did you mean `{best}`?"));
                    } else if !known.is_empty() {
                        d = d.with_help(format!("policies visible here: {}", known.join(", ")));
                    }
                    out.push(d);
                }
            }
        }
    }
    out
}

/// One waiver of an app of the root package, as `kdep check --message-format json` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct WaiverListing {
    pub app: Name,
    /// The policy as importers name it (`platform.policies.images_pinned`), or as written when
    /// it names none.
    pub policy: String,
    pub reason: Option<String>,
    /// The `waive` entry.
    pub span: Span,
    /// Whether the waiver takes effect: it names a waivable policy and gives a reason.
    pub honoured: bool,
}

/// Every waiver of every app of the root package, in file and source order.
pub fn root_waivers(db: &dyn Db, project: Project) -> Vec<WaiverListing> {
    let mut out = Vec::new();
    for file in project_index(db, project).root_files() {
        let fid = file.id(db);
        for app in file_hir(db, file).apps.values() {
            for w in &app.waivers {
                let reason = w.reason.as_ref().map(|(r, _)| r.clone()).filter(|r| !r.trim().is_empty());
                let model = waiver_target(db, project, file, &w.policy)
                    .and_then(|(f, n)| policy_result(db, project, f, n).model.clone());
                out.push(WaiverListing {
                    app: app.name.clone(),
                    policy: model.as_ref().map_or_else(|| w.policy.display(), |m| m.qualified.clone()),
                    honoured: reason.is_some() && model.as_ref().is_some_and(|m| m.waivable),
                    reason,
                    span: Span::new(fid, w.range),
                });
            }
        }
    }
    out
}

/// A Kubernetes kind a policy can name: the schema [`crate::resources::resource_schema`] gives
/// for it (the library's for built-in kinds, else the package's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownKind {
    pub kind: Name,
    pub api_version: Name,
    pub file: SourceFile,
    pub name: Name,
}

/// The kinds a policy can apply to ([`known_kinds`]).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KnownKinds {
    /// Whether the stdlib has the Kubernetes library (`k8s.*` modules). Without it (a test's
    /// stand-in stdlib) the built-in kinds are unknown, so nothing can be said about kinds and
    /// selectors, and they are not checked.
    pub library: bool,
    pub kinds: Vec<KnownKind>,
}

/// Every kind a policy can apply to: those of the Kubernetes library (every `k8s.*` module of
/// the stdlib) and the `@resource` schemas of the packages, one entry per `(apiVersion, kind)`,
/// in name order. Read from item indexes only.
#[salsa::tracked(returns(clone))]
pub fn known_kinds(db: &dyn Db, project: Project) -> Arc<KnownKinds> {
    let index = project_index(db, project);
    let mut pairs: Vec<(Name, Name)> = Vec::new();
    let mut library = false;
    if let Some(std) = index.stdlib.and_then(|s| index.packages.get(s)) {
        for (module, file) in &std.modules {
            if !module.starts_with("k8s.") {
                continue;
            }
            library = true;
            for h in item_index(db, *file).items.values() {
                if let Some(r) = h.resource.as_ref().filter(|_| h.kind == ItemKind::Schema) {
                    pairs.push((r.api_version.clone(), r.kind.clone()));
                }
            }
        }
    }
    for (api, kinds) in &crate::resources::resource_registry(db, project).kinds {
        pairs.extend(kinds.keys().map(|k| (api.clone(), k.clone())));
    }
    pairs.sort();
    pairs.dedup();
    let mut out: Vec<KnownKind> = pairs
        .into_iter()
        .filter_map(|(api, kind)| {
            let e = crate::resources::resource_schema(db, project, &api, &kind)?;
            Some(KnownKind { kind, api_version: api, file: e.file, name: e.name })
        })
        .collect();
    out.sort_by(|a, b| (&a.kind, &a.api_version).cmp(&(&b.kind, &b.api_version)));
    Arc::new(KnownKinds { library, kinds: out })
}

/// Why a selector selects nothing in one kind's schema: the segment it fails at, what is wrong
/// there, and the closest field when a name is misspelt.
struct PathMiss {
    seg: usize,
    label: String,
    best: Option<String>,
}

/// The longest bound on a selector's walk through schema types (recursive schemas such as
/// JSON schema props are finite only through their fields).
const MAX_SELECTOR_DEPTH: u32 = 64;

/// Follows `sel` through the field types of schema `(file, name)`, the same template models and
/// types the type checker reads: `Ok` when some object of the kind can have a value there (a
/// path through an `@open` schema or an `any` field always can), else where it stops.
fn follow_selector(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    name: &Name,
    sel: &Selector,
) -> Result<(), PathMiss> {
    let Some(root) = crate::model::template_model(db, project, file, name.clone()) else { return Ok(()) };
    if root.open {
        return Ok(());
    }
    let root_ty = Ty::Schema(crate::ty::SchemaRef {
        file,
        name: name.clone(),
        display: root.qualified.clone(),
        ancestors: Arc::default(),
    });
    follow(db, project, &root_ty, sel, 0, 0)
}

fn follow(db: &dyn Db, project: Project, ty: &Ty, sel: &Selector, i: usize, depth: u32) -> Result<(), PathMiss> {
    let Some(seg) = sel.segments.get(i) else { return Ok(()) };
    if depth > MAX_SELECTOR_DEPTH {
        return Ok(());
    }
    let miss = |label: String| Err(PathMiss { seg: i, label, best: None });
    match (ty, seg) {
        (Ty::Optional(inner), _) => follow(db, project, inner, sel, i, depth + 1),
        (Ty::Any | Ty::Error, _) => Ok(()),
        (Ty::OneOf(members), _) => {
            // Some member must lead somewhere; otherwise report the one that went farthest.
            let mut worst: Option<PathMiss> = None;
            for m in members {
                match follow(db, project, m, sel, i, depth + 1) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        if worst.as_ref().is_none_or(|w| e.seg > w.seg) {
                            worst = Some(e);
                        }
                    }
                }
            }
            worst.map_or(Ok(()), Err)
        }
        (Ty::Schema(sref), SelectorSeg::Key(k)) => {
            let Some(model) = crate::model::template_model(db, project, sref.file, sref.name.clone()) else {
                return Ok(());
            };
            match model.fields.get(k) {
                Some(f) => follow(db, project, &f.ty, sel, i + 1, depth + 1),
                None if model.open => Ok(()),
                None => Err(PathMiss {
                    seg: i,
                    label: format!("`{}` has no field `{k}`", model.qualified),
                    best: crate::suggest::best(k, model.fields.keys().map(|n| &**n)).map(str::to_owned),
                }),
            }
        }
        // `[*]` over a record: every field's value, of whatever type.
        (Ty::Schema(_), SelectorSeg::Each) => Ok(()),
        (Ty::Map(value, ..), _) => follow(db, project, value, sel, i + 1, depth + 1),
        (Ty::List(item, _), SelectorSeg::Each) => follow(db, project, item, sel, i + 1, depth + 1),
        (Ty::List(..), SelectorSeg::Key(k)) => {
            miss(format!("a list has no field `{k}`: select its items with `[*]` before `.{k}`"))
        }
        (other, SelectorSeg::Key(k)) => miss(format!("{} has no field `{k}`", article(&other.kind_name()))),
        (other, SelectorSeg::Each) => {
            miss(format!("{} has no items to select with `[*]`", article(&other.kind_name())))
        }
    }
}

fn article(kind: &str) -> String {
    match kind.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {kind}"),
        Some('`') => format!("the record {kind}"),
        _ => format!("a {kind}"),
    }
}

/// K0607 for kinds no schema declares, and K0606 for `at` selectors that select nothing in
/// every kind the policy applies to (every known kind when `kinds` is absent): a misspelt field
/// would make the policy check nothing, silently.
fn selector_diagnostics(
    db: &dyn Db,
    project: Project,
    kind_sites: &[(String, Span)],
    at_sites: &[(Selector, Span, bool)],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let known = known_kinds(db, project);
    if !known.library {
        return out;
    }
    let known = &known.kinds;
    let mut candidates: Vec<&KnownKind> = Vec::new();
    for (kind, span) in kind_sites {
        let found: Vec<&KnownKind> = known.iter().filter(|k| *k.kind == **kind).collect();
        if found.is_empty() {
            let mut d = Diagnostic::error(Code::POLICY_UNKNOWN_KIND, format!("no kind `{kind}` is declared"))
                .with_primary(*span, "unknown kind");
            let mut names: Vec<&str> = known.iter().map(|k| &*k.kind).collect();
            names.dedup();
            d = match crate::suggest::best(kind, names.iter().copied()) {
                Some(best) => d.with_help(format!("did you mean `{best}`?")),
                None => d.with_help(
                    "a custom resource needs a schema: declare it with `@resource(apiVersion = \"...\", kind = \"...\")`",
                ),
            };
            out.push(d);
        }
        candidates.extend(found);
    }
    let unknown_kinds_only = !kind_sites.is_empty() && candidates.is_empty();
    if kind_sites.is_empty() {
        // Every kind with a schema that says something: a kind that is `@open` at its root
        // would accept any selector, and a policy for every kind is not about it.
        candidates = known
            .iter()
            .filter(|k| crate::model::template_model(db, project, k.file, k.name.clone()).is_some_and(|m| !m.open))
            .collect();
    }
    if unknown_kinds_only || candidates.is_empty() {
        return out;
    }
    for (sel, span, raw) in at_sites {
        let mut farthest: Option<(PathMiss, &KnownKind)> = None;
        let mut ok = false;
        for k in &candidates {
            match follow_selector(db, project, k.file, &k.name, sel) {
                Ok(()) => {
                    ok = true;
                    break;
                }
                Err(m) => {
                    if farthest.as_ref().is_none_or(|(f, _)| m.seg > f.seg) {
                        farthest = Some((m, k));
                    }
                }
            }
        }
        let Some((miss, kind)) = farthest.filter(|_| !ok) else { continue };
        // At the segment when the literal is the selector verbatim, else at the whole string.
        let at = match (sel.ranges.get(miss.seg), raw) {
            (Some(r), true) => {
                let start = span.range.start + 1 + r.start as u32;
                Span::new(span.file, TextRange::new(start, start + r.len() as u32))
            }
            _ => *span,
        };
        let applies = if kind_sites.is_empty() {
            "any Kubernetes kind".to_owned()
        } else {
            let mut names: Vec<&str> = candidates.iter().map(|k| &*k.kind).collect();
            names.dedup();
            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        };
        let mut d = Diagnostic::error(
            Code::POLICY_UNKNOWN_FIELD,
            format!("selector `{}` selects nothing in {applies}", sel.text),
        )
        .with_primary(at, miss.label);
        if let Some(best) = miss.best {
            d = d.with_help(format!("did you mean `{best}`?"));
        }
        if candidates.len() > 1 {
            d = d.with_help(format!("it went farthest in `{}` ({})", kind.kind, kind.api_version));
        }
        out.push(d.with_help("a policy whose selector selects nothing checks nothing"));
    }
    out
}
