//! The abstract syntax tree of one `.kdep` file, as written (no desugaring, no resolution).
//!
//! Invariants:
//! - Every node carries the byte range it was parsed from (`range`), relative to its file.
//! - The parser never fails: unparsable regions become `Error` nodes (`Item::Error`,
//!   `Expr::Error`, `TypeExpr::Error`, `Member::Error`, `Entry::Error`) and a diagnostic, so
//!   an editor can analyse half-typed code. A missing name is an [`Ident`] with empty text and
//!   an empty range at the point where it was expected.
//! - Comments are not part of the tree; they are kept in [`crate::Parse::comments`] so the
//!   formatter can reattach them. Doc comments (`///`) are additionally attached to the
//!   declaration or field that follows them ([`Doc`]).
//! - The AST is not the semantic IR: names are not resolved, dotted entry paths are not
//!   expanded into nested objects, and types are not checked. `kdep-sema` lowers this tree.

use kdep_diag::TextRange;

/// An identifier with its source range.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub text: String,
    pub range: TextRange,
}

impl Ident {
    /// `true` for the placeholder the parser inserts where a name was expected but missing.
    pub fn is_missing(&self) -> bool {
        self.text.is_empty()
    }
}

/// A dotted name, e.g. `platform.web`, `web.WebService`, `apps.Deployment`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    /// At least one segment.
    pub segments: Vec<Ident>,
    pub range: TextRange,
}

/// Text of the doc comment lines (`///`) directly above a declaration or field, joined with
/// `\n`, with the `///` and one following space removed from each line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Doc {
    pub text: String,
    pub range: TextRange,
}

/// One whole file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct File {
    pub items: Vec<Item>,
    pub range: TextRange,
}

/// A top-level declaration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Item {
    Import(Import),
    Let(LetDecl),
    Fn(FnDecl),
    Schema(SchemaDecl),
    Template(TemplateDecl),
    App(AppDecl),
    Environment(EnvironmentDecl),
    Test(TestDecl),
    /// `policy name [= base] { entries }`: a rule over emitted objects.
    Policy(PolicyDecl),
    /// An unparsable region between items; the parser resynchronises at the next item keyword.
    Error(TextRange),
}

impl Item {
    pub fn range(&self) -> TextRange {
        match self {
            Item::Import(it) => it.range,
            Item::Let(it) => it.range,
            Item::Fn(it) => it.range,
            Item::Schema(it) => it.range,
            Item::Template(it) => it.range,
            Item::App(it) => it.range,
            Item::Environment(it) => it.range,
            Item::Test(it) => it.range,
            Item::Policy(it) => it.range,
            Item::Error(range) => *range,
        }
    }
}

/// `import a.b` or `import a.b as c`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Import {
    pub path: Path,
    pub alias: Option<Ident>,
    pub range: TextRange,
}

/// `let name[: Type] = expr`, at top level or inside a template/schema body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LetDecl {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub value: Expr,
    pub range: TextRange,
}

/// `fn name(a: T, b: U) -> R = expr`: a pure function, top level only.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FnDecl {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: TypeExpr,
    pub body: Expr,
    pub range: TextRange,
}

/// `name: Type`, one parameter of a function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub range: TextRange,
}

/// An item attribute, `@open` or `@resource(apiVersion = "apps/v1", kind = "Deployment")`,
/// written before a schema, template or app (after its doc comment). The parser accepts any name
/// and literal arguments; sema knows which attributes exist and what they take.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attribute {
    pub name: Ident,
    /// `None` for `@name`, `Some` (possibly empty) for `@name(...)`.
    pub args: Option<Vec<AttributeArg>>,
    pub range: TextRange,
}

/// `key = literal`, one argument of an attribute. The value is a literal: a string without
/// interpolation, a number (possibly negated) or a bool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttributeArg {
    pub key: Ident,
    pub value: Expr,
    pub range: TextRange,
}

/// `schema Name { members }` — a record type (fields, lets, checks; no emit) — or
/// `schema Name = Base with A, B { members }`, which narrows schema `Base` and merges `A`, `B`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SchemaDecl {
    pub doc: Option<Doc>,
    /// `@name(...)` attributes before `schema`, in source order.
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    /// The schema being narrowed, for `schema New = Base { ... }`.
    pub base: Option<Path>,
    /// `with A, B` after the base: declarations whose members are merged in (composition).
    pub mixins: Vec<Path>,
    pub members: Vec<Member>,
    /// Range of the `{ ... }` body.
    pub body_range: TextRange,
    pub range: TextRange,
}

