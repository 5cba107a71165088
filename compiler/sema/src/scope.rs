//! Name resolution: the one place that decides what a name written in a body refers to.
//!
//! Names resolve **where they are written** (lexical scope). An expression in the body of
//! template `T` sees, in order: its comprehension variables, the fields and `let`s of `T`
//! (declared in `T` or inherited from the templates `T` extends), the top-level `let`s, import
//! aliases and declarations of the module `T` is written in. It never sees a name introduced by
//! a template that extends `T`: the values of `T`'s fields may be narrowed below it (that is
//! what defaults are for), but what a name *means* is fixed by the layer that wrote it. Expressions
//! in app bodies, `in` blocks, environments and top-level `let`s see only their module. A
//! function body sees its parameters and its module, never the fields of a template that calls
//! it. A call `f(x)` names a function of the module, `alias.f(x)` one of an imported module, and
//! otherwise a builtin ([`Resolver::callee`]).
//!
//! Two values depend on the app being evaluated, so only some bodies see them: the environment
//! (`env`, when nothing else of that name is in scope, and the keyword `environment`, which
//! nothing shadows) in template and app bodies, and the other apps of the module (read by name)
//! in app bodies, and the apps of other modules of the same package read through an import
//! (`data.orders_db`, [`Resolver::member`]). Top-level `let`s and environments are shared by every
//! app and environment, so neither is visible there.
//!
//! Every consumer reads this module: the evaluator ([`Resolver::resolve`] on each name it
//! evaluates), the static checks and the `let` graph ([`walk_names`]), the template model (the
//! names a base reads, for the shadowing diagnostic), and the editor API ([`resolve_at`]).

use std::sync::Arc;

use kdep_diag::TextRange;

use crate::db::{Db, Project, SourceFile};
use crate::hir::{
    file_hir, Clause, Expr, ExprKind, FnHir, InterpPart, KeySeg, MemberHir, Name, NameMap, ObjEntry, PathRef, TestHir,
    TestStep,
};
use crate::index::{file_imports, item_index, project_index, Imports, ItemIndex, ItemKind};
use crate::model::{template_model, TemplateModel};

/// What a bare name refers to, locals aside (see [`Resolver::resolve`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// A comprehension variable of an enclosing `for`.
    Local,
    /// A field of the enclosing template or schema instance.
    Field,
    /// A `let` of the enclosing template or schema.
    TemplateLet,
    /// A top-level `let` of the module the expression is written in.
    ModuleLet(SourceFile),
    /// An import alias; `None` when the import did not resolve (already reported).
    Module(Option<SourceFile>),
    /// A function of the module the expression is written in (callable, not a value).
    Function(SourceFile),
    /// A declaration that is not a value (template, schema, environment; an app outside an app
    /// body).
    Item(ItemKind),
    /// The environment the app is evaluated for: `env` (shadowed by any other binding of that
    /// name) or the keyword `environment` (never shadowed), in template and app bodies.
    Env,
    /// Another app read from an app body: its fields, in the same environment. A bare name is
    /// an app of this module; `alias.app` (see [`Resolver::member`]) an app of another module of
    /// the same package.
    App(SourceFile),
    /// `alias.app` in an app body where the module is of a dependency package: not a value
    /// (apps of dependency packages are never built).
    ForeignApp(SourceFile),
    /// Not defined anywhere the expression can see.
    Unresolved,
}

/// What the callee of a call (`f`, `alias.f`, as written) names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Callee {
    /// The user function `name` declared in `file` (this module or an imported one).
    Function { file: SourceFile, name: Name },
    /// No user function: a builtin, or an unknown function when no builtin has the name.
    Builtin,
    /// `alias.f` where `alias` is an import that did not resolve (already reported).
    BrokenImport,
    /// `alias.f` where the imported module has no function `f`.
    NotInModule { module: SourceFile, name: Name },
    /// `build(env)` in a `test` body ([`TEST_BUILD_FN`]): the package's built objects. Only
    /// tests see it, and a module function of that name hides it.
    TestBuild,
}

