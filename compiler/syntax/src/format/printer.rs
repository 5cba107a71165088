//! The layout engine: walks the tree in source order and writes the canonical text.
//!
//! Layout is decided greedily, top-down: a block that may be inline is first rendered flat into
//! a scratch buffer; if that holds no comment and fits in the rest of the line, it is used,
//! otherwise the block breaks one child per line and each child decides again at its own
//! position. Because the decision depends only on the tree, the comments and the column (itself
//! a function of the tree), printing the output again makes the same decisions: idempotence.
//!
//! Comments at block slots are printed by [`Printer::slots`]. Comments inside a child are
//! printed in place by [`Printer::flush`], which the printer calls at the start of every node
//! and before every closing delimiter it writes: each comment comes out at the first such point
//! after it, so it stays inside exactly the same nodes, and the same decisions are made again.

use kdep_diag::TextRange;

use super::comments::{instance_entry_range, Comments, FILE_KEY};
use super::lexical::{escape_str, is_field_name, is_plain_ident};
use super::MAX_WIDTH;
use crate::ast::{
    self, BinaryOp, Entry, Expr, ForClause, InstanceEntry, Item, Key, Member, Refinement, StrPart, StringLit, TypeExpr,
    UnaryOp,
};

/// Prints a whole parsed file.
pub(super) fn print(text: &str, parse: &crate::Parse) -> String {
    let comments = Comments::new(text, parse);
    let mut printer = Printer {
        text,
        comments: &comments,
        out: String::new(),
        indent: 0,
        flat: false,
        tail: 0,
        next_inline: 0,
        continuation: None,
        discarded: false,
    };
    printer.file(&parse.file);
    // Every in-place comment lies inside some item and was printed with it; this only guards
    // against a missed flush point, which must lose nothing either.
    printer.flush(u32::MAX);
    if printer.continuation.take().is_some() {
        printer.out.push('\n');
    }
    printer.out
}

struct Printer<'a> {
    text: &'a str,
    comments: &'a Comments<'a>,
    out: String,
    indent: usize,
    /// Set while rendering a flat candidate or an interpolation: every block prints inline.
    flat: bool,
    /// Columns that will follow the next expression on its line (a list item's `,`, the clause of
    /// a comprehension). Taken by the next call to [`Printer::expr`].
    tail: usize,
    /// Index into [`Comments::inline`] of the next in-place comment to print.
    next_inline: usize,
    /// Set right after an in-place comment: the line is finished, and the next text goes on a
    /// new line with this indentation.
    continuation: Option<String>,
    /// Set while rendering text that will be thrown away (a flat candidate, a width estimate),
    /// which must not consume in-place comments.
    discarded: bool,
}

/// How a block separates its children when broken.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// Members and entries: one per line, nothing else.
    Lines,
    /// List items: one per line, each followed by `,`.
    Commas,
}

impl<'a> Printer<'a> {
    // ---- Output primitives -------------------------------------------------------------------

    fn push(&mut self, s: &str) {
        if let Some(indent) = self.continuation.take() {
            self.out.push('\n');
            self.out.push_str(&indent);
        }
        self.out.push_str(s);
    }

    fn newline(&mut self) {
        if self.continuation.take().is_none() {
            let kept = self.out.trim_end_matches(' ').len();
            self.out.truncate(kept);
        }
        self.out.push('\n');
    }

    /// Prints, in place, every inline comment that starts before `pos`.
    fn flush(&mut self, pos: u32) {
        if self.discarded {
            return;
        }
        while let Some(&c) = self.comments.inline().get(self.next_inline) {
            if self.comments.range(c).start >= pos {
                break;
            }
            self.next_inline += 1;
            self.inline_comment(c);
        }
    }

