//! The declared apply order of apps (`@after(app = "db")`): resolved and checked statically.
//!
//! `kdep apply` applies the apps of a package in waves: an app declared `@after` others is
//! applied once their objects are applied and their rollouts ready. Everything that can be
//! known before a cluster is involved is decided here, over the root package: each named app
//! resolves through the one resolver ([`Resolver::app_named`], the rule a bare app name or
//! `alias.app` follows in an app body), an unknown name is K0681 with "did you mean", an app
//! after itself K0682, and a cycle K0683 naming its members. The evaluator stamps the resolved
//! names on the app's objects (`kdep.dev/apply-after`), which is all the cluster crate sees.

use std::sync::Arc;

use kdep_diag::{Code, Diagnostic, Span, TextRange};
use rustc_hash::FxHashMap;

use crate::db::{Db, Project, SourceFile};
use crate::hir::{file_hir, Name};
use crate::index::{project_index, ItemKind};
use crate::scope::{Resolution, Resolver};

/// An app of the root package: its module and name.
pub type AppId = (SourceFile, Name);

/// The resolved `@after` declarations of the root package's apps.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ApplyOrder {
    /// For each app that declares `@after`, the apps it is applied after that resolved (in
    /// source order, without itself). Apps without `@after` are absent.
    pub after: FxHashMap<AppId, Vec<AppId>>,
    pub diagnostics: Vec<Diagnostic>,
}

impl ApplyOrder {
    /// The names of the apps `app` is applied after, as its objects' instance label spells them
    /// (the app's name), sorted and without repeats: the value of `kdep.dev/apply-after`.
    pub fn after_names(&self, file: SourceFile, app: &Name) -> Vec<Name> {
        let mut names: Vec<Name> =
            self.after.get(&(file, app.clone())).into_iter().flatten().map(|(_, n)| n.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// Resolves and checks every `@after` of the root package. Project-wide like `check::app_cycles`
/// (a cycle may span modules), and as cheap: a module none of whose apps declares `@after`
/// costs its item index only.
#[salsa::tracked(returns(ref))]
pub fn apply_order(db: &dyn Db, project: Project) -> Arc<ApplyOrder> {
    let index = project_index(db, project);
    let mut out = ApplyOrder::default();
    let mut nodes: Vec<AppId> = Vec::new();
    // Where each edge is declared, to label a cycle at its `@after` strings.
    let mut sites: FxHashMap<(AppId, AppId), TextRange> = FxHashMap::default();
    for file in index.root_files() {
        // The item index says whether an app of the file declares `@after`: the lowering of
        // the others is not read (a large build drops it before the file's batch).
        if !crate::index::item_index(db, file).items.values().any(|h| h.after) {
            continue;
        }
        let hir = file_hir(db, file);
        let scope = Resolver::app(db, project, file);
        let fid = file.id(db);
        for (name, a) in hir.apps.iter().filter(|(_, a)| !a.after.is_empty()) {
            let node = (file, name.clone());
            let mut targets = Vec::new();
            for after in &a.after {
                let written = after.path.iter().map(|s| &**s).collect::<Vec<_>>().join(".");
                let at = Span::new(fid, after.range);
                let target = match scope.app_named(&after.path) {
                    Resolution::App(tf) => after.path.last().map(|n| (tf, n.clone())),
                    res => {
                        let app_span = Span::new(fid, a.name_range);
                        out.diagnostics.push(unknown(&written, res, at, &scope, (name, app_span)));
                        None
                    }
                };
                let Some(target) = target else { continue };
                if target == node {
                    out.diagnostics.push(
                        Diagnostic::error(Code::APP_AFTER_ITSELF, format!("app `{name}` is declared after itself"))
                            .with_primary(at, "names the app it is written on")
                            .with_help("name the apps this one must wait for, or remove `@after`"),
                    );
                    continue;
                }
                sites.entry((node.clone(), target.clone())).or_insert(after.range);
                if !targets.contains(&target) {
                    targets.push(target);
                }
            }
            nodes.push(node.clone());
            out.after.insert(node, targets);
        }
    }
    let (cycles, _) = crate::lets::find_cycles(&nodes, &out.after);
    for members in cycles {
        let across = members.iter().any(|(f, _)| members.first().is_some_and(|(g, _)| f != g));
        let show = |(f, n): &AppId| if across { format!("{}.{n}", index.module_display(*f)) } else { n.to_string() };
        let chain = members.iter().chain(members.first()).map(show).collect::<Vec<_>>().join(" → ");
        let mut d = Diagnostic::error(Code::APPLY_ORDER_CYCLE, format!("apply order cycle: {chain}"));
        for (k, from) in members.iter().enumerate() {
            let to = members.get(k + 1).or(members.first());
            let Some(range) = to.and_then(|to| sites.get(&(from.clone(), to.clone()))) else { continue };
            let span = Span::new(from.0.id(db), *range);
            let label = format!("`{}` is applied after `{}`", show(from), to.map_or_else(String::new, show));
            d = if k == 0 { d.with_primary(span, label) } else { d.with_secondary(span, label) };
        }
        out.diagnostics.push(d.with_help(
            "no app of a cycle could be applied first: remove the `@after` of the app that does not need to wait",
        ));
    }
    Arc::new(out)
}

/// K0681 for an `@after` name that is not an app of this package, saying what it is instead.
fn unknown(written: &str, res: Resolution, at: Span, scope: &Resolver, app: (&Name, Span)) -> Diagnostic {
    let (message, label) = match res {
        Resolution::ForeignApp(_) => (
            format!("`{written}` is an app of a dependency package, which this package never applies"),
            "not an app of this package",
        ),
        Resolution::Item(kind) if kind != ItemKind::App => {
            (format!("`{written}` is {}, not an app", kind.describe()), "not an app")
        }
        Resolution::Module(_) | Resolution::ModuleLet(_) | Resolution::Function(_) => {
            (format!("`{written}` is not an app"), "not an app")
        }
        _ => (format!("unknown app `{written}`"), "no app of this package has this name"),
    };
    let mut d = Diagnostic::error(Code::UNKNOWN_ORDER_APP, message)
        .with_primary(at, label)
        .with_secondary(app.1, "the app declared after it");
    // The app itself is no candidate: it cannot be applied after itself.
    let names: Vec<String> = scope.app_names().into_iter().filter(|n| **n != **app.0).collect();
    d = match crate::suggest::best(written, names.iter().map(String::as_str)) {
        Some(best) => d.with_help(format!("did you mean `{best}`?")),
        None if names.is_empty() => d.with_help(
            "`@after` names another app of this package: `\"db\"`, or `\"alias.db\"` for an app of an imported module",
        ),
        None => d.with_help(format!("the apps it can name: {}", names.join(", "))),
    };
    d
}
