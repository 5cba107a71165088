//! Byte offset ↔ line/column conversion; used only by renderers (everything else speaks offsets).

/// A zero-based line and a zero-based column counted in Unicode scalar values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

/// Start offsets of every line of one text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineIndex {
    line_starts: Vec<u32>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(u32::try_from(i + 1).unwrap_or(u32::MAX));
            }
        }
        LineIndex { line_starts }
    }

    /// Line and column of `offset`; offsets past the end map to the last position.
    pub fn line_col(&self, text: &str, offset: u32) -> LineCol {
        let offset = offset.min(u32::try_from(text.len()).unwrap_or(u32::MAX));
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let col = text.get(start as usize..offset as usize).map_or(0, |s| s.chars().count());
        LineCol { line: u32::try_from(line).unwrap_or(u32::MAX), col: u32::try_from(col).unwrap_or(u32::MAX) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars_not_bytes() {
        let text = "ab\nçd\n";
        let idx = LineIndex::new(text);
        assert_eq!(idx.line_col(text, 0), LineCol { line: 0, col: 0 });
        assert_eq!(idx.line_col(text, 3), LineCol { line: 1, col: 0 });
        // `ç` is two bytes; offset 5 is `d`, the second character of line 1.
        assert_eq!(idx.line_col(text, 5), LineCol { line: 1, col: 1 });
        assert_eq!(idx.line_col(text, 99), LineCol { line: 2, col: 0 });
    }
}
