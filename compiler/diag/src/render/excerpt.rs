//! Long source lines cut down to windows around the labels before ariadne draws them.
//!
//! ariadne prints every labelled line whole, and its drawing work grows with the line's width,
//! so one diagnostic on a 200 KB single-line file printed 200 KB and took a second to draw. A
//! line longer than [`MAX_LINE_CHARS`] is therefore shown as windows of [`CONTEXT_CHARS`]
//! characters either side of each label start and end, with `…` where text was left out; the
//! output per diagnostic is then bounded by its number of labels, not by the input. Shorter
//! lines are passed through untouched, so ordinary reports are byte-identical to ariadne's.

/// Lines up to this many characters are shown whole.
pub const MAX_LINE_CHARS: usize = 160;
/// Characters kept on each side of a label boundary on a cut line.
pub const CONTEXT_CHARS: usize = 60;
/// A run shorter than this is kept: replacing a few characters by `…` hides code for nothing.
const MIN_CUT_CHARS: usize = 8;
/// What replaces each left-out run.
const ELLIPSIS: char = '…';

/// One run of a line replaced by [`ELLIPSIS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cut {
    /// Zero-based line of the cut.
    line: usize,
    /// Character offsets (in the whole original text) of the left-out run.
    start: usize,
    end: usize,
    /// Column of the `…` on the shown line, in characters.
    col: usize,
}

impl Cut {
    /// Characters the cut saves: the run minus the `…` standing in for it.
    fn saved(&self) -> usize {
        self.end - self.start - 1
    }
}

/// A file's text as shown in a report, and the map between its offsets and the original's.
#[derive(Debug)]
pub struct Excerpt {
    pub text: String,
    /// In text order.
    cuts: Vec<Cut>,
}

impl Excerpt {
    /// Cuts every line of `text` longer than [`MAX_LINE_CHARS`], keeping the characters around
    /// `points` (character offsets, e.g. label starts and ends) visible. A long line with no
    /// point keeps its start. Only `\n` ends a line, as for the rest of kdep.
    pub fn new(text: String, points: &[usize]) -> Excerpt {
        let mut points = points.to_vec();
        points.sort_unstable();
        if !text.split('\n').any(|line| line.len() > MAX_LINE_CHARS && line.chars().count() > MAX_LINE_CHARS) {
            return Excerpt { text, cuts: Vec::new() };
        }
        let mut out = String::with_capacity(text.len().min(1 << 16));
        let mut cuts = Vec::new();
        let mut line_start = 0usize;
        for (line_no, line) in text.split('\n').enumerate() {
            if line_no > 0 {
                out.push('\n');
            }
            let n_chars = line.chars().count();
            if n_chars <= MAX_LINE_CHARS {
                out.push_str(line);
            } else {
                let first = points.partition_point(|&p| p < line_start);
                let last = points.partition_point(|&p| p <= line_start + n_chars);
                let local: Vec<usize> =
                    points.get(first..last).unwrap_or_default().iter().map(|p| p - line_start).collect();
                cut_line(line, line_no, line_start, n_chars, &local, &mut out, &mut cuts);
            }
            // The `\n` counts as one character of the original text.
            line_start += n_chars + 1;
        }
        Excerpt { text: out, cuts }
    }

    pub fn is_cut(&self) -> bool {
        !self.cuts.is_empty()
    }

    /// The shown offset of original character offset `offset`; an offset inside a left-out run
    /// maps to its `…`.
    pub fn offset(&self, offset: usize) -> usize {
        let mut saved = 0;
        for cut in &self.cuts {
            if offset >= cut.end {
                saved += cut.saved();
            } else if offset > cut.start {
                return cut.start - saved;
            } else {
                break;
            }
        }
        offset - saved
    }

    /// The original column (zero-based, in characters) of shown column `col` on `line`.
    pub fn column(&self, line: usize, col: usize) -> usize {
        col + self.cuts.iter().filter(|c| c.line == line && c.col < col).map(Cut::saved).sum::<usize>()
    }
}