/// The function a `test` body calls for the package's built objects (`build("production")`).
pub const TEST_BUILD_FN: &str = "build";

/// The name under which the environment is a value, unless something else is called that.
pub const ENV_NAME: &str = "env";
/// The keyword that always means the environment (a template field called `env` is common).
pub const ENV_KEYWORD: &str = "environment";

/// Which kind of body a scope serves: it decides whether the environment and apps are values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyKind {
    /// Top-level `let`s and environments: shared by every app and environment.
    Module,
    /// App bodies and their `in` blocks.
    App,
    /// Template and schema bodies.
    Template,
    /// Policy bodies: the module, the environment, and the object being checked (bound as
    /// locals, [`POLICY_LOCALS`]).
    Policy,
    /// `test` bodies: the module, their own `let`s (locals, [`walk_test`]) and
    /// [`Callee::TestBuild`].
    Test,
}

/// The names a policy body binds for each check, as locals (so they shadow the module like a
/// function's parameters): the emitted object, the selected value (`at`), the merged `params`.
pub const POLICY_LOCALS: [&str; 3] = ["object", "value", "params"];

fn policy_locals() -> &'static [Name; 3] {
    static NAMES: std::sync::OnceLock<[Name; 3]> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| POLICY_LOCALS.map(Name::from))
}

/// The names visible to a body: its module, and for template and schema bodies the merged
/// model of the template that wrote it.
#[derive(Clone, Debug)]
pub struct Resolver {
    pub file: SourceFile,
    kind: BodyKind,
    /// What every scope of the file shares, built once per file ([`module_scope`]).
    module: Arc<ModuleScope>,
    /// The template or schema whose body holds the expression (the *writing* template, not the
    /// instance's template, which may extend it).
    members: Option<Arc<TemplateModel>>,
}

/// The part of a scope that depends on the file alone: its declarations, its imports and the
/// item indexes of the modules they name. Every body of a file starts from it (an app file's
/// checks, typeck and evaluation build a dozen scopes of it), so it is a query: one lookup
/// instead of an import walk and an item-index fetch per import each time.
#[derive(Debug, PartialEq, Eq)]
pub struct ModuleScope {
    items: Arc<ItemIndex>,
    imports: Arc<Imports>,
    /// What each import of `imports` names, by its position there (`None` when it did not
    /// resolve), for `alias.f(x)` calls and `alias.member` reads. Found through the imports'
    /// own map, so building a file's scope hashes no alias again (an app file imports one
    /// module, and a map of its own cost about as much as the rest of the scope).
    imported: Vec<Option<Imported>>,
}

/// A resolved import of a [`ModuleScope`].
#[derive(Debug, PartialEq, Eq)]
struct Imported {
    /// The item index of the module the import names.
    items: Arc<ItemIndex>,
    /// Whether that module belongs to the package of the importing file: in app bodies its apps
    /// are values (`data.orders_db`). Read only by app scopes ([`Resolver::same_package`]).
    same_package: bool,
}

impl ModuleScope {
    /// The resolved import called `alias`, if any.
    fn imported(&self, alias: &str) -> Option<&Imported> {
        self.imports.map.get_index_of(alias).and_then(|i| self.imported.get(i)).and_then(Option::as_ref)
    }
}

/// The [`ModuleScope`] of `file`.
// `lru = 0`: unbounded and untracked, until a batched build bounds it (`set_module_scope_lru`).
#[salsa::tracked(returns(clone), lru = 0)]
pub fn module_scope(db: &dyn Db, project: Project, file: SourceFile) -> Arc<ModuleScope> {
    let imports = file_imports(db, project, file);
    let index = project_index(db, project);
    let package = |f: &SourceFile| index.file_module.get(f).map(|(p, _)| *p);
    let own = package(&file);
    let imported = imports
        .map
        .values()
        .map(|target| {
            target.map(|m| Imported {
                items: item_index(db, m).clone(),
                same_package: own.is_some() && package(&m) == own,
            })
        })
        .collect();
    Arc::new(ModuleScope { items: item_index(db, file).clone(), imports, imported })
}

