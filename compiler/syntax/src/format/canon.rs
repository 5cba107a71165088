//! A range-free, spelling-free copy of a tree, to check that formatting preserved its meaning.
//!
//! Two files mean the same thing to every later stage when their canonical trees are equal. The
//! canonical tree differs from the parsed one only in what the formatter is allowed to change:
//! - every `range` is cleared (the layout moves everything);
//! - a quoted key whose text is a plain identifier becomes that identifier (`"app"` → `app`);
//! - adjacent literal parts of a string are merged and empty ones dropped (escapes are decoded,
//!   so `"a\u{62}"` and `"ab"` may be split differently by the lexer);
//! - doc comment lines lose trailing whitespace (the formatter trims every line).

use kdep_diag::TextRange;

use super::lexical::is_plain_ident;
use crate::ast::{
    Doc, Entry, Expr, File, ForClause, Ident, InstanceEntry, Item, Key, LetDecl, Member, Path, Refinement, StrPart,
    StringLit, TestMember, TypeExpr,
};

/// Returns `file` with ranges cleared and the formatter's permitted spelling changes undone.
pub fn canonical_tree(file: &File) -> File {
    let mut res = file.clone();
    res.range = TextRange::default();
    res.items.iter_mut().for_each(item);
    res
}

fn clear(range: &mut TextRange) {
    *range = TextRange::default();
}

fn ident(id: &mut Ident) {
    clear(&mut id.range);
}

fn path(p: &mut Path) {
    clear(&mut p.range);
    p.segments.iter_mut().for_each(ident);
}

fn doc(d: &mut Option<Doc>) {
    if let Some(d) = d {
        clear(&mut d.range);
        d.text = d.text.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    }
}

fn item(it: &mut Item) {
    match it {
        Item::Import(it) => {
            clear(&mut it.range);
            path(&mut it.path);
            if let Some(alias) = &mut it.alias {
                ident(alias);
            }
        }
        Item::Let(it) => let_decl(it),
        Item::Fn(it) => {
            clear(&mut it.range);
            doc(&mut it.doc);
            ident(&mut it.name);
            for p in &mut it.params {
                clear(&mut p.range);
                ident(&mut p.name);
                type_expr(&mut p.ty);
            }
            type_expr(&mut it.ret);
            expr(&mut it.body);
        }
        Item::Schema(it) => {
            clear(&mut it.range);
            it.attrs.iter_mut().for_each(attribute);
            clear(&mut it.body_range);
            doc(&mut it.doc);
            ident(&mut it.name);
            if let Some(base) = &mut it.base {
                path(base);
            }
            it.mixins.iter_mut().for_each(path);
            it.members.iter_mut().for_each(member);
        }
        Item::Template(it) => {
            clear(&mut it.range);
            it.attrs.iter_mut().for_each(attribute);
            clear(&mut it.body_range);
            doc(&mut it.doc);
            ident(&mut it.name);
            if let Some(base) = &mut it.base {
                path(base);
            }
            it.mixins.iter_mut().for_each(path);
            it.members.iter_mut().for_each(member);
        }
        Item::App(it) => {
            clear(&mut it.range);
            it.attrs.iter_mut().for_each(attribute);
            clear(&mut it.body_range);
            doc(&mut it.doc);
            ident(&mut it.name);
            path(&mut it.template);
            for entry in &mut it.body {
                match entry {
                    InstanceEntry::Set(e) => self::entry(e),
                    InstanceEntry::InEnv(block) => {
                        clear(&mut block.range);
                        ident(&mut block.env);
                        block.entries.iter_mut().for_each(self::entry);
                    }
                    InstanceEntry::Waive(w) => {
                        clear(&mut w.range);
                        path(&mut w.policy);
                        if let Some(r) = &mut w.reason {
                            string(r);
                        }
                    }
                }
            }
        }
        Item::Environment(it) => {
            clear(&mut it.range);
            clear(&mut it.body_range);
            doc(&mut it.doc);
            ident(&mut it.name);
            it.entries.iter_mut().for_each(entry);
        }
        Item::Policy(it) => {
            clear(&mut it.range);
            clear(&mut it.body_range);
            doc(&mut it.doc);
            ident(&mut it.name);
            if let Some(b) = &mut it.base {
                path(b);
            }
            it.entries.iter_mut().for_each(entry);
        }
        Item::Test(it) => {
            clear(&mut it.range);
            clear(&mut it.body_range);
            doc(&mut it.doc);
            string(&mut it.name);
            for m in &mut it.members {
                match m {
                    TestMember::Let(l) => let_decl(l),
                    TestMember::Assert(a) => {
                        clear(&mut a.range);
                        expr(&mut a.condition);
                        if let Some(message) = &mut a.message {
                            string(message);
                        }
                    }
                    TestMember::ExpectError(b) => {
                        clear(&mut b.range);
                        clear(&mut b.body_range);
                        ident(&mut b.code);
                        b.items.iter_mut().for_each(item);
                    }
                    TestMember::Error(range) => clear(range),
                }
            }
        }
        Item::Error(range) => clear(range),
    }
}

fn let_decl(it: &mut LetDecl) {
    clear(&mut it.range);
    doc(&mut it.doc);
    ident(&mut it.name);
    if let Some(ty) = &mut it.ty {
        type_expr(ty);
    }
    expr(&mut it.value);
}

fn attribute(a: &mut crate::ast::Attribute) {
    clear(&mut a.range);
    ident(&mut a.name);
    for arg in a.args.iter_mut().flatten() {
        clear(&mut arg.range);
        ident(&mut arg.key);
        expr(&mut arg.value);
    }
}

