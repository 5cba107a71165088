//! Unified diffs of two views of an object, as YAML, optionally coloured for a terminal.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

/// YAML text of an object for diffing (keys in the server's order).
pub fn to_yaml(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

/// A unified diff (`--- live` / `+++ kdep`, three lines of context) between two YAML texts;
/// empty when they are equal.
pub fn unified(old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    TextDiff::from_lines(old, new).unified_diff().context_radius(3).header("live", "kdep").to_string()
}

/// Colours a unified diff (or a `+`/`-` listing) for a terminal: additions green, removals
/// red, hunk headers cyan.
pub fn colour(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len() + diff.len() / 4);
    for line in diff.split_inclusive('\n') {
        let code = if line.starts_with("+++") || line.starts_with("---") {
            "\x1b[1m"
        } else if line.starts_with('+') {
            "\x1b[32m"
        } else if line.starts_with('-') {
            "\x1b[31m"
        } else if line.starts_with("@@") {
            "\x1b[36m"
        } else {
            out.push_str(line);
            continue;
        };
        let body = line.strip_suffix('\n');
        out.push_str(code);
        out.push_str(body.unwrap_or(line));
        out.push_str("\x1b[0m");
        if body.is_some() {
            out.push('\n');
        }
    }
    out
}

/// Every line of `text` prefixed with `+ ` (an object to create, shown whole).
pub fn all_added(text: &str) -> String {
    text.lines().map(|l| format!("+{l}\n")).collect()
}

/// Counts of changed lines, for summaries.
pub fn stats(old: &str, new: &str) -> (usize, usize) {
    let d = TextDiff::from_lines(old, new);
    let mut add = 0;
    let mut del = 0;
    for c in d.iter_all_changes() {
        match c.tag() {
            ChangeTag::Insert => add += 1,
            ChangeTag::Delete => del += 1,
            ChangeTag::Equal => {}
        }
    }
    (add, del)
}