/// Bounds how many values of [`module_scope`] the database keeps at its next eviction (the
/// most recently read; 0: all, and reads are no longer tracked). Set by `kdep_eval`'s batched
/// build only; salsa makes the setter private to this module.
pub fn set_module_scope_lru(db: &mut dyn Db, capacity: usize) {
    module_scope::set_lru_capacity(db, capacity);
}

impl Resolver {
    /// The scope of top-level `let`s, app bodies, `in` blocks and environments of `file`.
    pub fn module(db: &dyn Db, project: Project, file: SourceFile) -> Self {
        Resolver { file, kind: BodyKind::Module, module: module_scope(db, project, file), members: None }
    }

    /// The scope of app bodies and `in` blocks of `file`: the module, the environment and the
    /// module's other apps.
    pub fn app(db: &dyn Db, project: Project, file: SourceFile) -> Self {
        Self::module(db, project, file).for_apps()
    }

    /// This module-level scope's file, for another kind of body: the same [`ModuleScope`],
    /// without fetching it again (a fetch costs about as much as a small file's name check).
    fn with_kind(&self, kind: BodyKind) -> Self {
        Resolver { file: self.file, kind, module: Arc::clone(&self.module), members: None }
    }

    /// [`Resolver::app`] of this scope's file.
    pub fn for_apps(&self) -> Self {
        self.with_kind(BodyKind::App)
    }

    /// [`Resolver::policy`] of this scope's file.
    pub fn for_policies(&self) -> Self {
        self.with_kind(BodyKind::Policy)
    }

    /// [`Resolver::test`] of this scope's file.
    pub fn for_tests(&self) -> Self {
        self.with_kind(BodyKind::Test)
    }

    /// The imports of this scope's file (its [`file_imports`]), already fetched with the scope.
    pub fn imports(&self) -> &Imports {
        &self.module.imports
    }

    /// The import aliases whose apps are values in this scope: those naming a module of the
    /// same package, in app bodies only (empty elsewhere).
    fn same_package(&self, alias: &str) -> bool {
        self.kind == BodyKind::App && self.module.imported(alias).is_some_and(|i| i.same_package)
    }

    /// The scope of the body of template or schema `owner` declared in `file`.
    pub fn body(db: &dyn Db, project: Project, file: SourceFile, owner: &Name) -> Self {
        Self::module(db, project, file).for_template(db, project, owner)
    }

    /// [`Resolver::body`] of template or schema `owner` of this scope's file.
    pub fn for_template(&self, db: &dyn Db, project: Project, owner: &Name) -> Self {
        let mut r = self.with_kind(BodyKind::Template);
        r.members = template_model(db, project, self.file, owner.clone());
        r
    }

    /// The scope of the entries of a policy declared in `file`: its module and the environment;
    /// the object under check comes as locals ([`walk_policy`], the evaluator's policy context).
    pub fn policy(db: &dyn Db, project: Project, file: SourceFile) -> Self {
        Self::module(db, project, file).for_policies()
    }

    /// The scope of the statements of a `test` of `file`: its module, and `build(env)`.
    pub fn test(db: &dyn Db, project: Project, file: SourceFile) -> Self {
        Self::module(db, project, file).for_tests()
    }

    /// Whether this scope reads the environment (`env`, `environment`): not at module level.
    pub fn sees_env(&self) -> bool {
        !matches!(self.kind, BodyKind::Module | BodyKind::Test)
    }

    /// The template or schema whose body this scope is, if any.
    pub fn members(&self) -> Option<&Arc<TemplateModel>> {
        self.members.as_ref()
    }

