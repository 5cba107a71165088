//! Renderers: terminal reports through ariadne, and a versioned JSON document for CI.

use std::collections::{BTreeMap, HashMap};
use std::io;

use ariadne::{Color, Config, IndexType, Label as AriadneLabel, Report, ReportKind};
use serde_json::{json, Value};

use crate::{Diagnostic, FileId, LineIndex, Severity};
use excerpt::Excerpt;

mod excerpt;

/// Gives renderers the display path and text of a file.
pub trait Sources {
    /// The path shown to users (relative to the working directory where possible).
    fn path(&self, file: FileId) -> String;
    fn text(&self, file: FileId) -> &str;

    /// `span` in file offsets. Positions inside declarations can be anchored (relative to their
    /// declaration, see [`crate::anchor`]); the compiler resolves them where they leave it, so
    /// renderers only meet file offsets. Sources that can resolve (the driver's) do so for
    /// spans a caller keeps from the compiler's values (provenance).
    fn resolve(&self, span: crate::Span) -> crate::Span {
        span
    }
}

/// `diag` with every range in file offsets (see [`Sources::resolve`]); borrowed when it is.
fn resolved<'d>(diag: &'d Diagnostic, sources: &dyn Sources) -> std::borrow::Cow<'d, Diagnostic> {
    if !diag.has_anchored_ranges() {
        return std::borrow::Cow::Borrowed(diag);
    }
    // Reaching here means an exit of the compiler forgot to resolve: tests fail on it.
    debug_assert!(false, "a diagnostic with anchored ranges reached the renderer: {diag:?}");
    let mut owned = diag.clone();
    owned.map_ranges(&mut |file, range| sources.resolve(crate::Span::new(file, range)).range);
    std::borrow::Cow::Owned(owned)
}

/// Options for terminal rendering.
#[derive(Clone, Copy, Debug)]
pub struct RenderConfig {
    pub color: bool,
    /// At most this many diagnostics are rendered; a summary line counts the rest.
    pub max_diagnostics: usize,
}

impl Default for RenderConfig {
    fn default() -> Self {
        RenderConfig { color: false, max_diagnostics: 100 }
    }
}

/// Renders diagnostics for a terminal, followed by a summary line.
pub fn render_terminal(
    diags: &[Diagnostic],
    sources: &dyn Sources,
    config: RenderConfig,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    for diag in diags.iter().take(config.max_diagnostics) {
        render_one(diag, sources, config, out)?;
    }
    if diags.len() > config.max_diagnostics {
        writeln!(out, "... and {} more diagnostics not shown", diags.len() - config.max_diagnostics)?;
    }
    let (errors, warnings) = count(diags);
    if errors > 0 || warnings > 0 {
        writeln!(out, "{}", summary_line(errors, warnings))?;
    }
    Ok(())
}

/// Renders one diagnostic to a string without colour (used by snapshot tests).
pub fn render_to_string(diag: &Diagnostic, sources: &dyn Sources) -> String {
    let mut buf = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = render_one(diag, sources, RenderConfig::default(), &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn count(diags: &[Diagnostic]) -> (usize, usize) {
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = diags.iter().filter(|d| d.severity == Severity::Warning).count();
    (errors, warnings)
}

fn summary_line(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, w) => format!("{} emitted", plural(w, "warning")),
        (e, 0) => format!("{} emitted", plural(e, "error")),
        (e, w) => format!("{} and {} emitted", plural(e, "error"), plural(w, "warning")),
    }
}