fn member(m: &mut Member) {
    match m {
        Member::Field(it) => {
            clear(&mut it.range);
            doc(&mut it.doc);
            if let Some(locked) = &mut it.locked {
                clear(locked);
            }
            ident(&mut it.name);
            if let Some(ty) = &mut it.ty {
                type_expr(ty);
            }
            if let Some(value) = &mut it.default {
                expr(value);
            }
        }
        Member::Let(it) => let_decl(it),
        Member::Check(it) => {
            clear(&mut it.range);
            expr(&mut it.condition);
            if let Some(message) = &mut it.message {
                string(message);
            }
        }
        Member::Emit(it) => {
            clear(&mut it.range);
            expr(&mut it.value);
        }
        Member::Error(range) => clear(range),
    }
}

fn entry(e: &mut Entry) {
    match e {
        Entry::Field(it) => {
            clear(&mut it.range);
            it.key.iter_mut().for_each(key);
            expr(&mut it.value);
        }
        Entry::Comprehension(it) => {
            clear(&mut it.range);
            expr(&mut it.key);
            expr(&mut it.value);
            clause(&mut it.clause);
        }
        Entry::Error(range) => clear(range),
    }
}

fn key(k: &mut Key) {
    if let Key::Str(s) = k {
        if let Some(text) = s.as_plain().filter(|text| is_plain_ident(text)) {
            *k = Key::Ident(Ident { text, range: TextRange::default() });
        }
    }
    match k {
        Key::Ident(id) => ident(id),
        Key::Str(s) => string(s),
    }
}

fn clause(c: &mut ForClause) {
    clear(&mut c.range);
    ident(&mut c.first);
    if let Some(second) = &mut c.second {
        ident(second);
    }
    expr(&mut c.source);
    if let Some(cond) = &mut c.condition {
        expr(cond);
    }
}

fn string(s: &mut StringLit) {
    clear(&mut s.range);
    let mut parts: Vec<StrPart> = Vec::with_capacity(s.parts.len());
    for mut part in std::mem::take(&mut s.parts) {
        match &mut part {
            StrPart::Text { text, range } => {
                clear(range);
                if text.is_empty() {
                    continue;
                }
                if let Some(StrPart::Text { text: prev, .. }) = parts.last_mut() {
                    prev.push_str(text);
                    continue;
                }
            }
            StrPart::Interp(e) => expr(e),
        }
        parts.push(part);
    }
    s.parts = parts;
}

fn expr(e: &mut Expr) {
    match e {
        Expr::Int { range, .. } | Expr::Float { range, .. } | Expr::Bool { range, .. } | Expr::Null { range } => {
            clear(range)
        }
        Expr::Str(s) => string(s),
        Expr::Name(id) => ident(id),
        Expr::Field { base, field, range } => {
            clear(range);
            expr(base);
            ident(field);
        }
        Expr::Index { base, index, range } => {
            clear(range);
            expr(base);
            expr(index);
        }
        Expr::Call { callee, args, range } => {
            clear(range);
            expr(callee);
            args.iter_mut().for_each(expr);
        }
        Expr::Unary { operand, range, .. } => {
            clear(range);
            expr(operand);
        }
        Expr::Binary { lhs, rhs, range, .. } => {
            clear(range);
            expr(lhs);
            expr(rhs);
        }
        Expr::If { cond, then, otherwise, range } => {
            clear(range);
            expr(cond);
            expr(then);
            if let Some(otherwise) = otherwise {
                expr(otherwise);
            }
        }
        Expr::List { items, range } => {
            clear(range);
            items.iter_mut().for_each(expr);
        }
        Expr::ListComprehension { item, clause: c, range } => {
            clear(range);
            expr(item);
            clause(c);
        }
        Expr::Object { entries, range } => {
            clear(range);
            entries.iter_mut().for_each(entry);
        }
        Expr::Instantiate { path: p, entries, body_range, range } => {
            clear(range);
            clear(body_range);
            path(p);
            entries.iter_mut().for_each(entry);
        }
        Expr::Paren { inner, range } => {
            clear(range);
            expr(inner);
        }
        Expr::Error(range) => clear(range),
    }
}

fn type_expr(t: &mut TypeExpr) {
    match t {
        TypeExpr::Named(p) => path(p),
        TypeExpr::Refined { base, args, range } => {
            clear(range);
            type_expr(base);
            for arg in args {
                match arg {
                    Refinement::Range { lo, hi, range } => {
                        clear(range);
                        if let Some(lo) = lo {
                            expr(lo);
                        }
                        if let Some(hi) = hi {
                            expr(hi);
                        }
                    }
                    Refinement::Regex { range, .. } | Refinement::Unique { range } => clear(range),
                    Refinement::Key { fields, range } => {
                        clear(range);
                        fields.iter_mut().for_each(ident);
                    }
                }
            }
        }
        TypeExpr::List { item, range } => {
            clear(range);
            type_expr(item);
        }
        TypeExpr::Map { key, value, range } => {
            clear(range);
            type_expr(key);
            type_expr(value);
        }
        TypeExpr::Optional { inner, range } => {
            clear(range);
            type_expr(inner);
        }
        TypeExpr::LiteralUnion { members, range } => {
            clear(range);
            members.iter_mut().for_each(expr);
        }
        TypeExpr::Union { members, range } => {
            clear(range);
            members.iter_mut().for_each(type_expr);
        }
        TypeExpr::Error(range) => clear(range),
    }
}