/// `template Name { members }`, `template Name = Base.Path { members }` (extension) or
/// `template Name = Base with A, B { members }` (extension and composition).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TemplateDecl {
    pub doc: Option<Doc>,
    /// `@name(...)` attributes before `template`, in source order.
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    /// The template being extended, for `template New = Base { ... }`.
    pub base: Option<Path>,
    /// `with A, B` after the base: templates whose members are merged in (composition).
    pub mixins: Vec<Path>,
    pub members: Vec<Member>,
    pub body_range: TextRange,
    pub range: TextRange,
}

/// A member of a template or schema body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Member {
    Field(FieldDecl),
    Let(LetDecl),
    Check(CheckDecl),
    Emit(EmitDecl),
    Error(TextRange),
}

impl Member {
    pub fn range(&self) -> TextRange {
        match self {
            Member::Field(it) => it.range,
            Member::Let(it) => it.range,
            Member::Check(it) => it.range,
            Member::Emit(it) => it.range,
            Member::Error(range) => *range,
        }
    }
}

/// A field declaration: `name: T`, `name: T = default`, `locked name[: T] = value`,
/// and in an extending template also `name = default` (a new default, type inherited).
/// A quoted name (`"x-foo": string?`) arrives as an `Ident` with the decoded text: a field
/// name is a name whatever its spelling, and the formatter quotes what is not a key name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldDecl {
    pub doc: Option<Doc>,
    /// Range of the `locked` keyword when present.
    pub locked: Option<TextRange>,
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub default: Option<Expr>,
    pub range: TextRange,
}

/// `check expr : "message"` (the message is optional).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CheckDecl {
    pub condition: Expr,
    pub message: Option<StringLit>,
    pub range: TextRange,
}

/// `emit expr`, typically `emit apps.Deployment { ... }` or `emit { apiVersion = ..., ... }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmitDecl {
    pub value: Expr,
    pub range: TextRange,
}

/// `test "name" { ... }`: lets, assertions and expected errors, run by `kdep test` and
/// `kdep check` (see GRAMMAR.md, "Tests").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TestDecl {
    pub doc: Option<Doc>,
    pub name: StringLit,
    pub members: Vec<TestMember>,
    pub body_range: TextRange,
    pub range: TextRange,
}

/// One statement of a test body, run in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TestMember {
    Let(LetDecl),
    /// `assert expr : "message"` (the message is optional).
    Assert(CheckDecl),
    /// `expect_error K0301 { items }`: the items, declared in the test's module, must not
    /// compile, and one of their diagnostics must have that code.
    ExpectError(ExpectErrorBlock),
    /// An unparsable region; the parser resynchronises at the next statement.
    Error(TextRange),
}

impl TestMember {
    pub fn range(&self) -> TextRange {
        match self {
            TestMember::Let(it) => it.range,
            TestMember::Assert(it) => it.range,
            TestMember::ExpectError(it) => it.range,
            TestMember::Error(range) => *range,
        }
    }
}

/// `expect_error CODE { items }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExpectErrorBlock {
    pub code: Ident,
    pub items: Vec<Item>,
    pub body_range: TextRange,
    pub range: TextRange,
}

/// `app name = Template.Path { body }` — a deployable instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppDecl {
    pub doc: Option<Doc>,
    /// `@after(app = "db")` attributes before `app`, in source order.
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    pub template: Path,
    /// Assignments and `in <env> { ... }` blocks.
    pub body: Vec<InstanceEntry>,
    pub body_range: TextRange,
    pub range: TextRange,
}

/// An entry of an app body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum InstanceEntry {
    Set(Entry),
    /// `in production { replicas = 8 }`
    InEnv(InEnvBlock),
    /// `waive policies.images_pinned : "reason"`
    Waive(WaiveDecl),
}

/// `waive path [: "reason"]` in an app body: the app's objects are exempt from one policy. The
/// reason is optional in the grammar so that its absence is a sema diagnostic that says what to
/// write, not a syntax error.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WaiveDecl {
    pub policy: Path,
    pub reason: Option<StringLit>,
    pub range: TextRange,
}

/// `policy name [= base] { entries }`: a rule over the emitted objects of the packages that
/// depend on the declaring package. The entries (`severity`, `check`, `message`, ...) are
/// ordinary object entries; sema knows which keys exist.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyDecl {
    pub doc: Option<Doc>,
    pub name: Ident,
    /// `= base`: the policy this one starts from (its entries, overridden by these).
    pub base: Option<Path>,
    pub entries: Vec<Entry>,
    pub body_range: TextRange,
    pub range: TextRange,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InEnvBlock {
    pub env: Ident,
    pub entries: Vec<Entry>,
    pub range: TextRange,
}