fn render_one(
    diag: &Diagnostic,
    sources: &dyn Sources,
    config: RenderConfig,
    out: &mut dyn io::Write,
) -> io::Result<()> {
    let diag = &*resolved(diag, sources);
    let kind = match diag.severity {
        Severity::Error => ReportKind::Error,
        Severity::Warning => ReportKind::Warning,
        Severity::Note => ReportKind::Advice,
    };
    let Some(primary) = &diag.primary else {
        // No location: a plain header plus help lines, in the same shape as located reports.
        let kind = match diag.severity {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
            Severity::Note => "Advice",
        };
        writeln!(out, "[{}] {kind}: {}", diag.code.id, diag.message)?;
        for help in &diag.help {
            writeln!(out, "    Help: {help}")?;
        }
        for note in &diag.notes {
            writeln!(out, "    Note: {note}")?;
        }
        return Ok(());
    };

    // Ranges are converted to character offsets here: ariadne 0.6 mixes character and byte
    // offsets when it prints the `file:line:col` header of a secondary file in byte mode, which
    // shifts columns after any multi-byte character.
    let char_range = |label: &crate::Label| {
        let text = sources.text(label.span.file);
        let start = char_offset(text, label.span.range.start as usize);
        let end = char_offset(text, label.span.range.end as usize).max(start);
        start..end
    };
    let mut all_labels: Vec<&crate::Label> = vec![primary];
    all_labels.extend(&diag.secondary);
    let ranges: Vec<std::ops::Range<usize>> = all_labels.iter().map(|l| char_range(l)).collect();
    let mut excerpts: BTreeMap<FileId, (String, Excerpt)> = BTreeMap::new();
    for label in &all_labels {
        let file = label.span.file;
        if excerpts.contains_key(&file) {
            continue;
        }
        let points: Vec<usize> = all_labels
            .iter()
            .zip(&ranges)
            .filter(|(l, _)| l.span.file == file)
            .flat_map(|(_, r)| [r.start, r.end])
            .collect();
        let excerpt = Excerpt::new(visible_line_breaks(sources.text(file)), &points);
        excerpts.insert(file, (sources.path(file), excerpt));
    }
    let span_of = |label: &crate::Label, range: &std::ops::Range<usize>| {
        let file = label.span.file;
        match excerpts.get(&file) {
            Some((path, excerpt)) => (path.clone(), excerpt.offset(range.start)..excerpt.offset(range.end)),
            None => (sources.path(file), range.clone()),
        }
    };
    let ariadne_config = Config::default().with_color(config.color).with_index_type(IndexType::Char);
    let primary_range = ranges.first().cloned().unwrap_or_default();
    let mut builder = Report::build(kind, span_of(primary, &primary_range))
        .with_code(diag.code.id)
        .with_message(&diag.message)
        .with_config(ariadne_config);
    let primary_color = match diag.severity {
        Severity::Error => Color::Red,
        Severity::Warning => Color::Yellow,
        Severity::Note => Color::Cyan,
    };
    // Labels are ordered with the primary's file first and by position within each file:
    // ariadne starts a new excerpt (headed with the primary's position) whenever a label's line
    // goes backwards, which would show a wrong line number above a label placed earlier in the
    // same file.
    let mut labels: Vec<(&crate::Label, &std::ops::Range<usize>, Color)> = all_labels
        .iter()
        .zip(&ranges)
        .enumerate()
        .map(|(i, (l, r))| (*l, r, if i == 0 { primary_color } else { Color::Blue }))
        .collect();
    labels.sort_by_key(|(l, _, _)| (l.span.file != primary.span.file, l.span.file, l.span.range.start));
    for (order, (label, range, color)) in labels.into_iter().enumerate() {
        builder = builder.with_label(
            AriadneLabel::new(span_of(label, range))
                .with_message(&label.message)
                .with_color(color)
                .with_order(i32::try_from(order).unwrap_or(i32::MAX)),
        );
    }
    for help in &diag.help {
        builder = builder.with_help(help);
    }
    for note in &diag.notes {
        builder = builder.with_note(note);
    }

    let report = builder.finish();
    if !excerpts.values().any(|(_, e)| e.is_cut()) {
        let cache = ariadne::sources(excerpts.into_values().map(|(path, excerpt)| (path, excerpt.text)));
        return report.write(cache, out);
    }
    // ariadne numbers the columns of `file:line:col` headers on the cut text; put the
    // original columns back so the header still leads to the right place in an editor.
    let cut: Vec<(String, Excerpt)> = excerpts.into_values().collect();
    let mut buf = Vec::new();
    let cache = ariadne::sources(cut.iter().map(|(path, excerpt)| (path.clone(), excerpt.text.clone())));
    report.write(cache, &mut buf)?;
    let rendered = String::from_utf8_lossy(&buf);
    for line in rendered.split_inclusive('\n') {
        out.write_all(fix_header_column(line, &cut).as_bytes())?;
    }
    Ok(())
}

