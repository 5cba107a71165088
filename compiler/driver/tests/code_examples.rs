//! The examples in the code explanations (`compiler/diag/codes/*.md`, shown by `kdep explain`)
//! are real kdep: each parses, and a syntax code's example reports that very code.

use kdep_compiler::diag::{Code, FileId, ALL_CODES};

/// The bodies of the ```` ```kdep ```` blocks of a Markdown page.
fn kdep_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match current.as_mut() {
            None if line.trim_end() == "```kdep" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    blocks
}

/// Syntax codes (K00xx) are the ones whose examples must fail to parse, with that code.
fn is_syntax_code(code: Code) -> bool {
    code.id.starts_with("K00")
}

#[test]
fn every_kdep_example_parses_or_shows_its_syntax_error() {
    let mut problems = Vec::new();
    let mut n_blocks = 0;
    for code in ALL_CODES {
        let Some(docs) = code.docs() else { continue };
        for block in kdep_blocks(docs) {
            n_blocks += 1;
            let parse = kdep_syntax::parse(FileId(0), &block);
            let found: Vec<&str> = parse.diagnostics.iter().map(|d| d.code.id).collect();
            if is_syntax_code(*code) {
                if !found.contains(&code.id) {
                    problems.push(format!(
                        "{}: the example should report {} but reports {found:?}:\n{block}",
                        code.id, code.id
                    ));
                }
            } else if !found.is_empty() {
                problems.push(format!("{}: the example does not parse ({found:?}):\n{block}", code.id));
            }
        }
    }
    assert!(n_blocks > 40, "found only {n_blocks} examples; is the fence still ```kdep?");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