/// `environment name { context = "...", namespace = "...", protected = true }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnvironmentDecl {
    pub doc: Option<Doc>,
    pub name: Ident,
    pub entries: Vec<Entry>,
    pub body_range: TextRange,
    pub range: TextRange,
}

/// One entry of an object literal, app body or environment body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    /// `a.b."c/d" = expr` — a key path (dotted segments nest) and a value.
    Field(FieldEntry),
    /// `k = v for k, v in expr if cond` inside `{ }` (a map comprehension).
    Comprehension(Box<MapComprehension>),
    Error(TextRange),
}

impl Entry {
    pub fn range(&self) -> TextRange {
        match self {
            Entry::Field(it) => it.range,
            Entry::Comprehension(it) => it.range,
            Entry::Error(range) => *range,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldEntry {
    /// At least one segment; `metadata.labels = ...` has two.
    pub key: Vec<Key>,
    pub value: Expr,
    pub range: TextRange,
}

/// One segment of an entry key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    Ident(Ident),
    /// A quoted key such as `"app.kubernetes.io/name"`; may contain interpolation
    /// (`"${name}-env" = ...`), which makes the key computed.
    Str(StringLit),
}

impl Key {
    pub fn range(&self) -> TextRange {
        match self {
            Key::Ident(id) => id.range,
            Key::Str(s) => s.range,
        }
    }
}

/// `{ key = value for k, v in source if cond }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MapComprehension {
    pub key: Expr,
    pub value: Expr,
    pub clause: ForClause,
    pub range: TextRange,
}

/// `for x in xs if p(x)` / `for k, v in m`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ForClause {
    /// The first binding (the element for lists, the key for maps).
    pub first: Ident,
    /// The second binding (the value, for maps; the element for `for i, x in list`).
    pub second: Option<Ident>,
    pub source: Expr,
    pub condition: Option<Expr>,
    pub range: TextRange,
}

/// A string literal: literal text (escapes already decoded) and `${expr}` interpolations.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StringLit {
    pub parts: Vec<StrPart>,
    pub range: TextRange,
}

impl StringLit {
    /// The literal text when the string has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        self.plain_text().map(std::borrow::Cow::into_owned)
    }

    /// [`StringLit::as_plain`] without a copy when the text is one part (or none), as a plain
    /// string's always is: lowering reads the text of every string and key once, to make its
    /// own name of it, so a copy in between was one allocation per string for nothing.
    pub fn plain_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self.parts.as_slice() {
            [] => Some(std::borrow::Cow::Borrowed("")),
            [StrPart::Text { text, .. }] => Some(std::borrow::Cow::Borrowed(text.as_str())),
            parts => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        StrPart::Text { text, .. } => out.push_str(text),
                        StrPart::Interp(_) => return None,
                    }
                }
                Some(std::borrow::Cow::Owned(out))
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StrPart {
    /// Decoded text; `range` covers the raw source text including escapes.
    Text {
        text: String,
        range: TextRange,
    },
    Interp(Expr),
}

/// An `f64` that is compared and hashed by its bits, so the AST can be `Eq` for salsa.
#[derive(Clone, Copy, Debug)]
pub struct FloatLit(pub f64);

impl PartialEq for FloatLit {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for FloatLit {}
impl std::hash::Hash for FloatLit {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }
}

/// An expression.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    Int {
        value: i64,
        range: TextRange,
    },
    Float {
        value: FloatLit,
        range: TextRange,
    },
    Bool {
        value: bool,
        range: TextRange,
    },
    Null {
        range: TextRange,
    },
    Str(StringLit),
    /// A bare name (`replicas`, `web`); dotted access is [`Expr::Field`].
    Name(Ident),
    /// `base.field`
    Field {
        base: Box<Expr>,
        field: Ident,
        range: TextRange,
    },
    /// `base[index]`
    Index {
        base: Box<Expr>,
        index: Box<Expr>,
        range: TextRange,
    },
    /// `callee(args)`; the callee is a name or dotted path expression.
    Call {
        callee: Box<Expr>,
        args: Vec<Expr>,
        range: TextRange,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
        range: TextRange,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
        range: TextRange,
    },
    /// `if cond { then } else { otherwise }`; `else if` chains nest in `otherwise`. Without
    /// `else` (`otherwise` is `None`) the value is absent when the condition is false.
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Option<Box<Expr>>,
        range: TextRange,
    },
    /// `[a, b, c]`
    List {
        items: Vec<Expr>,
        range: TextRange,
    },
    /// `[expr for x in xs if p]`
    ListComprehension {
        item: Box<Expr>,
        clause: Box<ForClause>,
        range: TextRange,
    },
    /// `{ a = 1, "b" = 2, c.d = 3, k = v for k, v in m }`
    Object {
        entries: Vec<Entry>,
        range: TextRange,
    },
    /// `apps.Deployment { ... }` or `web.WebService { ... }`: a typed record literal
    /// (schema, template or Kubernetes type named by `path`).
    Instantiate {
        path: Path,
        entries: Vec<Entry>,
        body_range: TextRange,
        range: TextRange,
    },
    /// `(expr)`, kept so the formatter can preserve explicit grouping.
    Paren {
        inner: Box<Expr>,
        range: TextRange,
    },
    Error(TextRange),
}