/// A report line with the column of its `[ path:line:col ]` header, if it is one, mapped from
/// the cut text back to the original.
fn fix_header_column(line: &str, excerpts: &[(String, Excerpt)]) -> String {
    let plain = strip_ansi(line);
    let trimmed = plain.trim_start();
    if !(trimmed.starts_with("╭─[") || trimmed.starts_with("├─[")) {
        return line.to_owned();
    }
    for (path, excerpt) in excerpts {
        let needle = format!(" {path}:");
        let Some(at) = line.find(&needle) else { continue };
        let rest_at = at + needle.len();
        let rest = line.get(rest_at..).unwrap_or_default();
        let Some((line_no, after)) = rest.split_once(':') else { continue };
        let col_len = after.bytes().take_while(u8::is_ascii_digit).count();
        let (Ok(line_no), Ok(col)) =
            (line_no.parse::<usize>(), after.get(..col_len).unwrap_or_default().parse::<usize>())
        else {
            continue;
        };
        let true_col = excerpt.column(line_no.saturating_sub(1), col.saturating_sub(1)) + 1;
        let col_at = rest_at + line_no.to_string().len() + 1;
        return format!(
            "{}{true_col}{}",
            line.get(..col_at).unwrap_or_default(),
            line.get(col_at + col_len..).unwrap_or_default()
        );
    }
    line.to_owned()
}

/// `text` without ANSI colour sequences (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The text ariadne shows: every line break other than `\n` and `\r\n` replaced by a visible
/// symbol. ariadne also ends lines at a lone `\r`, vertical tab, form feed, NEL, U+2028 and
/// U+2029, but the lexer, the JSON report and `kdep.dev/source` count only `\n`, so terminal
/// line numbers would disagree with them and code hidden in a comment would look live. Each
/// replacement is one character, so the character offsets of labels stay valid.
fn visible_line_breaks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\r' if chars.peek() != Some(&'\n') => '␍',
            '\x0B' => '␋',
            '\x0C' => '␌',
            '\u{85}' | '\u{2028}' | '\u{2029}' => '␤',
            c => c,
        });
    }
    out
}

/// Number of characters before byte `offset` (clamped to the text and to a char boundary).
fn char_offset(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    text.get(..offset).map_or(0, |prefix| prefix.chars().count())
}

/// Version of the JSON document; bumped only on incompatible changes.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// Renders diagnostics as one JSON document:
/// `{"version":1,"diagnostics":[...],"summary":{"errors":N,"warnings":N}}`.
pub fn render_json(diags: &[Diagnostic], sources: &dyn Sources) -> Value {
    let mut indexes = IndexCache { sources, files: HashMap::new() };
    let items: Vec<Value> = diags.iter().map(|d| diagnostic_json(d, &mut indexes)).collect();
    let (errors, warnings) = count(diags);
    json!({
        "version": JSON_FORMAT_VERSION,
        "diagnostics": items,
        "summary": { "errors": errors, "warnings": warnings },
    })
}

/// Each file's text and line index, built once per document: a package can produce tens of
/// thousands of diagnostics, and indexing the file again for each label made JSON output
/// quadratic in the file size.
struct IndexCache<'a> {
    sources: &'a dyn Sources,
    files: HashMap<FileId, (&'a str, LineIndex)>,
}

impl IndexCache<'_> {
    fn line_cols(&mut self, file: FileId, start: u32, end: u32) -> (crate::LineCol, crate::LineCol) {
        let sources = self.sources;
        let (text, index) = self.files.entry(file).or_insert_with(|| {
            let text = sources.text(file);
            (text, LineIndex::new(text))
        });
        (index.line_col(text, start), index.line_col(text, end))
    }
}