    /// Ends the current line with the comment; what follows continues on the next line, one
    /// level deeper than the line the comment ended, or level with the comment when it had the
    /// line to itself (after another in-place comment, say).
    fn inline_comment(&mut self, c: usize) {
        if let Some(indent) = self.continuation.take() {
            self.out.push('\n');
            self.out.push_str(&indent);
        }
        let line_start = self.out.rfind('\n').map_or(0, |i| i + 1);
        if self.out.len() == line_start {
            self.write_indent();
        }
        let line = self.out.get(line_start..).unwrap_or("");
        let indent: String = line.chars().take_while(|c| *c == ' ').collect();
        let continuation = if line.trim().is_empty() {
            indent
        } else {
            let kept = self.out.trim_end_matches(' ').len();
            self.out.truncate(kept);
            self.out.push(' ');
            format!("{indent}    ")
        };
        let text = self.comments.text(c);
        self.out.push_str(text);
        self.continuation = Some(continuation);
    }

    fn write_indent(&mut self) {
        for _ in 0..self.indent {
            self.out.push_str("    ");
        }
    }

    fn column(&self) -> usize {
        if let Some(indent) = &self.continuation {
            // The next text starts a continuation line.
            return indent.len();
        }
        let line_start = self.out.rfind('\n').map_or(0, |i| i + 1);
        self.out.get(line_start..).map_or(0, |line| line.chars().count())
    }

    fn fits(&self, width: usize, tail: usize) -> bool {
        self.column() + width + tail <= MAX_WIDTH
    }

