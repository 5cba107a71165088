//! Conversions between the compiler's byte offsets and the protocol's UTF-16 positions, and from
//! kdep diagnostics to protocol diagnostics. The only place that knows about UTF-16.

use kdep_diag::{Diagnostic, Severity, TextRange};
use tower_lsp_server::ls_types as lsp;

/// The protocol position (line, UTF-16 column) of byte `offset` in `text`; offsets past the
/// end or inside a character are clamped to the character's start.
pub fn position(text: &str, offset: u32) -> lsp::Position {
    let offset = (offset as usize).min(text.len());
    let before = text.get(..offset).unwrap_or_else(|| {
        let mut o = offset;
        while !text.is_char_boundary(o) {
            o -= 1;
        }
        text.get(..o).unwrap_or_default()
    });
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.bytes().filter(|b| *b == b'\n').count();
    let col: usize = before.get(line_start..).unwrap_or_default().chars().map(char::len_utf16).sum();
    lsp::Position { line: u32::try_from(line).unwrap_or(u32::MAX), character: u32::try_from(col).unwrap_or(u32::MAX) }
}

/// The byte offset of a protocol position; a column past the end of its line is the end of the
/// line, a line past the end of the text the end of the text.
pub fn offset(text: &str, pos: lsp::Position) -> u32 {
    let mut line_start = 0usize;
    for _ in 0..pos.line {
        match text.get(line_start..).and_then(|t| t.find('\n')) {
            Some(i) => line_start += i + 1,
            None => return u32::try_from(text.len()).unwrap_or(u32::MAX),
        }
    }
    let line = text.get(line_start..).unwrap_or_default();
    let line = line.split('\n').next().unwrap_or_default();
    let mut units = 0u32;
    let mut bytes = 0usize;
    for c in line.chars() {
        if units >= pos.character {
            break;
        }
        units += c.len_utf16() as u32;
        bytes += c.len_utf8();
    }
    u32::try_from(line_start + bytes).unwrap_or(u32::MAX)
}

pub fn range(text: &str, range: TextRange) -> lsp::Range {
    lsp::Range { start: position(text, range.start), end: position(text, range.end) }
}

/// A kdep diagnostic as the protocol shows it: the primary label's range (the start of the file
/// when it has none), the code with a link-free description, help and notes after the message,
/// secondary labels as related information. `location` maps a secondary label to a place.
pub fn diagnostic(
    text: &str,
    d: &Diagnostic,
    location: &dyn Fn(&kdep_diag::Span) -> Option<lsp::Location>,
) -> lsp::Diagnostic {
    let severity = match d.severity {
        Severity::Error => lsp::DiagnosticSeverity::ERROR,
        Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        Severity::Note => lsp::DiagnosticSeverity::INFORMATION,
    };
    let mut message = d.message.clone();
    if let Some(p) = d.primary.as_ref().filter(|p| !p.message.is_empty()) {
        message.push_str(&format!("\n{}", p.message));
    }
    for h in &d.help {
        message.push_str(&format!("\nhelp: {h}"));
    }
    for n in &d.notes {
        message.push_str(&format!("\nnote: {n}"));
    }
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .secondary
        .iter()
        .filter_map(|l| {
            Some(lsp::DiagnosticRelatedInformation { location: location(&l.span)?, message: l.message.clone() })
        })
        .collect();
    lsp::Diagnostic {
        range: d.primary.as_ref().map_or_else(lsp::Range::default, |p| range(text, p.span.range)),
        severity: Some(severity),
        code: Some(lsp::NumberOrString::String(d.code.id.to_owned())),
        code_description: None,
        source: Some("kdep".to_owned()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_positions_round_trip() {
        let text = "a\nhé😀x\n";
        // `x` is after `h`, `é` (1 unit) and the emoji (2 units).
        let x = text.find('x').expect("x is in the text") as u32;
        let pos = position(text, x);
        assert_eq!((pos.line, pos.character), (1, 4));
        assert_eq!(offset(text, pos), x);
        // Past the end of a line: the line's end; past the last line: the end of the text.
        assert_eq!(offset(text, lsp::Position { line: 0, character: 99 }), 1);
        assert_eq!(offset(text, lsp::Position { line: 9, character: 0 }), text.len() as u32);
        // Inside a character: its start.
        assert_eq!(position(text, 4), lsp::Position { line: 1, character: 1 });
    }
}
