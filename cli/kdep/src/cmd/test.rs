//! `kdep test`: run the package's `test` declarations, print pass/fail per test with the failed
//! assertion's sub-values, and optionally write a JUnit XML report for CI.

use std::path::PathBuf;

use clap::Args;
use kdep_compiler::testing::Outcome;
use kdep_compiler::TestReport;

use super::{load_workspace, Ctx, Exit};
use crate::report::{self, MessageFormat};

/// Run the package's tests (`test "name" { ... }` declarations).
///
/// A test's `let`s and `assert`s run in order in the scope of its module; `build("production")`
/// gives the objects `kdep build --env production` emits. An `expect_error CODE { ... }` block
/// passes when its declarations do not compile and one of their errors has that code.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kdep test examples/platform-and-teams/shop
  kdep test --filter locked --junit target/kdep-tests.xml

Exit codes: 0 every selected test passed (or none is selected); 1 a test failed or could not
run, or the package does not compile; 2 usage and I/O problems (bad --filter, unwritable report).")]
pub struct TestArgs {
    /// Package folder, or a file inside it. Defaults to the current directory.
    path: Option<PathBuf>,
    /// Run only the tests whose name matches this regular expression (unanchored search).
    #[arg(long, value_name = "RE")]
    filter: Option<String>,
    /// Also write a JUnit XML report to this file (atomically).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

impl TestArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let filter = match self.filter.as_deref().map(regex::Regex::new).transpose() {
            Ok(f) => f,
            Err(e) => {
                report::print_error(format!("--filter is not a valid regular expression: {e}"), None);
                return Exit::Usage;
            }
        };
        let ws = match load_workspace(self.path.as_deref()) {
            Ok(ws) => ws,
            Err(code) => return code,
        };
        let sources = ws.sources(ctx.cwd.as_deref());
        // Tests inspect a compiled package: report its errors first, as `cargo test` does.
        let diags = ws.check_without_tests();
        if kdep_compiler::diag::has_errors(&diags) {
            let mut stderr = std::io::stderr().lock();
            let _ = report::print_diagnostics(&diags, &sources, MessageFormat::Human, ctx.color, &mut stderr);
            report::print_error("the package does not compile, so its tests cannot run", None);
            return Exit::SourceErrors;
        }
        let reports = ws.run_tests(&|name| filter.as_ref().is_none_or(|re| re.is_match(name)));
        let mut out = String::new();
        out.push_str(&format!(
            "running {} test{} of package `{}`\n",
            reports.len(),
            if reports.len() == 1 { "" } else { "s" },
            ws.package_name()
        ));
        for r in &reports {
            let verdict = match r.outcome {
                Outcome::Passed => "ok",
                Outcome::Failed { .. } => "FAILED",
                Outcome::Errored(_) => "ERROR",
            };
            out.push_str(&format!("test {} \"{}\" ... {verdict}\n", r.module, r.name));
        }
        let failed: Vec<&TestReport> = reports.iter().filter(|r| r.outcome != Outcome::Passed).collect();
        if !failed.is_empty() {
            out.push_str("\nfailures:\n");
        }
        print!("{out}");
        for r in &failed {
            println!("\n---- {} \"{}\" ----", r.module, r.name);
            match &r.outcome {
                Outcome::Failed { at, message, details } => {
                    let (path, line, col) = super::explain::location(&sources, *at);
                    let written = sources_text(&sources, *at);
                    println!("{message}\n  at {path}:{line}:{col}: {written}");
                    for line in details {
                        println!("    {line}");
                    }
                }
                Outcome::Errored(diags) => {
                    println!("the test could not run:");
                    for d in diags {
                        let at = d.primary.as_ref().map_or(String::new(), |p| {
                            let (path, line, col) = super::explain::location(&sources, p.span);
                            format!(" at {path}:{line}:{col}")
                        });
                        println!("  [{}] {}{at}", d.code.id, d.message);
                    }
                    // The full reports, with source excerpts, go to stderr like every diagnostic.
                    let mut stderr = std::io::stderr().lock();
                    let _ = report::print_diagnostics(diags, &sources, MessageFormat::Human, ctx.color, &mut stderr);
                }
                Outcome::Passed => {}
            }
        }
        let n_failed = reports.iter().filter(|r| matches!(r.outcome, Outcome::Failed { .. })).count();
        let n_errors = reports.iter().filter(|r| matches!(r.outcome, Outcome::Errored(_))).count();
        let n_passed = reports.len() - n_failed - n_errors;
        println!(
            "\ntest result: {}. {n_passed} passed; {n_failed} failed; {n_errors} errored",
            if failed.is_empty() { "ok" } else { "FAILED" }
        );
        if let Some(path) = &self.junit {
            let xml = junit(ws.package_name(), &reports, &sources);
            if let Err(e) = crate::fs::write_atomic(path, xml.as_bytes()) {
                report::print_error(format!("cannot write `{}`: {e}", path.display()), None);
                return Exit::Usage;
            }
        }
        super::release_at_exit(ws);
        if failed.is_empty() {
            Exit::Success
        } else {
            Exit::SourceErrors
        }
    }
}

/// The source text of a span, on one line.
fn sources_text(sources: &dyn kdep_compiler::diag::render::Sources, span: kdep_compiler::diag::Span) -> String {
    let span = sources.resolve(span);
    let text = sources.text(span.file).get(span.range.as_usize_range()).unwrap_or_default();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no way to write other control characters.
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A JUnit XML report (the subset GitLab, Jenkins and GitHub reporters read): one suite per
/// package, one case per test, `classname` the module. No timings, so the same sources give the
/// same bytes.
fn junit(package: &str, reports: &[TestReport], sources: &dyn kdep_compiler::diag::render::Sources) -> String {
    let failures = reports.iter().filter(|r| matches!(r.outcome, Outcome::Failed { .. })).count();
    let errors = reports.iter().filter(|r| matches!(r.outcome, Outcome::Errored(_))).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let head = format!("tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\"", reports.len());
    out.push_str(&format!("<testsuites name=\"kdep\" {head}>\n"));
    out.push_str(&format!("  <testsuite name=\"{}\" {head}>\n", xml_escape(package)));
    for r in reports {
        let (_, line, _) = super::explain::location(sources, r.span);
        let case = format!(
            "    <testcase name=\"{}\" classname=\"{}\" file=\"{}\" line=\"{line}\"",
            xml_escape(&r.name),
            xml_escape(&r.module.trim_end_matches(".kdep").replace('/', ".")),
            xml_escape(&r.module)
        );
        match &r.outcome {
            Outcome::Passed => out.push_str(&format!("{case}/>\n")),
            Outcome::Failed { at, message, details } => {
                let (path, line, col) = super::explain::location(sources, *at);
                let mut body = format!("{path}:{line}:{col}: {}\n", sources_text(sources, *at));
                for line in details {
                    body.push_str(line);
                    body.push('\n');
                }
                out.push_str(&format!(
                    "{case}>\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml_escape(message),
                    xml_escape(&body)
                ));
            }
            Outcome::Errored(diags) => {
                let body: Vec<String> = diags.iter().map(|d| format!("[{}] {}", d.code.id, d.message)).collect();
                out.push_str(&format!(
                    "{case}>\n      <error message=\"the test could not run\">{}</error>\n    </testcase>\n",
                    xml_escape(&body.join("\n"))
                ));
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