    /// What `name` refers to. Callers check their comprehension variables first: locals shadow
    /// everything.
    pub fn resolve(&self, name: &str) -> Resolution {
        if name == ENV_KEYWORD && self.sees_env() {
            return Resolution::Env;
        }
        if let Some(m) = &self.members {
            if m.fields.contains_key(name) {
                return Resolution::Field;
            }
            if m.lets.contains_key(name) {
                return Resolution::TemplateLet;
            }
        }
        match self.module.items.items.get(name) {
            Some(h) if h.kind == ItemKind::Let => return Resolution::ModuleLet(self.file),
            Some(h) if h.kind == ItemKind::Fn => return Resolution::Function(self.file),
            Some(_) | None => {}
        }
        if let Some(target) = self.module.imports.map.get(name) {
            return Resolution::Module(*target);
        }
        match self.module.items.items.get(name) {
            Some(h) if h.kind == ItemKind::App && self.kind == BodyKind::App => Resolution::App(self.file),
            Some(h) => Resolution::Item(h.kind),
            // Last, so any declaration, import or member called `env` shadows the environment.
            None if name == ENV_NAME && self.sees_env() => Resolution::Env,
            None => Resolution::Unresolved,
        }
    }

    /// What `alias.member` names, where `alias` (not a local) is an import of this scope: a `let`
    /// or function of that module, in app bodies an app of it (`App` when the module is of the
    /// same package, `ForeignApp` otherwise), another declaration (not a value) or nothing
    /// (`Unresolved`, also when the import did not resolve).
    pub fn member(&self, alias: &str, member: &str) -> Resolution {
        let Some(Some(module)) = self.module.imports.map.get(alias).copied() else { return Resolution::Unresolved };
        let Some(h) = self.module.imported(alias).and_then(|i| i.items.items.get(member)) else {
            return Resolution::Unresolved;
        };
        match h.kind {
            ItemKind::Let => Resolution::ModuleLet(module),
            ItemKind::Fn => Resolution::Function(module),
            ItemKind::App if self.kind == BodyKind::App && self.same_package(alias) => Resolution::App(module),
            ItemKind::App if self.kind == BodyKind::App => Resolution::ForeignApp(module),
            kind => Resolution::Item(kind),
        }
    }

    /// What an app name written in `@after` names, in this app scope: `db` an app of this
    /// module (as a bare name in an app body does), `alias.db` one of an imported module
    /// ([`Resolver::member`]). Locals do not exist there, so nothing shadows.
    pub fn app_named(&self, path: &[Name]) -> Resolution {
        match path {
            [name] => match self.module.items.items.get(name) {
                Some(h) if h.kind == ItemKind::App && self.kind == BodyKind::App => Resolution::App(self.file),
                Some(h) => Resolution::Item(h.kind),
                None if self.module.imports.map.contains_key(name) => Resolution::Module(None),
                None => Resolution::Unresolved,
            },
            [alias, member] => self.member(alias, member),
            _ => Resolution::Unresolved,
        }
    }

    /// The apps an app body of this scope can name, for "did you mean": the module's apps, then
    /// `alias.app` for the apps of the package's other modules it imports.
    pub fn app_names(&self) -> Vec<String> {
        let own = self.module.items.items.iter().filter(|(_, h)| h.kind == ItemKind::App).map(|(n, _)| n.to_string());
        let imported = self
            .module
            .imports
            .map
            .keys()
            .zip(&self.module.imported)
            .filter_map(|(alias, i)| i.as_ref().map(|i| (alias, i)))
            .filter(|(_, i)| self.kind == BodyKind::App && i.same_package)
            .flat_map(|(alias, i)| {
                i.items.items.iter().filter(|(_, h)| h.kind == ItemKind::App).map(move |(n, _)| format!("{alias}.{n}"))
            });
        own.chain(imported).collect()
    }

