//! Attaches every comment to a slot of the tree (leading, trailing or dangling) for the printer.
//!
//! A *block* is anything the printer lays out one child per line: the file (items), template and
//! schema bodies (members), app bodies, `in` blocks, environment bodies, object literals and
//! instantiations (entries) and list literals (items). Each block is identified by a key, the
//! start offset of its range ([`FILE_KEY`] for the file), which is unique because no two blocks
//! start at the same token.
//!
//! A comment belongs to the innermost block whose range contains it. Inside that block it is
//! - inline when it lies inside a child (between `a +` and `b`, inside a type or a key path):
//!   the printer writes it in place, before the next node or closing delimiter it reaches, and
//!   continues the construct on the next line. Moving it out of the child instead could put it
//!   between a `///` doc and its declaration, which detaches the doc;
//! - trailing for the child that ends before it on the same line;
//! - leading for the next child;
//! - otherwise dangling at the end of the block.
//!
//! Blocks inside type expressions are deliberately not registered: they cannot hold objects or
//! lists anyway. Interpolations cannot hold comments (a newline ends the string).

use std::collections::HashMap;

use kdep_diag::TextRange;

use crate::ast::{self, Entry, Expr, InstanceEntry, Item, Member};

/// The key of the file's top-level block.
pub(super) const FILE_KEY: u32 = u32::MAX;

pub(super) struct Comments<'a> {
    text: &'a str,
    ranges: Vec<TextRange>,
    leading: HashMap<(u32, usize), Vec<usize>>,
    trailing: HashMap<(u32, usize), usize>,
    dangling: HashMap<u32, Vec<usize>>,
    /// Comments printed in place, in source order.
    inline: Vec<usize>,
}

struct Block {
    key: u32,
    range: TextRange,
    children: Vec<TextRange>,
}

impl<'a> Comments<'a> {
    pub(super) fn new(text: &'a str, parse: &crate::Parse) -> Self {
        let mut blocks = Vec::new();
        collect_file(&parse.file, text, &mut blocks);
        let mut ranges: Vec<TextRange> = parse.comments.iter().map(|c| c.range).collect();
        ranges.sort_by_key(|r| (r.start, r.end));
        let mut res = Comments {
            text,
            ranges,
            leading: HashMap::new(),
            trailing: HashMap::new(),
            dangling: HashMap::new(),
            inline: Vec::new(),
        };
        for idx in 0..res.ranges.len() {
            let Some(range) = res.ranges.get(idx).copied() else { continue };
            res.attach(idx, range, &blocks);
        }
        res
    }

    fn attach(&mut self, idx: usize, comment: TextRange, blocks: &[Block]) {
        let pos = comment.start;
        // Blocks nest properly, so the smallest one containing the comment is the innermost.
        // The file block covers everything, so a comment always finds a home.
        let Some(block) = blocks.iter().filter(|b| contains(b.range, pos)).min_by_key(|b| b.range.len()) else {
            self.dangling.entry(FILE_KEY).or_default().push(idx);
            return;
        };
        if block.children.iter().any(|c| contains(*c, pos)) {
            self.inline.push(idx);
            return;
        }
        let prev = block.children.iter().rposition(|c| c.end <= pos);
        if let Some(i) = prev {
            let same_line = block.children.get(i).and_then(|c| self.text.get(c.end as usize..pos as usize));
            if same_line.is_some_and(|gap| !gap.contains('\n')) && !self.trailing.contains_key(&(block.key, i)) {
                self.trailing.insert((block.key, i), idx);
                return;
            }
        }
        let next = prev.map_or(0, |i| i + 1);
        if next < block.children.len() {
            self.leading.entry((block.key, next)).or_default().push(idx);
        } else {
            self.dangling.entry(block.key).or_default().push(idx);
        }
    }

    pub(super) fn range(&self, idx: usize) -> TextRange {
        self.ranges.get(idx).copied().unwrap_or_default()
    }

    /// The comment's source text without trailing whitespace (a `\r` before the newline, say).
    pub(super) fn text(&self, idx: usize) -> &'a str {
        self.text.get(self.range(idx).as_usize_range()).unwrap_or("").trim_end()
    }

    pub(super) fn leading(&self, key: u32, child: usize) -> &[usize] {
        self.leading.get(&(key, child)).map_or(&[], Vec::as_slice)
    }

    pub(super) fn trailing(&self, key: u32, child: usize) -> Option<usize> {
        self.trailing.get(&(key, child)).copied()
    }

    pub(super) fn dangling(&self, key: u32) -> &[usize] {
        self.dangling.get(&key).map_or(&[], Vec::as_slice)
    }

    /// The comments printed in place, in source order.
    pub(super) fn inline(&self) -> &[usize] {
        &self.inline
    }

    /// `true` when a comment starts inside `range`: then nothing in `range` may be put on one
    /// line. Comments never move across the boundaries of an inline-able node (they stay in
    /// their block, or in place), so this answer is the same when the output is formatted again.
    pub(super) fn any_within(&self, range: TextRange) -> bool {
        let first = self.ranges.partition_point(|c| c.start < range.start);
        self.ranges.get(first).is_some_and(|c| c.start < range.end)
    }
}

fn contains(range: TextRange, pos: u32) -> bool {
    range.start <= pos && pos < range.end
}

