//! A compact, indented text rendering of the AST for snapshot tests and debugging.
//!
//! One node per line, `Kind@start..end` followed by its scalar fields; children are indented
//! below. Recursion is safe because the parser caps tree depth ([`crate::MAX_TREE_DEPTH`]).

use std::fmt::Write;

use crate::ast::*;

/// Renders `file` as an indented tree.
pub fn dump(file: &File) -> String {
    let mut d = Dumper { out: String::new(), indent: 0 };
    d.line(format_args!("File@{}", file.range));
    d.indent += 1;
    for item in &file.items {
        d.item(item);
    }
    d.out
}

struct Dumper {
    out: String,
    indent: usize,
}

fn path_text(p: &Path) -> String {
    p.segments.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(".")
}

fn name(id: &Ident) -> String {
    if id.is_missing() {
        format!("<missing>@{}", id.range)
    } else {
        format!("{}@{}", id.text, id.range)
    }
}

impl Dumper {
    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        for _ in 0..self.indent {
            self.out.push_str("  ");
        }
        let _ = self.out.write_fmt(args);
        self.out.push('\n');
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self)) {
        self.indent += 1;
        f(self);
        self.indent -= 1;
    }

    fn doc(&mut self, doc: &Option<Doc>) {
        if let Some(doc) = doc {
            self.line(format_args!("doc@{} {:?}", doc.range, doc.text));
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(it) => {
                let alias = it.alias.as_ref().map(|a| format!(" as {}", name(a))).unwrap_or_default();
                self.line(format_args!("Import@{} {}{}", it.range, path_text(&it.path), alias));
            }
            Item::Let(it) => self.let_decl(it),
            Item::Fn(it) => {
                self.line(format_args!("Fn@{} {}", it.range, name(&it.name)));
                self.nested(|d| {
                    d.doc(&it.doc);
                    for p in &it.params {
                        d.line(format_args!("Param@{} {}", p.range, name(&p.name)));
                        d.nested(|d| d.ty("type: ", &p.ty));
                    }
                    d.ty("returns: ", &it.ret);
                    d.expr("body: ", &it.body);
                });
            }
            Item::Schema(it) => {
                let ext = extends(&it.base, &it.mixins);
                self.line(format_args!("Schema@{} {}{} body@{}", it.range, name(&it.name), ext, it.body_range));
                self.nested(|d| {
                    d.doc(&it.doc);
                    it.attrs.iter().for_each(|a| d.attribute(a));
                    it.members.iter().for_each(|m| d.member(m));
                });
            }
            Item::Template(it) => {
                let ext = extends(&it.base, &it.mixins);
                self.line(format_args!("Template@{} {}{} body@{}", it.range, name(&it.name), ext, it.body_range));
                self.nested(|d| {
                    d.doc(&it.doc);
                    it.attrs.iter().for_each(|a| d.attribute(a));
                    it.members.iter().for_each(|m| d.member(m));
                });
            }
            Item::App(it) => {
                self.line(format_args!(
                    "App@{} {} = {}@{} body@{}",
                    it.range,
                    name(&it.name),
                    path_text(&it.template),
                    it.template.range,
                    it.body_range
                ));
                self.nested(|d| {
                    d.doc(&it.doc);
                    it.attrs.iter().for_each(|a| d.attribute(a));
                    for entry in &it.body {
                        match entry {
                            InstanceEntry::Set(e) => d.entry(e),
                            InstanceEntry::InEnv(b) => {
                                d.line(format_args!("In@{} {}", b.range, name(&b.env)));
                                d.nested(|d| b.entries.iter().for_each(|e| d.entry(e)));
                            }
                            InstanceEntry::Waive(w) => {
                                d.line(format_args!("Waive@{} {}@{}", w.range, path_text(&w.policy), w.policy.range));
                                if let Some(reason) = &w.reason {
                                    d.nested(|d| d.string("reason: ", reason));
                                }
                            }
                        }
                    }
                });
            }
            Item::Environment(it) => {
                self.line(format_args!("Environment@{} {} body@{}", it.range, name(&it.name), it.body_range));
                self.nested(|d| {
                    d.doc(&it.doc);
                    it.entries.iter().for_each(|e| d.entry(e));
                });
            }
            Item::Policy(it) => {
                let base = it.base.as_ref().map(|b| format!(" = {}@{}", path_text(b), b.range)).unwrap_or_default();
                self.line(format_args!("Policy@{} {}{} body@{}", it.range, name(&it.name), base, it.body_range));
                self.nested(|d| {
                    d.doc(&it.doc);
                    it.entries.iter().for_each(|e| d.entry(e));
                });
            }
            Item::Test(it) => {
                self.line(format_args!("Test@{} body@{}", it.range, it.body_range));
                self.nested(|d| {
                    d.doc(&it.doc);
                    d.string("name: ", &it.name);
                    for m in &it.members {
                        match m {
                            crate::ast::TestMember::Let(l) => d.let_decl(l),
                            crate::ast::TestMember::Assert(a) => {
                                d.line(format_args!("Assert@{}", a.range));
                                d.nested(|d| {
                                    d.expr("cond: ", &a.condition);
                                    if let Some(m) = &a.message {
                                        d.string("message: ", m);
                                    }
                                });
                            }
                            crate::ast::TestMember::ExpectError(b) => {
                                d.line(format_args!("ExpectError@{} {} body@{}", b.range, name(&b.code), b.body_range));
                                d.nested(|d| b.items.iter().for_each(|i| d.item(i)));
                            }
                            crate::ast::TestMember::Error(r) => d.line(format_args!("TestError@{r}")),
                        }
                    }
                });
            }
            Item::Error(range) => self.line(format_args!("ItemError@{range}")),
        }
    }

    fn let_decl(&mut self, it: &LetDecl) {
        self.line(format_args!("Let@{} {}", it.range, name(&it.name)));
        self.nested(|d| {
            d.doc(&it.doc);
            if let Some(ty) = &it.ty {
                d.ty("type: ", ty);
            }
            d.expr("value: ", &it.value);
        });
    }

    fn attribute(&mut self, a: &Attribute) {
        let parens = if a.args.is_some() { "()" } else { "" };
        self.line(format_args!("Attribute@{} @{}{parens}", a.range, name(&a.name)));
        self.nested(|d| {
            for arg in a.args.iter().flatten() {
                d.line(format_args!("Arg@{} {}", arg.range, name(&arg.key)));
                d.nested(|d| d.expr("value: ", &arg.value));
            }
        });
    }

    fn member(&mut self, member: &Member) {
        match member {
            Member::Field(f) => {
                let locked = f.locked.map(|r| format!(" locked@{r}")).unwrap_or_default();
                self.line(format_args!("Field@{}{} {}", f.range, locked, name(&f.name)));
                self.nested(|d| {
                    d.doc(&f.doc);
                    if let Some(ty) = &f.ty {
                        d.ty("type: ", ty);
                    }
                    if let Some(e) = &f.default {
                        d.expr("default: ", e);
                    }
                });
            }
            Member::Let(l) => self.let_decl(l),
            Member::Check(c) => {
                self.line(format_args!("Check@{}", c.range));
                self.nested(|d| {
                    d.expr("cond: ", &c.condition);
                    if let Some(m) = &c.message {
                        d.string("message: ", m);
                    }
                });
            }
            Member::Emit(e) => {
                self.line(format_args!("Emit@{}", e.range));
                self.nested(|d| d.expr("", &e.value));
            }
            Member::Error(range) => self.line(format_args!("MemberError@{range}")),
        }
    }

    fn entry(&mut self, entry: &Entry) {
        match entry {
            Entry::Field(f) => {
                let plain = f.key.iter().all(|k| match k {
                    Key::Ident(_) => true,
                    Key::Str(s) => s.as_plain().is_some(),
                });
                if plain {
                    let key: Vec<String> = f
                        .key
                        .iter()
                        .map(|k| match k {
                            Key::Ident(id) => id.text.clone(),
                            Key::Str(s) => format!("{:?}", s.as_plain().unwrap_or_default()),
                        })
                        .collect();
                    self.line(format_args!("Set@{} {}", f.range, key.join(".")));
                } else {
                    self.line(format_args!("Set@{} (computed key)", f.range));
                    self.nested(|d| {
                        for k in &f.key {
                            match k {
                                Key::Ident(id) => d.line(format_args!("key: {}", name(id))),
                                Key::Str(s) => d.string("key: ", s),
                            }
                        }
                    });
                }
                self.nested(|d| d.expr("", &f.value));
            }
            Entry::Comprehension(c) => {
                self.line(format_args!("MapComprehension@{}", c.range));
                self.nested(|d| {
                    d.expr("key: ", &c.key);
                    d.expr("value: ", &c.value);
                    d.clause(&c.clause);
                });
            }
            Entry::Error(range) => self.line(format_args!("EntryError@{range}")),
        }
    }

    fn clause(&mut self, c: &ForClause) {
        let second = c.second.as_ref().map(|s| format!(", {}", name(s))).unwrap_or_default();
        self.line(format_args!("For@{} {}{}", c.range, name(&c.first), second));
        self.nested(|d| {
            d.expr("in: ", &c.source);
            if let Some(cond) = &c.condition {
                d.expr("if: ", cond);
            }
        });
    }

    fn string(&mut self, label: &str, s: &StringLit) {
        if let Some(plain) = s.as_plain() {
            self.line(format_args!("{label}Str@{} {:?}", s.range, plain));
            return;
        }
        self.line(format_args!("{label}Str@{}", s.range));
        self.nested(|d| {
            for part in &s.parts {
                match part {
                    StrPart::Text { text, range } => d.line(format_args!("Text@{range} {text:?}")),
                    StrPart::Interp(e) => d.expr("${}: ", e),
                }
            }
        });
    }

    fn expr(&mut self, label: &str, e: &Expr) {
        match e {
            Expr::Int { value, range } => self.line(format_args!("{label}Int@{range} {value}")),
            Expr::Float { value, range } => self.line(format_args!("{label}Float@{range} {:?}", value.0)),
            Expr::Bool { value, range } => self.line(format_args!("{label}Bool@{range} {value}")),
            Expr::Null { range } => self.line(format_args!("{label}Null@{range}")),
            Expr::Str(s) => self.string(label, s),
            Expr::Name(id) => self.line(format_args!("{label}Name {}", name(id))),
            Expr::Field { base, field, range } => {
                self.line(format_args!("{label}Field@{range} .{}", name(field)));
                self.nested(|d| d.expr("", base));
            }
            Expr::Index { base, index, range } => {
                self.line(format_args!("{label}Index@{range}"));
                self.nested(|d| {
                    d.expr("", base);
                    d.expr("index: ", index);
                });
            }
            Expr::Call { callee, args, range } => {
                self.line(format_args!("{label}Call@{range}"));
                self.nested(|d| {
                    d.expr("callee: ", callee);
                    args.iter().for_each(|a| d.expr("arg: ", a));
                });
            }
            Expr::Unary { op, operand, range } => {
                self.line(format_args!("{label}Unary@{range} {op:?}"));
                self.nested(|d| d.expr("", operand));
            }
            Expr::Binary { op, lhs, rhs, range } => {
                self.line(format_args!("{label}Binary@{range} {}", op.as_str()));
                self.nested(|d| {
                    d.expr("", lhs);
                    d.expr("", rhs);
                });
            }
            Expr::If { cond, then, otherwise, range } => {
                self.line(format_args!("{label}If@{range}"));
                self.nested(|d| {
                    d.expr("cond: ", cond);
                    d.expr("then: ", then);
                    if let Some(otherwise) = otherwise {
                        d.expr("else: ", otherwise);
                    }
                });
            }
            Expr::List { items, range } => {
                self.line(format_args!("{label}List@{range}"));
                self.nested(|d| items.iter().for_each(|i| d.expr("", i)));
            }
            Expr::ListComprehension { item, clause, range } => {
                self.line(format_args!("{label}ListComprehension@{range}"));
                self.nested(|d| {
                    d.expr("item: ", item);
                    d.clause(clause);
                });
            }
            Expr::Object { entries, range } => {
                self.line(format_args!("{label}Object@{range}"));
                self.nested(|d| entries.iter().for_each(|en| d.entry(en)));
            }
            Expr::Instantiate { path, entries, body_range, range } => {
                self.line(format_args!(
                    "{label}Instantiate@{range} {}@{} body@{body_range}",
                    path_text(path),
                    path.range
                ));
                self.nested(|d| entries.iter().for_each(|en| d.entry(en)));
            }
            Expr::Paren { inner, range } => {
                self.line(format_args!("{label}Paren@{range}"));
                self.nested(|d| d.expr("", inner));
            }
            Expr::Error(range) => self.line(format_args!("{label}ExprError@{range}")),
        }
    }

    fn ty(&mut self, label: &str, t: &TypeExpr) {
        match t {
            TypeExpr::Named(p) => self.line(format_args!("{label}Named@{} {}", p.range, path_text(p))),
            TypeExpr::Refined { base, args, range } => {
                self.line(format_args!("{label}Refined@{range}"));
                self.nested(|d| {
                    d.ty("", base);
                    for arg in args {
                        match arg {
                            Refinement::Range { lo, hi, range } => {
                                d.line(format_args!("Range@{range}"));
                                d.nested(|d| {
                                    if let Some(lo) = lo {
                                        d.expr("lo: ", lo);
                                    }
                                    if let Some(hi) = hi {
                                        d.expr("hi: ", hi);
                                    }
                                });
                            }
                            Refinement::Regex { pattern, range } => {
                                d.line(format_args!("Regex@{range} {pattern:?}"));
                            }
                            Refinement::Key { fields, range } => {
                                let fields: Vec<String> = fields.iter().map(name).collect();
                                d.line(format_args!("Key@{range} {}", fields.join(", ")));
                            }
                            Refinement::Unique { range } => d.line(format_args!("Unique@{range}")),
                        }
                    }
                });
            }
            TypeExpr::List { item, range } => {
                self.line(format_args!("{label}ListType@{range}"));
                self.nested(|d| d.ty("", item));
            }
            TypeExpr::Map { key, value, range } => {
                self.line(format_args!("{label}MapType@{range}"));
                self.nested(|d| {
                    d.ty("key: ", key);
                    d.ty("value: ", value);
                });
            }
            TypeExpr::Optional { inner, range } => {
                self.line(format_args!("{label}Optional@{range}"));
                self.nested(|d| d.ty("", inner));
            }
            TypeExpr::LiteralUnion { members, range } => {
                self.line(format_args!("{label}LiteralUnion@{range}"));
                self.nested(|d| members.iter().for_each(|m| d.expr("", m)));
            }
            TypeExpr::Union { members, range } => {
                self.line(format_args!("{label}Union@{range}"));
                self.nested(|d| members.iter().for_each(|m| d.ty("", m)));
            }
            TypeExpr::Error(range) => self.line(format_args!("{label}TypeError@{range}")),
        }
    }
}

/// ` = Base@range with A@range, B@range` for a schema or template header (empty without a base).
fn extends(base: &Option<Path>, mixins: &[Path]) -> String {
    let Some(b) = base else { return String::new() };
    let mut out = format!(" = {}@{}", path_text(b), b.range);
    for (i, m) in mixins.iter().enumerate() {
        out.push_str(if i == 0 { " with " } else { ", " });
        out.push_str(&format!("{}@{}", path_text(m), m.range));
    }
    out
}