impl Expr {
    pub fn range(&self) -> TextRange {
        match self {
            Expr::Int { range, .. }
            | Expr::Float { range, .. }
            | Expr::Bool { range, .. }
            | Expr::Null { range }
            | Expr::Field { range, .. }
            | Expr::Index { range, .. }
            | Expr::Call { range, .. }
            | Expr::Unary { range, .. }
            | Expr::Binary { range, .. }
            | Expr::If { range, .. }
            | Expr::List { range, .. }
            | Expr::ListComprehension { range, .. }
            | Expr::Object { range, .. }
            | Expr::Instantiate { range, .. }
            | Expr::Paren { range, .. } => *range,
            Expr::Str(s) => s.range,
            Expr::Name(id) => id.range,
            Expr::Error(range) => *range,
        }
    }
}

/// A type expression.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TypeExpr {
    /// `string`, `int`, `quantity`, `Resources`, `web.Resources`, `apps.Deployment`.
    Named(Path),
    /// `T(args)`: `int(1..20)`, `string(/re/)`, `string(1..63)` (length), `[string](1..5)`,
    /// `string(/re/, 1..63)`.
    Refined {
        base: Box<TypeExpr>,
        args: Vec<Refinement>,
        range: TextRange,
    },
    /// `[T]`
    List {
        item: Box<TypeExpr>,
        range: TextRange,
    },
    /// `{string: T}`
    Map {
        key: Box<TypeExpr>,
        value: Box<TypeExpr>,
        range: TextRange,
    },
    /// `T?`
    Optional {
        inner: Box<TypeExpr>,
        range: TextRange,
    },
    /// `"a" | "b" | "c"` or `1 | 2 | 3`: a union of literals (at least two, or one literal type).
    LiteralUnion {
        members: Vec<Expr>,
        range: TextRange,
    },
    /// `int | string`, `int | "auto"`: a union of types (at least two, not all literals).
    Union {
        members: Vec<TypeExpr>,
        range: TextRange,
    },
    Error(TextRange),
}

impl TypeExpr {
    pub fn range(&self) -> TextRange {
        match self {
            TypeExpr::Named(p) => p.range,
            TypeExpr::Refined { range, .. }
            | TypeExpr::List { range, .. }
            | TypeExpr::Map { range, .. }
            | TypeExpr::Optional { range, .. }
            | TypeExpr::LiteralUnion { range, .. }
            | TypeExpr::Union { range, .. } => *range,
            TypeExpr::Error(range) => *range,
        }
    }
}

/// One argument of a refinement.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Refinement {
    /// `lo..hi`, `lo..`, `..hi` (bounds inclusive). On numbers and quantities it bounds the
    /// value; on strings, lists and maps it bounds the length. Bounds are literal
    /// expressions (numbers, or strings for quantities/durations), possibly negated.
    Range { lo: Option<Expr>, hi: Option<Expr>, range: TextRange },
    /// `/regex/` — the raw pattern text between the slashes (`\/` unescaped to `/`).
    Regex { pattern: String, range: TextRange },
    /// `key(f1, f2)` on a list: items are records identified by these fields (Kubernetes'
    /// `x-kubernetes-list-type: map` with `x-kubernetes-list-map-keys`). At least one field.
    Key { fields: Vec<Ident>, range: TextRange },
    /// `unique` on a list: items are distinct (`x-kubernetes-list-type: set`).
    Unique { range: TextRange },
}

impl Refinement {
    pub fn range(&self) -> TextRange {
        match self {
            Refinement::Range { range, .. }
            | Refinement::Regex { range, .. }
            | Refinement::Key { range, .. }
            | Refinement::Unique { range } => *range,
        }
    }
}