fn collect_file(file: &ast::File, text: &str, out: &mut Vec<Block>) {
    // The file block spans the whole text, whatever range the parser gave the file node, so
    // comments before the first or after the last item are attached too.
    let whole = TextRange::from_usize(0, text.len()).cover(file.range);
    out.push(Block { key: FILE_KEY, range: whole, children: file.items.iter().map(Item::range).collect() });
    for item in &file.items {
        collect_item(item, out);
    }
}

fn collect_item(item: &Item, out: &mut Vec<Block>) {
    match item {
        Item::Import(_) | Item::Error(_) => {}
        Item::Let(it) => collect_expr(&it.value, out),
        Item::Fn(it) => collect_expr(&it.body, out),
        Item::Schema(it) => collect_members(it.body_range, &it.members, out),
        Item::Template(it) => collect_members(it.body_range, &it.members, out),
        Item::App(it) => {
            let children = it.body.iter().map(instance_entry_range).collect();
            out.push(Block { key: it.body_range.start, range: it.body_range, children });
            for entry in &it.body {
                match entry {
                    InstanceEntry::Set(entry) => collect_entry(entry, out),
                    InstanceEntry::InEnv(block) => collect_entries(block.range, &block.entries, out),
                    InstanceEntry::Waive(_) => {}
                }
            }
        }
        Item::Environment(it) => collect_entries(it.body_range, &it.entries, out),
        Item::Policy(it) => collect_entries(it.body_range, &it.entries, out),
        Item::Test(it) => {
            let children = it.members.iter().map(crate::ast::TestMember::range).collect();
            out.push(Block { key: it.body_range.start, range: it.body_range, children });
            for member in &it.members {
                match member {
                    crate::ast::TestMember::Let(l) => collect_expr(&l.value, out),
                    crate::ast::TestMember::Assert(a) => collect_expr(&a.condition, out),
                    // Items nest only through `expect_error`, whose braces the parser's nesting
                    // limit counts, so this recursion is bounded.
                    crate::ast::TestMember::ExpectError(b) => {
                        let children = b.items.iter().map(Item::range).collect();
                        out.push(Block { key: b.body_range.start, range: b.body_range, children });
                        b.items.iter().for_each(|i| collect_item(i, out));
                    }
                    crate::ast::TestMember::Error(_) => {}
                }
            }
        }
    }
}

pub(super) fn instance_entry_range(entry: &InstanceEntry) -> TextRange {
    match entry {
        InstanceEntry::Set(entry) => entry.range(),
        InstanceEntry::InEnv(block) => block.range,
        InstanceEntry::Waive(w) => w.range,
    }
}

fn collect_members(body: TextRange, members: &[Member], out: &mut Vec<Block>) {
    out.push(Block { key: body.start, range: body, children: members.iter().map(Member::range).collect() });
    for member in members {
        match member {
            Member::Field(it) => {
                if let Some(value) = &it.default {
                    collect_expr(value, out);
                }
            }
            Member::Let(it) => collect_expr(&it.value, out),
            Member::Check(it) => collect_expr(&it.condition, out),
            Member::Emit(it) => collect_expr(&it.value, out),
            Member::Error(_) => {}
        }
    }
}

fn collect_entries(body: TextRange, entries: &[Entry], out: &mut Vec<Block>) {
    out.push(Block { key: body.start, range: body, children: entries.iter().map(Entry::range).collect() });
    for entry in entries {
        collect_entry(entry, out);
    }
}

fn collect_entry(entry: &Entry, out: &mut Vec<Block>) {
    match entry {
        // Keys hold no blocks; a comment inside a key path is printed in place.
        Entry::Field(it) => collect_expr(&it.value, out),
        Entry::Comprehension(it) => {
            collect_expr(&it.key, out);
            collect_expr(&it.value, out);
            collect_clause(&it.clause, out);
        }
        Entry::Error(_) => {}
    }
}

fn collect_clause(clause: &ast::ForClause, out: &mut Vec<Block>) {
    collect_expr(&clause.source, out);
    if let Some(cond) = &clause.condition {
        collect_expr(cond, out);
    }
}

fn collect_expr(expr: &Expr, out: &mut Vec<Block>) {
    match expr {
        Expr::Int { .. }
        | Expr::Float { .. }
        | Expr::Bool { .. }
        | Expr::Null { .. }
        | Expr::Str(_)
        | Expr::Name(_)
        | Expr::Error(_) => {}
        Expr::Field { base, .. } => collect_expr(base, out),
        Expr::Index { base, index, .. } => {
            collect_expr(base, out);
            collect_expr(index, out);
        }
        Expr::Call { callee, args, .. } => {
            collect_expr(callee, out);
            for arg in args {
                collect_expr(arg, out);
            }
        }
        Expr::Unary { operand, .. } => collect_expr(operand, out),
        Expr::Binary { lhs, rhs, .. } => {
            collect_expr(lhs, out);
            collect_expr(rhs, out);
        }
        Expr::If { cond, then, otherwise, .. } => {
            collect_expr(cond, out);
            collect_expr(then, out);
            if let Some(otherwise) = otherwise {
                collect_expr(otherwise, out);
            }
        }
        Expr::List { items, range } => {
            out.push(Block { key: range.start, range: *range, children: items.iter().map(Expr::range).collect() });
            for item in items {
                collect_expr(item, out);
            }
        }
        Expr::ListComprehension { item, clause, .. } => {
            collect_expr(item, out);
            collect_clause(clause, out);
        }
        Expr::Object { entries, range } => collect_entries(*range, entries, out),
        Expr::Instantiate { entries, body_range, .. } => collect_entries(*body_range, entries, out),
        Expr::Paren { inner, .. } => collect_expr(inner, out),
    }
}