    /// The values this scope offers for "did you mean": the body's fields and `let`s, then the
    /// module's `let`s, import aliases and (in app bodies) apps. Comprehension variables are the
    /// caller's.
    pub fn value_names(&self) -> impl Iterator<Item = &str> {
        let members = self.members.iter().flat_map(|m| m.fields.keys().chain(m.lets.keys()));
        let items = self
            .module
            .items
            .items
            .iter()
            .filter(|(_, h)| h.kind == ItemKind::Let || (h.kind == ItemKind::App && self.kind == BodyKind::App));
        members.chain(items.map(|(n, _)| n)).chain(self.module.imports.map.keys()).map(|n| &**n)
    }

    /// What the callee of a call names. `head_is_local` says whether the first segment is a
    /// comprehension variable or parameter in scope (which hides an import of that name).
    pub fn callee(&self, callee: &str, head_is_local: bool) -> Callee {
        match callee.split_once('.') {
            None => match self.module.items.items.get(callee) {
                Some(h) if h.kind == ItemKind::Fn => Callee::Function { file: self.file, name: Name::from(callee) },
                _ if self.kind == BodyKind::Test && callee == TEST_BUILD_FN && !head_is_local => Callee::TestBuild,
                _ => Callee::Builtin,
            },
            Some((alias, member)) => {
                if head_is_local {
                    return Callee::Builtin;
                }
                match self.resolve(alias) {
                    Resolution::Module(None) => Callee::BrokenImport,
                    Resolution::Module(Some(module)) => {
                        let is_fn = self.module.imported(alias).and_then(|i| i.items.items.get(member)).map(|h| h.kind);
                        if is_fn == Some(ItemKind::Fn) {
                            Callee::Function { file: module, name: Name::from(member) }
                        } else {
                            Callee::NotInModule { module, name: Name::from(member) }
                        }
                    }
                    _ => Callee::Builtin,
                }
            }
        }
    }

    /// The functions of this module, for "did you mean" on unknown calls.
    pub fn functions(&self) -> impl Iterator<Item = &Name> {
        self.module.items.items.iter().filter(|(_, h)| h.kind == ItemKind::Fn).map(|(n, _)| n)
    }

    /// The module an `alias.member` path starts from, when `alias` (not a local) is an import.
    pub fn module_alias(&self, alias: &str) -> Option<SourceFile> {
        match self.resolve(alias) {
            Resolution::Module(target) => target,
            _ => None,
        }
    }
}