fn diagnostic_json(diag: &Diagnostic, indexes: &mut IndexCache<'_>) -> Value {
    let sources = indexes.sources;
    let diag = &*resolved(diag, sources);
    let mut label_json = |label: &crate::Label| {
        let (start, end) = indexes.line_cols(label.span.file, label.span.range.start, label.span.range.end);
        json!({
            "file": sources.path(label.span.file),
            "byte_start": label.span.range.start,
            "byte_end": label.span.range.end,
            "line": start.line + 1,
            "column": start.col + 1,
            "end_line": end.line + 1,
            "end_column": end.col + 1,
            "message": label.message,
        })
    };
    let primary = diag.primary.as_ref().map(&mut label_json);
    let secondary: Vec<Value> = diag.secondary.iter().map(&mut label_json).collect();
    json!({
        "code": diag.code.id,
        "name": diag.code.name,
        "severity": diag.severity.as_str(),
        "message": diag.message,
        "primary": primary,
        "secondary": secondary,
        "help": diag.help,
        "notes": diag.notes,
        "fix": diag.fix.as_ref().map(|fix| json!({
            "title": fix.title,
            "edits": fix.edits.iter().map(|e| json!({
                "file": sources.path(e.span.file),
                "byte_start": e.span.range.start,
                "byte_end": e.span.range.end,
                "replacement": e.replacement,
            })).collect::<Vec<_>>(),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Code, Span, TextRange};

    struct Two;
    impl Sources for Two {
        fn path(&self, file: FileId) -> String {
            if file.0 == 0 {
                "teams/shop/checkout.kdep".into()
            } else {
                "platform/web.kdep".into()
            }
        }
        fn text(&self, file: FileId) -> &str {
            if file.0 == 0 {
                "app checkout = web.WebService {\n    port = 9090\n}\n"
            } else {
                // The em dash is three bytes: columns must still count characters.
                "// web — platform\ntemplate WebService {\n    locked port: int = 8080\n}\n"
            }
        }
    }

    fn sample() -> Diagnostic {
        Diagnostic::error(Code::LOCKED_OVERRIDE, "`port` is locked by template `platform.web.WebService`")
            .with_primary(Span::new(FileId(0), TextRange::new(36, 47)), "override not permitted here")
            .with_secondary(Span::new(FileId(1), TextRange::new(46, 52)), "locked here")
            .with_help("ask the owners of platform/web.kdep, or use a template that leaves `port` open")
    }

    #[test]
    fn terminal_report_names_both_files() {
        insta::assert_snapshot!(render_to_string(&sample(), &Two));
    }

    #[test]
    fn json_report_has_lines_and_columns() {
        insta::assert_json_snapshot!(render_json(&[sample()], &Two));
    }

    #[test]
    fn unlocated_report_has_the_same_header_shape() {
        let diag = Diagnostic::error(Code::ENVIRONMENT_NOT_FOUND, "environment `prod` is not declared")
            .with_help("declared environments: staging, production");
        assert_eq!(
            render_to_string(&diag, &Two),
            "[K0501] Error: environment `prod` is not declared\n    Help: declared environments: staging, production\n"
        );
    }

    /// Counts `text` calls, which stand for the per-file work a renderer does.
    struct Counting<'a> {
        text: &'a str,
        reads: std::cell::Cell<usize>,
    }
    impl Sources for Counting<'_> {
        fn path(&self, _: FileId) -> String {
            "big.kdep".into()
        }
        fn text(&self, _: FileId) -> &str {
            self.reads.set(self.reads.get() + 1);
            self.text
        }
    }

    #[test]
    fn json_report_indexes_each_file_once() {
        // Indexing the file again for every label made `check --format json` quadratic: 50k
        // duplicate `let`s in a 500 KB file did not finish in five minutes.
        let text = "let x = 1\n".repeat(1000);
        let sources = Counting { text: &text, reads: std::cell::Cell::new(0) };
        let diags: Vec<Diagnostic> = (0..1000u32)
            .map(|i| {
                Diagnostic::error(Code::DUPLICATE_DEFINITION, "`x` is defined twice")
                    .with_primary(Span::new(FileId(0), TextRange::new(i * 10 + 4, i * 10 + 5)), "again here")
                    .with_secondary(Span::new(FileId(0), TextRange::new(4, 5)), "first here")
            })
            .collect();
        let doc = render_json(&diags, &sources);
        assert_eq!(sources.reads.get(), 1);
        assert_eq!(doc.pointer("/diagnostics/999/primary/line"), Some(&json!(1000)));
        assert_eq!(doc.pointer("/diagnostics/999/primary/column"), Some(&json!(5)));
    }

    struct One(&'static str);
    impl Sources for One {
        fn path(&self, _: FileId) -> String {
            "main.kdep".into()
        }
        fn text(&self, _: FileId) -> &str {
            self.0
        }
    }

    #[test]
    fn terminal_and_json_agree_on_lines() {
        // Only `\n` ends a line for the lexer, `kdep.dev/source` and the JSON report; ariadne
        // also breaks lines at a lone `\r`, form feed, NEL and U+2028/9, so a lone `\r` inside a
        // comment moved every later diagnostic down a line in the terminal only (and showed the
        // commented-out rest as code).
        let text = "// a\rlet hidden = 1\u{2028}x\nlet x = $\n";
        let offset = u32::try_from(text.find('$').unwrap_or(0)).unwrap_or(0);
        let diag = Diagnostic::error(Code::INVALID_CHARACTER, "invalid character `$`")
            .with_primary(Span::new(FileId(0), TextRange::new(offset, offset + 1)), "no token starts with this");
        let json = render_json(std::slice::from_ref(&diag), &One(text));
        assert_eq!(json.pointer("/diagnostics/0/primary/line"), Some(&json!(2)));
        assert_eq!(json.pointer("/diagnostics/0/primary/column"), Some(&json!(9)));
        let rendered = render_to_string(&diag, &One(text));
        assert!(rendered.contains("main.kdep:2:9"), "{rendered}");
        let on_comment = diag.with_primary(Span::new(FileId(0), TextRange::new(0, 4)), "here");
        let rendered = render_to_string(&on_comment, &One(text));
        assert!(rendered.contains("// a␍let hidden = 1␤x"), "{rendered}");
    }

    #[test]
    fn labels_in_one_file_share_one_excerpt_with_true_line_numbers() {
        struct One;
        impl Sources for One {
            fn path(&self, _: FileId) -> String {
                "app.kdep".into()
            }
            fn text(&self, _: FileId) -> &str {
                "app one = Web {}\n\napp two = Web {}\n"
            }
        }
        let diag = Diagnostic::error(Code::DUPLICATE_OBJECT, "emitted twice")
            .with_primary(Span::new(FileId(0), TextRange::new(22, 25)), "emitted again here")
            .with_secondary(Span::new(FileId(0), TextRange::new(4, 7)), "first emitted here");
        let text = render_to_string(&diag, &One);
        assert_eq!(text.matches("app.kdep:").count(), 1, "{text}");
        assert!(text.contains("app.kdep:3:5"), "{text}");
    }

    /// A one-line file: `let xs = [1, 1, ..., 1]` with `$` at each of `bad` (indexes of items).
    fn one_long_line(n_items: usize, bad: &[usize]) -> String {
        let items: Vec<&str> = (0..n_items).map(|i| if bad.contains(&i) { "$" } else { "1" }).collect();
        format!("let xs = [{}]\n", items.join(", "))
    }

    fn invalid_chars(text: &str) -> Vec<Diagnostic> {
        text.match_indices('$')
            .map(|(i, _)| {
                let i = u32::try_from(i).unwrap_or(u32::MAX);
                Diagnostic::error(Code::INVALID_CHARACTER, "invalid character `$`")
                    .with_primary(Span::new(FileId(0), TextRange::new(i, i + 1)), "no token starts with this")
                    .with_secondary(Span::new(FileId(0), TextRange::new(9, 10)), "in this list")
            })
            .collect()
    }

    struct Owned(String);
    impl Sources for Owned {
        fn path(&self, _: FileId) -> String {
            "long.kdep".into()
        }
        fn text(&self, _: FileId) -> &str {
            &self.0
        }
    }

    #[test]
    fn long_lines_are_cut_around_the_labels() {
        // Item 150 starts at column 461 of the original line; the header must say so although
        // the excerpt shows the line cut to windows around both labels.
        let text = one_long_line(200, &[150]);
        let diags = invalid_chars(&text);
        let rendered = render_to_string(&diags[0], &Owned(text.clone()));
        assert!(rendered.contains("long.kdep:1:461"), "{rendered}");
        insta::assert_snapshot!(rendered);
        // Colour codes around the header's brackets do not hide it from the column fix.
        let mut coloured = Vec::new();
        let config = RenderConfig { color: true, ..RenderConfig::default() };
        render_terminal(&diags, &Owned(text), config, &mut coloured).expect("writes to a Vec");
        let coloured = String::from_utf8_lossy(&coloured);
        assert!(coloured.contains('\x1b') && coloured.contains("long.kdep:1:461"), "{coloured}");
    }

    #[test]
    fn a_200_kb_line_renders_in_small_output() {
        // Every diagnostic used to print the whole line, and ariadne's drawing work grows with
        // its width: a 200 KB one-line file took 24 s and printed 22 MB.
        let text = one_long_line(70_000, &[10, 35_000, 69_990]);
        assert!(text.len() > 200_000);
        let diags = invalid_chars(&text);
        assert_eq!(diags.len(), 3);
        let mut out = Vec::new();
        render_terminal(&diags, &Owned(text), RenderConfig::default(), &mut out).expect("writes to a Vec");
        let out = String::from_utf8_lossy(&out);
        assert!(out.len() < 10_000, "{} bytes:\n{out}", out.len());
        assert!(out.contains("long.kdep:1:105011"), "{out}");
    }

    #[test]
    fn summary_counts_are_pluralised() {
        assert_eq!(summary_line(1, 0), "1 error emitted");
        assert_eq!(summary_line(2, 1), "2 errors and 1 warning emitted");
        assert_eq!(summary_line(0, 3), "3 warnings emitted");
    }
}
