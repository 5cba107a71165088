//! A depth limit on the finished tree, as a backstop. The nesting check on the token stream
//! already bounds the tree: every level of nesting needs a bracket (at most
//! [`crate::MAX_NESTING`] deep, each worth at most three tree levels) or a chained operator
//! (at most [`crate::MAX_CHAIN`] on any path), so a tree deeper than
//! [`MAX_TREE_DEPTH`] means a construct escaped that accounting. Cutting it here keeps every
//! later stage (and the derived `Drop`, `Clone`, `PartialEq` of the AST) safe to recurse.
//!
//! Both the walk and the disposal of cut subtrees are iterative.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use kdep_diag::{Code, Diagnostic, FileId, Span};

use crate::ast::{Entry, Expr, ForClause, InstanceEntry, Item, Key, Member, Refinement, StrPart, StringLit, TypeExpr};

/// Deepest nesting of expression, type and entry nodes in the tree.
pub const MAX_TREE_DEPTH: usize = 1024;

enum Node<'a> {
    Expr(&'a mut Expr),
    Type(&'a mut TypeExpr),
    Entry(&'a mut Entry),
}

/// A subtree cut out of the tree, waiting to be taken apart.
enum Owned {
    Expr(Expr),
    Type(TypeExpr),
    Entry(Entry),
}

pub(crate) fn limit_depth(file: FileId, items: &mut [Item], diags: &mut Vec<Diagnostic>) {
    let mut stack: Vec<(Node<'_>, usize)> = Vec::new();
    for item in items.iter_mut() {
        push_item(item, &mut stack);
    }
    let mut cut: Vec<Owned> = Vec::new();
    let mut reported = false;
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_TREE_DEPTH {
            let range = match node {
                Node::Expr(e) => {
                    let range = e.range();
                    cut.push(Owned::Expr(std::mem::replace(e, Expr::Error(range))));
                    range
                }
                Node::Type(t) => {
                    let range = t.range();
                    cut.push(Owned::Type(std::mem::replace(t, TypeExpr::Error(range))));
                    range
                }
                Node::Entry(e) => {
                    let range = e.range();
                    cut.push(Owned::Entry(std::mem::replace(e, Entry::Error(range))));
                    range
                }
            };
            if !reported {
                reported = true;
                diags.push(
                    Diagnostic::error(
                        Code::NESTING_TOO_DEEP,
                        format!("expression is nested more than {MAX_TREE_DEPTH} levels deep"),
                    )
                    .with_primary(Span::new(file, range), "nested too deeply")
                    .with_help("split the expression into `let` bindings"),
                );
            }
            continue;
        }
        let d = depth + 1;
        match node {
            Node::Expr(e) => push_expr_children(e, d, &mut stack),
            Node::Type(t) => push_type_children(t, d, &mut stack),
            Node::Entry(e) => push_entry_children(e, d, &mut stack),
        }
    }
    dispose(cut);
}

fn push_item<'a>(item: &'a mut Item, stack: &mut Vec<(Node<'a>, usize)>) {
    match item {
        Item::Import(_) | Item::Error(_) => {}
        Item::Let(l) => {
            if let Some(ty) = &mut l.ty {
                stack.push((Node::Type(ty), 0));
            }
            stack.push((Node::Expr(&mut l.value), 0));
        }
        Item::Fn(f) => {
            for p in &mut f.params {
                stack.push((Node::Type(&mut p.ty), 0));
            }
            stack.push((Node::Type(&mut f.ret), 0));
            stack.push((Node::Expr(&mut f.body), 0));
        }
        Item::Schema(s) => s.members.iter_mut().for_each(|m| push_member(m, stack)),
        Item::Template(t) => t.members.iter_mut().for_each(|m| push_member(m, stack)),
        Item::App(a) => {
            for entry in &mut a.body {
                match entry {
                    InstanceEntry::Set(e) => stack.push((Node::Entry(e), 0)),
                    InstanceEntry::InEnv(block) => {
                        stack.extend(block.entries.iter_mut().map(|e| (Node::Entry(e), 0)));
                    }
                    InstanceEntry::Waive(_) => {}
                }
            }
        }
        Item::Environment(e) => stack.extend(e.entries.iter_mut().map(|e| (Node::Entry(e), 0))),
        Item::Test(t) => {
            for m in &mut t.members {
                match m {
                    crate::ast::TestMember::Let(l) => {
                        if let Some(ty) = &mut l.ty {
                            stack.push((Node::Type(ty), 0));
                        }
                        stack.push((Node::Expr(&mut l.value), 0));
                    }
                    crate::ast::TestMember::Assert(a) => stack.push((Node::Expr(&mut a.condition), 0)),
                    // Bounded by the bracket nesting limit, like every other nesting here.
                    crate::ast::TestMember::ExpectError(b) => b.items.iter_mut().for_each(|i| push_item(i, stack)),
                    crate::ast::TestMember::Error(_) => {}
                }
            }
        }
        Item::Policy(p) => stack.extend(p.entries.iter_mut().map(|e| (Node::Entry(e), 0))),
    }
}

fn push_member<'a>(member: &'a mut Member, stack: &mut Vec<(Node<'a>, usize)>) {
    match member {
        Member::Field(f) => {
            if let Some(ty) = &mut f.ty {
                stack.push((Node::Type(ty), 0));
            }
            if let Some(d) = &mut f.default {
                stack.push((Node::Expr(d), 0));
            }
        }
        Member::Let(l) => {
            if let Some(ty) = &mut l.ty {
                stack.push((Node::Type(ty), 0));
            }
            stack.push((Node::Expr(&mut l.value), 0));
        }
        Member::Check(c) => {
            stack.push((Node::Expr(&mut c.condition), 0));
            if let Some(m) = &mut c.message {
                push_str(m, 0, stack);
            }
        }
        Member::Emit(e) => stack.push((Node::Expr(&mut e.value), 0)),
        Member::Error(_) => {}
    }
}

fn push_str<'a>(s: &'a mut StringLit, d: usize, stack: &mut Vec<(Node<'a>, usize)>) {
    for part in &mut s.parts {
        if let StrPart::Interp(e) = part {
            stack.push((Node::Expr(e), d));
        }
    }
}

fn push_clause<'a>(c: &'a mut ForClause, d: usize, stack: &mut Vec<(Node<'a>, usize)>) {
    stack.push((Node::Expr(&mut c.source), d));
    if let Some(cond) = &mut c.condition {
        stack.push((Node::Expr(cond), d));
    }
}

fn push_entry_children<'a>(entry: &'a mut Entry, d: usize, stack: &mut Vec<(Node<'a>, usize)>) {
    match entry {
        Entry::Field(f) => {
            for key in &mut f.key {
                if let Key::Str(s) = key {
                    push_str(s, d, stack);
                }
            }
            stack.push((Node::Expr(&mut f.value), d));
        }
        Entry::Comprehension(c) => {
            let c = &mut **c;
            stack.push((Node::Expr(&mut c.key), d));
            stack.push((Node::Expr(&mut c.value), d));
            push_clause(&mut c.clause, d, stack);
        }
        Entry::Error(_) => {}
    }
}

fn push_expr_children<'a>(expr: &'a mut Expr, d: usize, stack: &mut Vec<(Node<'a>, usize)>) {
    match expr {
        Expr::Int { .. } | Expr::Float { .. } | Expr::Bool { .. } | Expr::Null { .. } | Expr::Name(_) => {}
        Expr::Error(_) => {}
        Expr::Str(s) => push_str(s, d, stack),
        Expr::Field { base, .. } => stack.push((Node::Expr(base), d)),
        Expr::Index { base, index, .. } => {
            stack.push((Node::Expr(base), d));
            stack.push((Node::Expr(index), d));
        }
        Expr::Call { callee, args, .. } => {
            stack.push((Node::Expr(callee), d));
            stack.extend(args.iter_mut().map(|a| (Node::Expr(a), d)));
        }
        Expr::Unary { operand, .. } => stack.push((Node::Expr(operand), d)),
        Expr::Binary { lhs, rhs, .. } => {
            stack.push((Node::Expr(lhs), d));
            stack.push((Node::Expr(rhs), d));
        }
        Expr::If { cond, then, otherwise, .. } => {
            stack.push((Node::Expr(cond), d));
            stack.push((Node::Expr(then), d));
            if let Some(otherwise) = otherwise {
                stack.push((Node::Expr(otherwise), d));
            }
        }
        Expr::List { items, .. } => stack.extend(items.iter_mut().map(|a| (Node::Expr(a), d))),
        Expr::ListComprehension { item, clause, .. } => {
            stack.push((Node::Expr(item), d));
            push_clause(clause, d, stack);
        }
        Expr::Object { entries, .. } | Expr::Instantiate { entries, .. } => {
            stack.extend(entries.iter_mut().map(|e| (Node::Entry(e), d)));
        }
        Expr::Paren { inner, .. } => stack.push((Node::Expr(inner), d)),
    }
}

fn push_type_children<'a>(ty: &'a mut TypeExpr, d: usize, stack: &mut Vec<(Node<'a>, usize)>) {
    match ty {
        TypeExpr::Named(_) | TypeExpr::Error(_) => {}
        TypeExpr::Refined { base, args, .. } => {
            stack.push((Node::Type(base), d));
            for arg in args {
                if let Refinement::Range { lo, hi, .. } = arg {
                    stack.extend(lo.iter_mut().chain(hi.iter_mut()).map(|e| (Node::Expr(e), d)));
                }
            }
        }
        TypeExpr::List { item, .. } => stack.push((Node::Type(item), d)),
        TypeExpr::Map { key, value, .. } => {
            stack.push((Node::Type(key), d));
            stack.push((Node::Type(value), d));
        }
        TypeExpr::Optional { inner, .. } => stack.push((Node::Type(inner), d)),
        TypeExpr::LiteralUnion { members, .. } => stack.extend(members.iter_mut().map(|e| (Node::Expr(e), d))),
        TypeExpr::Union { members, .. } => stack.extend(members.iter_mut().map(|t| (Node::Type(t), d))),
    }
}

/// Drops cut subtrees one node at a time: every child is moved onto a worklist before its
/// parent is dropped, so the drop glue never recurses more than one level.
fn dispose(mut work: Vec<Owned>) {
    fn take_expr(e: &mut Expr) -> Owned {
        let range = e.range();
        Owned::Expr(std::mem::replace(e, Expr::Error(range)))
    }
    fn take_type(t: &mut TypeExpr) -> Owned {
        let range = t.range();
        Owned::Type(std::mem::replace(t, TypeExpr::Error(range)))
    }
    fn take_str(s: &mut StringLit, work: &mut Vec<Owned>) {
        for part in &mut s.parts {
            if let StrPart::Interp(e) = part {
                work.push(take_expr(e));
            }
        }
    }
    fn take_clause(c: &mut ForClause, work: &mut Vec<Owned>) {
        work.push(take_expr(&mut c.source));
        if let Some(cond) = &mut c.condition {
            work.push(take_expr(cond));
        }
    }
    while let Some(node) = work.pop() {
        match node {
            Owned::Expr(mut e) => match &mut e {
                Expr::Int { .. }
                | Expr::Float { .. }
                | Expr::Bool { .. }
                | Expr::Null { .. }
                | Expr::Name(_)
                | Expr::Error(_) => {}
                Expr::Str(s) => take_str(s, &mut work),
                Expr::Field { base, .. } => work.push(take_expr(base)),
                Expr::Index { base, index, .. } => {
                    work.push(take_expr(base));
                    work.push(take_expr(index));
                }
                Expr::Call { callee, args, .. } => {
                    work.push(take_expr(callee));
                    work.extend(args.drain(..).map(Owned::Expr));
                }
                Expr::Unary { operand, .. } => work.push(take_expr(operand)),
                Expr::Binary { lhs, rhs, .. } => {
                    work.push(take_expr(lhs));
                    work.push(take_expr(rhs));
                }
                Expr::If { cond, then, otherwise, .. } => {
                    work.push(take_expr(cond));
                    work.push(take_expr(then));
                    if let Some(otherwise) = otherwise {
                        work.push(take_expr(otherwise));
                    }
                }
                Expr::List { items, .. } => work.extend(items.drain(..).map(Owned::Expr)),
                Expr::ListComprehension { item, clause, .. } => {
                    work.push(take_expr(item));
                    take_clause(clause, &mut work);
                }
                Expr::Object { entries, .. } | Expr::Instantiate { entries, .. } => {
                    work.extend(entries.drain(..).map(Owned::Entry));
                }
                Expr::Paren { inner, .. } => work.push(take_expr(inner)),
            },
            Owned::Type(mut t) => match &mut t {
                TypeExpr::Named(_) | TypeExpr::Error(_) => {}
                TypeExpr::Refined { base, args, .. } => {
                    work.push(take_type(base));
                    for arg in args {
                        if let Refinement::Range { lo, hi, .. } = arg {
                            work.extend(lo.take().into_iter().chain(hi.take()).map(Owned::Expr));
                        }
                    }
                }
                TypeExpr::List { item, .. } => work.push(take_type(item)),
                TypeExpr::Map { key, value, .. } => {
                    work.push(take_type(key));
                    work.push(take_type(value));
                }
                TypeExpr::Optional { inner, .. } => work.push(take_type(inner)),
                TypeExpr::LiteralUnion { members, .. } => work.extend(members.drain(..).map(Owned::Expr)),
                TypeExpr::Union { members, .. } => work.extend(members.drain(..).map(Owned::Type)),
            },
            Owned::Entry(mut e) => match &mut e {
                Entry::Field(f) => {
                    for key in &mut f.key {
                        if let Key::Str(s) = key {
                            take_str(s, &mut work);
                        }
                    }
                    work.push(take_expr(&mut f.value));
                }
                Entry::Comprehension(c) => {
                    work.push(take_expr(&mut c.key));
                    work.push(take_expr(&mut c.value));
                    take_clause(&mut c.clause, &mut work);
                }
                Entry::Error(_) => {}
            },
        }
    }
}