    fn source(&self, range: TextRange) -> &'a str {
        self.text.get(range.as_usize_range()).unwrap_or("")
    }

    /// Runs `f` against an empty buffer and returns what it wrote, leaving `out` untouched.
    /// With `discard`, the text is only measured, so in-place comments are left for later.
    fn scratch(&mut self, flat: bool, discard: bool, f: impl FnOnce(&mut Self)) -> String {
        let saved_out = std::mem::take(&mut self.out);
        let saved_flat = std::mem::replace(&mut self.flat, flat);
        let saved_tail = std::mem::take(&mut self.tail);
        let discarded = self.discarded || discard;
        let saved_discarded = std::mem::replace(&mut self.discarded, discarded);
        let saved_continuation = self.continuation.take();
        f(self);
        if self.continuation.take().is_some() {
            self.out.push('\n');
        }
        self.continuation = saved_continuation;
        self.discarded = saved_discarded;
        self.tail = saved_tail;
        self.flat = saved_flat;
        std::mem::replace(&mut self.out, saved_out)
    }

    /// The one-line rendering of the node covering `range`, unless a comment forbids it.
    fn flat_candidate(&mut self, range: TextRange, f: impl FnOnce(&mut Self)) -> Option<String> {
        if self.comments.any_within(range) {
            return None;
        }
        Some(self.scratch(true, true, f))
    }

    /// Pushes the flat rendering when allowed and it fits; returns whether it did.
    fn try_inline(&mut self, range: TextRange, tail: usize, f: impl FnOnce(&mut Self)) -> bool {
        if self.flat {
            f(self);
            return true;
        }
        match self.flat_candidate(range, f) {
            Some(line) if self.fits(line.chars().count(), tail) => {
                self.push(&line);
                true
            }
            _ => false,
        }
    }

    // ---- Blocks and comments -----------------------------------------------------------------

    /// `true` when the source between `from` and `to` is only whitespace with a blank line.
    fn blank_between(&self, from: u32, to: u32) -> bool {
        from <= to
            && self.text.get(from as usize..to as usize).is_some_and(|gap| {
                gap.chars().all(char::is_whitespace) && gap.chars().filter(|&c| c == '\n').count() >= 2
            })
    }

    /// Writes one comment on its own line at the current indentation.
    fn comment_line(&mut self, idx: usize) {
        self.write_indent();
        let text = self.comments.text(idx);
        self.push(text);
        self.newline();
    }

    /// Writes the children of a broken block, one per line, each with its comments; the cursor
    /// is at the start of a line, and is left at the start of the line after the last child.
    fn slots<T>(
        &mut self,
        key: u32,
        children: &[T],
        range_of: fn(&T) -> TextRange,
        print: fn(&mut Self, &T),
        sep: Sep,
    ) {
        // End of the last thing printed from the source (child or comment); `None` right after
        // the opening brace, where no blank line is ever kept.
        let mut prev_end: Option<u32> = None;
        for (i, child) in children.iter().enumerate() {
            let range = range_of(child);
            for &c in self.comments.leading(key, i) {
                let comment = self.comments.range(c);
                if prev_end.is_some_and(|end| self.blank_between(end, comment.start)) {
                    self.newline();
                }
                self.comment_line(c);
                prev_end = Some(comment.end);
            }
            if prev_end.is_some_and(|end| self.blank_between(end, range.start)) {
                self.newline();
            }
            self.write_indent();
            if sep == Sep::Commas {
                self.tail = 1;
            }
            print(self, child);
            self.tail = 0;
            if sep == Sep::Commas {
                self.push(",");
            }
            prev_end = Some(self.end_of_child(range.end, self.comments.trailing(key, i)));
            self.newline();
        }
        self.dangling(key, prev_end);
    }

    /// Writes the comments that end a child's line: its trailing comment, preceded by any
    /// in-place comment of the child no flush point reached (there should be none). Returns the
    /// source offset up to which everything has been printed.
    fn end_of_child(&mut self, end: u32, trailing: Option<usize>) -> u32 {
        let mut last = end;
        let mut first = true;
        let mut put = |p: &mut Self, c: usize| {
            if first {
                p.push(" ");
            } else {
                p.newline();
                p.write_indent();
            }
            first = false;
            let text = p.comments.text(c);
            p.push(text);
            last = last.max(p.comments.range(c).end);
        };
        while let Some(&c) = self.comments.inline().get(self.next_inline) {
            if self.discarded || self.comments.range(c).start >= end {
                break;
            }
            self.next_inline += 1;
            put(self, c);
        }
        if let Some(c) = trailing {
            put(self, c);
        }
        last
    }

    fn dangling(&mut self, key: u32, mut prev_end: Option<u32>) {
        for &c in self.comments.dangling(key) {
            let comment = self.comments.range(c);
            if prev_end.is_some_and(|end| self.blank_between(end, comment.start)) {
                self.newline();
            }
            self.comment_line(c);
            prev_end = Some(comment.end);
        }
    }

    /// `open`, the children one per line one level deeper, then `close` at the current level.
    fn broken<T>(
        &mut self,
        (open, close): (&str, &str),
        key: u32,
        children: &[T],
        range_of: fn(&T) -> TextRange,
        print: fn(&mut Self, &T),
        sep: Sep,
    ) {
        self.push(open);
        self.newline();
        self.indent += 1;
        self.slots(key, children, range_of, print, sep);
        self.indent -= 1;
        self.write_indent();
        self.push(close);
    }

    fn is_empty_block(&self, key: u32, n_children: usize) -> bool {
        n_children == 0 && self.comments.dangling(key).is_empty()
    }

    /// A body that is always multi-line (template, schema, app, `in`), or `{}` when empty.
    fn body<T>(&mut self, key: u32, children: &[T], range_of: fn(&T) -> TextRange, print: fn(&mut Self, &T)) {
        self.flush(key);
        if self.is_empty_block(key, children.len()) {
            self.push("{}");
        } else if self.flat {
            // Only reachable for a declaration inside a flat candidate, which cannot happen; keep
            // the output well-formed anyway.
            self.push("{ ");
            self.join(children, print, ", ");
            self.push(" }");
        } else {
            self.broken(("{", "}"), key, children, range_of, print, Sep::Lines);
        }
    }

    /// Entries of an object literal, instantiation or environment: inline when possible.
    fn entries(&mut self, key: u32, range: TextRange, entries: &[Entry], tail: usize) {
        self.flush(range.start);
        if self.is_empty_block(key, entries.len()) {
            self.push("{}");
            return;
        }
        let inline = |p: &mut Self| {
            p.push("{ ");
            p.join(entries, Self::entry, ", ");
            p.push(" }");
        };
        // `{ a = 1, k = v for k, v in m, b = 2 }` reads as if `m, b = 2` were one thing: a
        // comprehension shares a line only with nothing.
        let mixed = entries.len() > 1 && entries.iter().any(|e| matches!(e, Entry::Comprehension(_)));
        if (mixed && !self.flat) || !self.try_inline(range, tail, inline) {
            self.broken(("{", "}"), key, entries, Entry::range, Self::entry, Sep::Lines);
        }
    }

    fn join<T>(&mut self, children: &[T], print: fn(&mut Self, &T), sep: &str) {
        for (i, child) in children.iter().enumerate() {
            if i > 0 {
                self.push(sep);
            }
            print(self, child);
        }
    }

    // ---- Items -------------------------------------------------------------------------------

    fn file(&mut self, file: &ast::File) {
        let mut prev: Option<(std::mem::Discriminant<Item>, bool)> = None;
        let mut prev_end: Option<u32> = None;
        for (i, item) in file.items.iter().enumerate() {
            let range = item.range();
            // Items start at column 0, so printing one alone gives exactly its final text, which
            // tells whether it is a one-liner before choosing the separation.
            let printed = self.scratch(false, false, |p| p.item(item));
            let one_line = !printed.contains('\n');
            let kind = std::mem::discriminant(item);
            let leading = self.comments.leading(FILE_KEY, i);
            if let (Some((prev_kind, prev_one_line)), Some(end)) = (prev, prev_end) {
                let first_start = leading.first().map_or(range.start, |&c| self.comments.range(c).start);
                let keep_user_choice = prev_kind == kind && prev_one_line && one_line;
                if !keep_user_choice || self.blank_between(end, first_start) {
                    self.newline();
                }
            }
            let mut last_end = prev_end;
            for (n, &c) in leading.iter().enumerate() {
                let comment = self.comments.range(c);
                // The blank line before the first comment was decided above.
                if n > 0 && last_end.is_some_and(|end| self.blank_between(end, comment.start)) {
                    self.newline();
                }
                self.comment_line(c);
                last_end = Some(comment.end);
            }
            if !leading.is_empty() && last_end.is_some_and(|end| self.blank_between(end, range.start)) {
                self.newline();
            }
            self.push(&printed);
            prev_end = Some(self.end_of_child(range.end, self.comments.trailing(FILE_KEY, i)));
            self.newline();
            prev = Some((kind, one_line));
        }
        self.dangling(FILE_KEY, prev_end);
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(it) => {
                self.push("import ");
                self.path(&it.path);
                if let Some(alias) = &it.alias {
                    self.push(" as ");
                    self.ident(alias);
                }
            }
            Item::Let(it) => self.let_decl(it),
            Item::Fn(it) => {
                self.push("fn ");
                self.ident(&it.name);
                self.push("(");
                self.join(&it.params, Self::param, ", ");
                self.push(") -> ");
                self.type_expr(&it.ret);
                self.push(" = ");
                self.expr(&it.body);
            }
            Item::Schema(it) => {
                self.attributes(&it.attrs, it.name.range.start);
                self.push("schema ");
                self.ident(&it.name);
                self.extends(&it.base, &it.mixins);
                self.push(" ");
                self.body(it.body_range.start, &it.members, Member::range, Self::member);
            }
            Item::Template(it) => {
                self.attributes(&it.attrs, it.name.range.start);
                self.push("template ");
                self.ident(&it.name);
                self.extends(&it.base, &it.mixins);
                self.push(" ");
                self.body(it.body_range.start, &it.members, Member::range, Self::member);
            }
            Item::App(it) => {
                self.attributes(&it.attrs, it.name.range.start);
                self.push("app ");
                self.ident(&it.name);
                self.push(" = ");
                self.path(&it.template);
                self.push(" ");
                self.body(it.body_range.start, &it.body, instance_entry_range, Self::instance_entry);
            }
            Item::Environment(it) => {
                self.push("environment ");
                self.ident(&it.name);
                self.push(" ");
                self.entries(it.body_range.start, it.body_range, &it.entries, 0);
            }
            Item::Policy(it) => {
                self.push("policy ");
                self.ident(&it.name);
                if let Some(base) = &it.base {
                    self.push(" = ");
                    self.path(base);
                }
                self.push(" ");
                self.entries(it.body_range.start, it.body_range, &it.entries, 0);
            }
            Item::Test(it) => {
                self.push("test ");
                self.string(&it.name);
                self.push(" ");
                self.body(it.body_range.start, &it.members, ast::TestMember::range, Self::test_member);
            }
            Item::Error(range) => self.verbatim(*range),
        }
    }

    fn test_member(&mut self, member: &ast::TestMember) {
        match member {
            ast::TestMember::Let(it) => self.let_decl(it),
            ast::TestMember::Assert(it) => {
                self.push("assert ");
                self.expr(&it.condition);
                if let Some(message) = &it.message {
                    self.push(" : ");
                    self.string(message);
                }
            }
            ast::TestMember::ExpectError(it) => {
                self.push("expect_error ");
                self.ident(&it.code);
                self.push(" ");
                self.body(it.body_range.start, &it.items, Item::range, Self::item);
            }
            ast::TestMember::Error(range) => self.verbatim(*range),
        }
    }

    /// Unparsable text is never produced by a file that parsed without errors; should one
    /// appear anyway, it is kept exactly as written rather than dropped.
    fn verbatim(&mut self, range: TextRange) {
        let text = self.source(range);
        self.push(text);
    }

    fn let_decl(&mut self, it: &ast::LetDecl) {
        self.push("let ");
        self.ident(&it.name);
        if let Some(ty) = &it.ty {
            self.push(": ");
            self.type_expr(ty);
        }
        self.push(" = ");
        self.expr(&it.value);
    }

    fn param(&mut self, it: &ast::Param) {
        self.ident(&it.name);
        self.push(": ");
        self.type_expr(&it.ty);
    }

    fn member(&mut self, member: &Member) {
        match member {
            Member::Field(it) => {
                if it.locked.is_some() {
                    self.push("locked ");
                }
                self.field_name(&it.name);
                if let Some(ty) = &it.ty {
                    self.push(": ");
                    self.type_expr(ty);
                }
                if let Some(value) = &it.default {
                    self.push(" = ");
                    self.expr(value);
                }
            }
            Member::Let(it) => self.let_decl(it),
            Member::Check(it) => {
                self.push("check ");
                self.expr(&it.condition);
                if let Some(message) = &it.message {
                    self.push(" : ");
                    self.string(message);
                }
            }
            Member::Emit(it) => {
                self.push("emit ");
                self.expr(&it.value);
            }
            Member::Error(range) => self.verbatim(*range),
        }
    }

    fn instance_entry(&mut self, entry: &InstanceEntry) {
        match entry {
            InstanceEntry::Set(entry) => self.entry(entry),
            InstanceEntry::InEnv(block) => {
                self.push("in ");
                self.ident(&block.env);
                self.push(" ");
                self.body(block.range.start, &block.entries, Entry::range, Self::entry);
            }
            InstanceEntry::Waive(w) => {
                self.push("waive ");
                self.path(&w.policy);
                if let Some(reason) = &w.reason {
                    self.push(" : ");
                    self.string(reason);
                }
            }
        }
    }

    fn entry(&mut self, entry: &Entry) {
        match entry {
            Entry::Field(it) => {
                for (i, key) in it.key.iter().enumerate() {
                    if i > 0 {
                        self.push(".");
                    }
                    self.key(key);
                }
                self.push(" = ");
                self.expr(&it.value);
            }
            Entry::Comprehension(it) => {
                self.expr(&it.key);
                self.push(" = ");
                self.expr(&it.value);
                self.push(" ");
                self.clause(&it.clause);
            }
            Entry::Error(range) => self.verbatim(*range),
        }
    }

    fn key(&mut self, key: &Key) {
        match key {
            Key::Ident(id) => self.ident(id),
            Key::Str(s) => match s.as_plain() {
                Some(text) if is_plain_ident(&text) => self.push(&text),
                _ => self.string(s),
            },
        }
    }

    /// A field name, quoted when it is not a name the parser takes bare (`"x-foo": string?`).
    fn field_name(&mut self, id: &ast::Ident) {
        if is_field_name(&id.text) {
            self.ident(id);
        } else {
            self.flush(id.range.start);
            self.push("\"");
            escape_str(&id.text, &mut self.out);
            self.push("\"");
        }
    }

    /// `@name` / `@name(key = value, ...)`, one per line, before `schema`, `template` or `app`.
    /// Comments on an attribute's line stay on it (flushed up to the next attribute or, for the
    /// last, up to the declaration's name).
    fn attributes(&mut self, attrs: &[ast::Attribute], name_start: u32) {
        for (i, attr) in attrs.iter().enumerate() {
            self.flush(attr.range.start);
            self.push("@");
            self.ident(&attr.name);
            if let Some(args) = &attr.args {
                self.push("(");
                self.join(args, Self::attribute_arg, ", ");
                self.close(attr.range, ")");
            }
            self.flush(attrs.get(i + 1).map_or(name_start, |next| next.range.start));
            // A line comment just printed already ends the line; the declaration starts at
            // column 0 either way (attributes are top level).
            if self.continuation.is_some() {
                self.continuation = Some(String::new());
            } else {
                self.newline();
            }
        }
    }

    fn attribute_arg(&mut self, arg: &ast::AttributeArg) {
        self.ident(&arg.key);
        self.push(" = ");
        self.expr(&arg.value);
    }

    fn ident(&mut self, id: &ast::Ident) {
        self.flush(id.range.start);
        self.push(&id.text);
    }

    /// ` = Base with A, B` after a schema or template name (nothing without a base).
    fn extends(&mut self, base: &Option<ast::Path>, mixins: &[ast::Path]) {
        let Some(base) = base else { return };
        self.push(" = ");
        self.path(base);
        for (i, m) in mixins.iter().enumerate() {
            self.push(if i == 0 { " with " } else { ", " });
            self.path(m);
        }
    }

    fn path(&mut self, path: &ast::Path) {
        for (i, segment) in path.segments.iter().enumerate() {
            if i > 0 {
                self.push(".");
            }
            self.ident(segment);
        }
    }

    fn clause(&mut self, clause: &ForClause) {
        self.push("for ");
        self.ident(&clause.first);
        if let Some(second) = &clause.second {
            self.push(", ");
            self.ident(second);
        }
        self.push(" in ");
        self.expr(&clause.source);
        if let Some(cond) = &clause.condition {
            self.push(" if ");
            self.expr(cond);
        }
    }

    // ---- Expressions -------------------------------------------------------------------------

    fn expr(&mut self, expr: &Expr) {
        self.flush(expr.range().start);
        let tail = std::mem::take(&mut self.tail);
        match expr {
            Expr::Int { value, range } => self.number(*range, &value.to_string()),
            Expr::Float { value, range } => self.number(*range, &value.0.to_string()),
            Expr::Bool { value, .. } => self.push(if *value { "true" } else { "false" }),
            Expr::Null { .. } => self.push("null"),
            Expr::Str(s) => self.string(s),
            Expr::Name(id) => self.ident(id),
            Expr::Field { base, field, .. } => {
                self.expr(base);
                self.push(".");
                self.ident(field);
            }
            Expr::Index { base, index, range } => {
                self.expr(base);
                self.push("[");
                self.expr(index);
                self.close(*range, "]");
            }
            Expr::Call { callee, args, range } => {
                self.expr(callee);
                self.push("(");
                self.join(args, Self::expr, ", ");
                self.close(*range, ")");
            }
            Expr::Unary { op, operand, .. } => {
                self.push(match op {
                    UnaryOp::Neg => "-",
                    UnaryOp::Not => "!",
                });
                self.expr(operand);
            }
            Expr::Binary { op, lhs, rhs, .. } => {
                self.expr(lhs);
                self.push(" ");
                self.push(BinaryOp::as_str(*op));
                self.push(" ");
                self.expr(rhs);
            }
            Expr::If { range, .. } => {
                if !self.try_inline(*range, tail, |p| p.if_expr(expr)) {
                    self.if_expr(expr);
                }
            }
            Expr::List { items, range } => self.list(items, *range, tail),
            Expr::ListComprehension { item, clause, range } => {
                let clause_text = self.scratch(true, true, |p| p.clause(clause));
                self.push("[");
                // The item decides its layout knowing that ` for ...]` follows on its last line.
                self.tail = clause_text.chars().count() + 2 + tail;
                self.expr(item);
                self.tail = 0;
                self.push(" ");
                self.clause(clause);
                self.close(*range, "]");
            }
            Expr::Object { entries, range } => self.entries(range.start, *range, entries, tail),
            Expr::Instantiate { path, entries, body_range, .. } => {
                self.path(path);
                self.push(" ");
                self.entries(body_range.start, *body_range, entries, tail);
            }
            Expr::Paren { inner, range } => {
                self.push("(");
                self.tail = tail + 1;
                self.expr(inner);
                self.tail = 0;
                self.close(*range, ")");
            }
            Expr::Error(range) => self.verbatim(*range),
        }
    }

    /// Writes the closing delimiter of the node covering `range`, after any comment before it.
    fn close(&mut self, range: TextRange, delimiter: &str) {
        self.flush(range.end.saturating_sub(1));
        self.push(delimiter);
    }

    /// Numbers keep their source spelling (minus any whitespace inside a folded `- 1`), so
    /// `1.5e3` stays `1.5e3`; the value is the fallback if the range is unusable.
    fn number(&mut self, range: TextRange, fallback: &str) {
        let spelled: String = self.source(range).chars().filter(|c| !c.is_whitespace()).collect();
        if spelled.is_empty() {
            self.push(fallback);
        } else {
            self.push(&spelled);
        }
    }

    /// `if c { a } else { b }`; in broken mode each branch sits on its own indented line and an
    /// `else if` chain continues on the closing brace's line.
    fn if_expr(&mut self, expr: &Expr) {
        let Expr::If { cond, then, otherwise, range } = expr else {
            self.expr(expr);
            return;
        };
        self.push("if ");
        self.expr(cond);
        let close = range.end.saturating_sub(1);
        let Some(otherwise) = otherwise else {
            // Without `else` the branch's closing brace ends the `if`.
            if !self.bare_branch(then, cond.range().end) {
                self.branch(then, close);
            }
            return;
        };
        // Comments between a branch's value and `else` are printed before its `}`.
        if !self.bare_branch(then, cond.range().end) {
            self.branch(then, otherwise.range().start);
        }
        self.push(" else");
        if matches!(**otherwise, Expr::If { .. }) {
            self.push(" ");
            self.if_expr(otherwise);
        } else if !self.bare_branch(otherwise, then.range().end) {
            self.branch(otherwise, close);
        }
    }

    /// An `emit if` branch written as bare entries (`{ a = 1 }` rather than `{ { a = 1 } }`)
    /// stays so: its object's braces are the branch's, so no `{` lies between what precedes the
    /// branch (`after`) and the object. Prints it and says so; a `{` inside a comment there only
    /// makes it print in the braced form, which means the same.
    fn bare_branch(&mut self, value: &Expr, after: u32) -> bool {
        let Expr::Object { range, .. } = value else { return false };
        if after > range.start || self.source(TextRange::new(after, range.start)).contains('{') {
            return false;
        }
        self.push(" ");
        self.expr(value);
        true
    }

    /// ` { value }`, or the value on its own indented line; comments before `close_at` are
    /// printed before the closing brace.
    fn branch(&mut self, value: &Expr, close_at: u32) {
        if self.flat {
            self.push(" { ");
            self.expr(value);
            self.push(" }");
        } else {
            self.push(" {");
            self.newline();
            self.indent += 1;
            self.write_indent();
            self.expr(value);
            self.flush(close_at);
            self.newline();
            self.indent -= 1;
            self.write_indent();
            self.push("}");
        }
    }

    fn list(&mut self, items: &[Expr], range: TextRange, tail: usize) {
        let key = range.start;
        if self.is_empty_block(key, items.len()) {
            self.push("[]");
            return;
        }
        let inline = |p: &mut Self| {
            p.push("[");
            p.join(items, Self::expr, ", ");
            p.push("]");
        };
        if self.try_inline(range, tail, inline) {
            return;
        }
        if let [only @ (Expr::Object { .. } | Expr::Instantiate { .. })] = items {
            let no_comments = self.comments.leading(key, 0).is_empty()
                && self.comments.trailing(key, 0).is_none()
                && self.comments.dangling(key).is_empty();
            if no_comments {
                self.push("[");
                self.tail = tail + 1;
                self.expr(only);
                self.tail = 0;
                self.push("]");
                return;
            }
        }
        self.broken(("[", "]"), key, items, Expr::range, Self::expr, Sep::Commas);
    }

    fn string(&mut self, s: &StringLit) {
        self.flush(s.range.start);
        self.push("\"");
        for part in &s.parts {
            match part {
                StrPart::Text { text, .. } => escape_str(text, &mut self.out),
                StrPart::Interp(expr) => {
                    self.push("${");
                    // Interpolations live on one line: a newline would end the string.
                    let was_flat = std::mem::replace(&mut self.flat, true);
                    self.expr(expr);
                    self.flat = was_flat;
                    self.push("}");
                }
            }
        }
        self.push("\"");
    }

    // ---- Types -------------------------------------------------------------------------------

    fn type_expr(&mut self, ty: &TypeExpr) {
        // Types are one-liners; expressions inside them (literal unions, bounds) stay flat.
        let was_flat = std::mem::replace(&mut self.flat, true);
        self.type_inner(ty);
        self.flat = was_flat;
    }

    fn type_inner(&mut self, ty: &TypeExpr) {
        self.flush(ty.range().start);
        match ty {
            TypeExpr::Named(path) => self.path(path),
            TypeExpr::Refined { base, args, range } => {
                self.type_inner(base);
                self.push("(");
                self.join(args, Self::refinement, ", ");
                self.close(*range, ")");
            }
            TypeExpr::List { item, range } => {
                self.push("[");
                self.type_inner(item);
                self.close(*range, "]");
            }
            TypeExpr::Map { key, value, range } => {
                self.push("{");
                self.type_inner(key);
                self.push(": ");
                self.type_inner(value);
                self.close(*range, "}");
            }
            TypeExpr::Optional { inner, range } => {
                self.type_inner(inner);
                self.close(*range, "?");
            }
            TypeExpr::LiteralUnion { members, .. } => self.join(members, Self::expr, " | "),
            TypeExpr::Union { members, .. } => self.join(members, Self::type_inner, " | "),
            TypeExpr::Error(range) => self.verbatim(*range),
        }
    }

    fn refinement(&mut self, refinement: &Refinement) {
        self.flush(refinement.range().start);
        match refinement {
            Refinement::Range { lo, hi, .. } => {
                if let Some(lo) = lo {
                    self.expr(lo);
                }
                self.push("..");
                if let Some(hi) = hi {
                    self.expr(hi);
                }
            }
            Refinement::Key { fields, .. } => {
                self.push("key(");
                self.join(fields, Self::ident, ", ");
                self.push(")");
            }
            Refinement::Unique { .. } => self.push("unique"),
            Refinement::Regex { pattern, range } => {
                // The source spelling is the only one guaranteed to lex back to the same
                // pattern (escapes inside regexes are the regex engine's business).
                let spelled = self.source(*range);
                if spelled.len() >= 2 && spelled.starts_with('/') && spelled.ends_with('/') {
                    self.push(spelled);
                } else {
                    self.push("/");
                    self.push(&pattern.replace('/', "\\/"));
                    self.push("/");
                }
            }
        }
    }
}