/// Appends the shown form of one long line: the windows around `points` (columns, sorted),
/// joined by `…`.
fn cut_line(
    line: &str,
    line_no: usize,
    line_start: usize,
    n_chars: usize,
    points: &[usize],
    out: &mut String,
    cuts: &mut Vec<Cut>,
) {
    let mut windows: Vec<(usize, usize)> = Vec::new();
    let wanted = if points.is_empty() { &[0][..] } else { points };
    for &p in wanted {
        let lo = p.saturating_sub(CONTEXT_CHARS);
        let hi = (p + CONTEXT_CHARS).min(n_chars);
        match windows.last_mut() {
            Some(last) if lo <= last.1 + MIN_CUT_CHARS => last.1 = last.1.max(hi),
            _ => windows.push((lo, hi)),
        }
    }
    // Runs at either end shorter than a cut stay too.
    if let Some(first) = windows.first_mut() {
        if first.0 < MIN_CUT_CHARS {
            first.0 = 0;
        }
    }
    if let Some(last) = windows.last_mut() {
        if n_chars - last.1 < MIN_CUT_CHARS {
            last.1 = n_chars;
        }
    }
    // Byte position of every character boundary, so windows given in characters can be sliced.
    let bounds: Vec<usize> = line.char_indices().map(|(i, _)| i).chain(std::iter::once(line.len())).collect();
    let byte = |col: usize| bounds.get(col).copied().unwrap_or(line.len());
    let mut col = 0; // shown column
    let mut prev_end = 0; // original column where the previous window ended
    for (lo, hi) in windows {
        if lo > prev_end {
            cuts.push(Cut { line: line_no, start: line_start + prev_end, end: line_start + lo, col });
            out.push(ELLIPSIS);
            col += 1;
        }
        out.push_str(line.get(byte(lo)..byte(hi)).unwrap_or_default());
        col += hi - lo;
        prev_end = hi;
    }
    if prev_end < n_chars {
        cuts.push(Cut { line: line_no, start: line_start + prev_end, end: line_start + n_chars, col });
        out.push(ELLIPSIS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lines_are_kept_whole() {
        let text = "let x = 1\nlet y = 2\n".to_owned();
        let excerpt = Excerpt::new(text.clone(), &[4, 14]);
        assert_eq!(excerpt.text, text);
        assert!(!excerpt.is_cut());
        assert_eq!(excerpt.offset(14), 14);
    }

    #[test]
    fn long_lines_keep_windows_around_points_and_offsets_map_both_ways() {
        let line = format!("{}X{}Y{}", "a".repeat(500), "b".repeat(500), "c".repeat(500));
        let text = format!("short\n{line}\nend\n");
        let x = 6 + 500;
        let y = x + 501;
        let excerpt = Excerpt::new(text.clone(), &[x, x + 1, y, y + 1]);
        let shown_line = excerpt.text.lines().nth(1).unwrap_or_default();
        // Two windows of a label's width plus its context on each side, and three `…`.
        assert_eq!(shown_line.chars().count(), 2 * (2 * CONTEXT_CHARS + 1) + 3, "{shown_line}");
        assert_eq!(shown_line.matches(ELLIPSIS).count(), 3, "{shown_line}");
        assert!(excerpt.text.starts_with("short\n…") && excerpt.text.ends_with("…\nend\n"));
        let shown_chars: Vec<char> = excerpt.text.chars().collect();
        assert_eq!(shown_chars.get(excerpt.offset(x)), Some(&'X'));
        assert_eq!(shown_chars.get(excerpt.offset(y)), Some(&'Y'));
        // The header column of `Y` is its column on the original line.
        let shown_col = excerpt.offset(y) - 6;
        assert_eq!(excerpt.column(1, shown_col), 1001);
        // Offsets after the long line shift by what was left out of it.
        assert_eq!(shown_chars.get(excerpt.offset(text.chars().count() - 4)), Some(&'e'));
    }

    #[test]
    fn a_long_line_without_points_keeps_its_start() {
        let excerpt = Excerpt::new("z".repeat(1000), &[]);
        assert_eq!(excerpt.text, format!("{}…", "z".repeat(CONTEXT_CHARS)));
    }

    #[test]
    fn multi_byte_characters_are_cut_on_boundaries() {
        let text = "é".repeat(400);
        let excerpt = Excerpt::new(text, &[200]);
        assert_eq!(excerpt.text, format!("…{}…", "é".repeat(2 * CONTEXT_CHARS)));
    }
}