/// One use of a name in a body, as [`walk_names`] reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum NameUse<'e> {
    /// A bare name (`size`), or the alias of an `alias.member` path.
    Name { name: &'e Name, range: TextRange, res: Resolution },
    /// `alias.member` where `alias` resolves to a module: the member it reads and what it is
    /// ([`Resolver::member`]).
    Member { module: SourceFile, member: &'e Name, range: TextRange, res: Resolution },
    /// A call (`upper(x)`, `f(x)`, `alias.f(x)`) and what its callee names.
    Call { name: &'e Name, range: TextRange, callee: Callee },
    /// The first segment of a declaration path (`web.WebService { ... }`), with the whole path
    /// and the record's entries (the `let` graph follows the defaults they leave unset).
    PathHead { name: &'e Name, path: &'e PathRef, entries: &'e [ObjEntry] },
    /// `env.member`, where `env` is the environment (after its [`NameUse::Name`]).
    EnvField { member: &'e Name, range: TextRange },
    /// `app.member` or `alias.app.member`, where `app` is another app of `file` (after its
    /// [`NameUse::Name`], and for `alias.app` its [`NameUse::Member`]).
    AppField { file: SourceFile, app: &'e Name, member: &'e Name, range: TextRange },
}

/// Walks `e`, reporting every name, module member, call and path use with its resolution in
/// `scope`. The single walker behind static name checks, the `let` graph and the editor API.
pub fn walk_names<'e>(e: &'e Expr, scope: &Resolver, f: &mut dyn FnMut(NameUse<'e>)) {
    let mut w = Walker { scope, locals: Vec::new(), f };
    w.expr(e);
}

/// [`walk_names`] over an entry of a policy, with the policy's locals ([`POLICY_LOCALS`]).
pub fn walk_policy<'e>(e: &'e Expr, scope: &Resolver, cb: &mut dyn FnMut(NameUse<'e>)) {
    let mut w = Walker { scope, locals: policy_locals().iter().collect(), f: cb };
    w.expr(e);
}

/// [`walk_names`] over the body of function `f`, whose parameters are its locals.
pub fn walk_fn<'e>(f: &'e FnHir, scope: &Resolver, cb: &mut dyn FnMut(NameUse<'e>)) {
    let mut w = Walker { scope, locals: f.params.iter().map(|p| &p.name).collect(), f: cb };
    w.expr(&f.body);
}

/// [`walk_names`] over the statements of a `test`, in order: each `let` is a local of the
/// statements after it (as the test runner binds it). `expect_error` blocks are declarations,
/// checked as a module of their own by the runner.
pub fn walk_test<'e>(t: &'e TestHir, scope: &Resolver, cb: &mut dyn FnMut(NameUse<'e>)) {
    let mut w = Walker { scope, locals: Vec::new(), f: cb };
    for step in &t.steps {
        match step {
            TestStep::Let(l) => {
                w.expr(&l.value);
                w.locals.push(&l.name);
            }
            TestStep::Assert(a) => w.expr(&a.cond),
            TestStep::ExpectError { .. } => {}
        }
    }
}

struct Walker<'s, 'e, 'f> {
    scope: &'s Resolver,
    locals: Vec<&'e Name>,
    f: &'f mut dyn FnMut(NameUse<'e>),
}

impl<'e> Walker<'_, 'e, '_> {
    fn resolve(&self, n: &Name) -> Resolution {
        if self.locals.contains(&n) {
            Resolution::Local
        } else {
            self.scope.resolve(n)
        }
    }

    fn clause(&mut self, c: &'e Clause, body: &[&'e Expr]) {
        self.expr(&c.source);
        let depth = self.locals.len();
        self.locals.push(&c.first);
        if let Some(s) = &c.second {
            self.locals.push(s);
        }
        if let Some(cond) = &c.cond {
            self.expr(cond);
        }
        for b in body {
            self.expr(b);
        }
        self.locals.truncate(depth);
    }

    fn entries(&mut self, entries: &'e [ObjEntry]) {
        for en in entries {
            match en {
                ObjEntry::Field { key, value, .. } => {
                    for k in key {
                        if let KeySeg::Computed(k) = k {
                            self.expr(k);
                        }
                    }
                    self.expr(value);
                }
                ObjEntry::Comp { key, value, clause, .. } => self.clause(clause, &[key, value]),
            }
        }
    }

    fn expr(&mut self, e: &'e Expr) {
        match &e.kind {
            ExprKind::Name(n) => {
                let res = self.resolve(n);
                (self.f)(NameUse::Name { name: n, range: e.range, res });
            }
            ExprKind::Field(base, member, mrange) => {
                // `alias.app.member`: a field of an app of another module of the package.
                if let ExprKind::Field(head, app, arange) = &base.kind {
                    if let ExprKind::Name(alias) = &head.kind {
                        let res = self.resolve(alias);
                        if let Resolution::Module(Some(module)) = res {
                            let app_res = self.scope.member(alias, app);
                            if app_res == Resolution::App(module) {
                                (self.f)(NameUse::Name { name: alias, range: head.range, res });
                                (self.f)(NameUse::Member { module, member: app, range: *arange, res: app_res });
                                (self.f)(NameUse::AppField { file: module, app, member, range: *mrange });
                                return;
                            }
                        }
                    }
                }
                if let ExprKind::Name(alias) = &base.kind {
                    let res = self.resolve(alias);
                    match res {
                        Resolution::Module(target) => {
                            (self.f)(NameUse::Name { name: alias, range: base.range, res });
                            if let Some(module) = target {
                                let res = self.scope.member(alias, member);
                                (self.f)(NameUse::Member { module, member, range: *mrange, res });
                            }
                            return;
                        }
                        Resolution::Env => {
                            (self.f)(NameUse::Name { name: alias, range: base.range, res });
                            (self.f)(NameUse::EnvField { member, range: *mrange });
                            return;
                        }
                        Resolution::App(file) => {
                            (self.f)(NameUse::Name { name: alias, range: base.range, res });
                            (self.f)(NameUse::AppField { file, app: alias, member, range: *mrange });
                            return;
                        }
                        _ => {}
                    }
                }
                self.expr(base)
            }
            ExprKind::Null | ExprKind::Bool(_) | ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => {}
            ExprKind::Error => {}
            ExprKind::Interp(parts) => {
                for p in parts {
                    if let InterpPart::Expr(x) = p {
                        self.expr(x);
                    }
                }
            }
            ExprKind::Index(a, b) | ExprKind::Binary(_, a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Call(name, range, args) => {
                let head = name.split('.').next().unwrap_or_default();
                let callee = self.scope.callee(name, self.locals.iter().any(|l| &***l == head));
                (self.f)(NameUse::Call { name, range: *range, callee });
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::Unary(_, a) => self.expr(a),
            ExprKind::If(a, b, c) => {
                self.expr(a);
                self.expr(b);
                if let Some(c) = c {
                    self.expr(c);
                }
            }
            ExprKind::List(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::ListComp(item, clause) => self.clause(clause, &[item]),
            ExprKind::Object(entries) => self.entries(entries),
            ExprKind::Instantiate(path, entries) => {
                if let Some(head) = path.segments.first() {
                    (self.f)(NameUse::PathHead { name: head, path, entries });
                }
                self.entries(entries)
            }
        }
    }
}

/// Names the body of template or schema `name` (its own members only, not inherited ones)
/// reads from outside itself — module `let`s, import aliases, declarations, unresolved names —
/// each with the first place it is read. An extending template must not introduce a field or
/// `let` with one of these names: the base would keep reading the module's binding, while the
/// extending template's author would believe they had replaced it (K0311).
#[salsa::tracked(returns(clone))]
pub fn outer_reads(db: &dyn Db, project: Project, file: SourceFile, name: Name) -> Arc<NameMap<TextRange>> {
    let hir = file_hir(db, file);
    let mut out: NameMap<TextRange> = Default::default();
    let Some(t) = hir.templates.get(&name) else { return Arc::new(out) };
    let scope = Resolver::body(db, project, file, &name);
    let mut record = |u: NameUse<'_>| {
        if let NameUse::Name { name, range, res } = u {
            if !matches!(res, Resolution::Local | Resolution::Field | Resolution::TemplateLet) {
                out.entry(name.clone()).or_insert(range);
            }
        }
    };
    for m in &t.members {
        match m {
            MemberHir::Field(f) => {
                if let Some(d) = &f.default {
                    walk_names(d, &scope, &mut record);
                }
            }
            MemberHir::Let(l) => walk_names(&l.value, &scope, &mut record),
            MemberHir::Check(c) => walk_names(&c.cond, &scope, &mut record),
            MemberHir::Emit(e) => walk_names(&e.value, &scope, &mut record),
        }
    }
    Arc::new(out)
}

/// What the name at `offset` in `file` resolves to, for the editor and tests: the name, its
/// range and its resolution. `None` when no name is there.
pub fn resolve_at(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    offset: u32,
) -> Option<(Name, TextRange, Resolution)> {
    match use_at(db, project, file, offset)? {
        UseAt::Name { name, range, res } => Some((name, range, res)),
        _ => None,
    }
}

/// A [`NameUse`] found by [`use_at`], owning its names so it outlives the lowered file.
#[derive(Clone, Debug, PartialEq)]
pub enum UseAt {
    Name { name: Name, range: TextRange, res: Resolution },
    Member { module: SourceFile, member: Name, range: TextRange, res: Resolution },
    Call { name: Name, range: TextRange, callee: Callee },
    EnvField { member: Name, range: TextRange },
    AppField { file: SourceFile, app: Name, member: Name, range: TextRange },
}

impl UseAt {
    fn from_use(u: NameUse<'_>) -> Option<(TextRange, UseAt)> {
        Some(match u {
            NameUse::Name { name, range, res } => (range, UseAt::Name { name: name.clone(), range, res }),
            NameUse::Member { module, member, range, res } => {
                (range, UseAt::Member { module, member: member.clone(), range, res })
            }
            NameUse::Call { name, range, callee } => (range, UseAt::Call { name: name.clone(), range, callee }),
            NameUse::EnvField { member, range } => (range, UseAt::EnvField { member: member.clone(), range }),
            NameUse::AppField { file, app, member, range } => {
                (range, UseAt::AppField { file, app: app.clone(), member: member.clone(), range })
            }
            NameUse::PathHead { .. } => return None,
        })
    }
}

/// Every name use in the bodies of `file` (top-level `let`s, apps and their `in` blocks,
/// environments, template and schema members, functions), each with the scope it resolves in.
/// `wanted` filters bodies by their range, so a lookup at one offset walks only the bodies
/// around it. The editor's questions (what is here, where is it used) read this.
pub fn walk_file(
    db: &dyn Db,
    project: Project,
    file: SourceFile,
    wanted: &dyn Fn(TextRange) -> bool,
    f: &mut dyn FnMut(NameUse<'_>),
) {
    let hir = file_hir(db, file);
    let mut probe = |e: &Expr, scope: &Resolver| {
        if wanted(e.range) {
            walk_names(e, scope, &mut |u| f(u));
        }
    };
    let module = Resolver::module(db, project, file);
    for l in hir.lets.values() {
        probe(&l.value, &module);
    }
    let apps = Resolver::app(db, project, file);
    for a in hir.apps.values() {
        for s in a.sets.iter().chain(a.envs.iter().flat_map(|b| b.sets.iter())) {
            probe(&s.value, &apps);
        }
    }
    for e in hir.environments.values() {
        for s in &e.sets {
            probe(&s.value, &module);
        }
    }
    for (name, t) in &hir.templates {
        if !wanted(t.range) {
            continue;
        }
        let scope = Resolver::body(db, project, file, name);
        for m in &t.members {
            match m {
                MemberHir::Field(fd) => {
                    if let Some(d) = &fd.default {
                        probe(d, &scope);
                    }
                }
                MemberHir::Let(l) => probe(&l.value, &scope),
                MemberHir::Check(c) => probe(&c.cond, &scope),
                MemberHir::Emit(e) => probe(&e.value, &scope),
            }
        }
    }
    // Function bodies last: their parameters are locals, which `probe` does not know.
    for func in hir.functions.values() {
        if wanted(func.body.range) {
            walk_fn(func, &module, &mut |u| f(u));
        }
    }
    // Tests likewise: their `let`s are locals of the statements after them.
    let tests = Resolver::test(db, project, file);
    for t in hir.tests.iter().filter(|t| wanted(t.range)) {
        walk_test(t, &tests, &mut |u| f(u));
    }
}

/// The innermost name use at `offset` in `file`: a bare name, a module member, a call, an
/// environment or app field. `None` when no name is there. `offset` is a file offset (or
/// already anchored); the ranges found are HIR ranges, anchored inside declarations
/// (`crate::anchors` resolves them).
pub fn use_at(db: &dyn Db, project: Project, file: SourceFile, offset: u32) -> Option<UseAt> {
    let offset = crate::anchors::anchor_offset(db, file, offset);
    let hit = |r: TextRange| r.start <= offset && offset <= r.end;
    let mut found: Option<(TextRange, UseAt)> = None;
    walk_file(db, project, file, &hit, &mut |u| {
        let Some((range, u)) = UseAt::from_use(u) else { return };
        // The narrowest range wins: `lib.f` is a call whose alias is a name inside it.
        if hit(range) && found.as_ref().is_none_or(|(r, _)| range.len() < r.len()) {
            found = Some((range, u));
        }
    });
    found.map(|(_, u)| u)
}
