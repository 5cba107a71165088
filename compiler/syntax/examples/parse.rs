//! Parses files given on the command line and prints the AST dump and diagnostics;
//! with `--bench`, prints parse throughput instead.

#![expect(clippy::disallowed_methods, reason = "a command-line tool: it reads its arguments and the files they name")]

use std::time::Instant;

use kdep_diag::render::{render_to_string, Sources};
use kdep_diag::FileId;

struct One<'a>(&'a str, &'a str);
impl Sources for One<'_> {
    fn path(&self, _: FileId) -> String {
        self.0.to_owned()
    }
    fn text(&self, _: FileId) -> &str {
        self.1
    }
}

/// Time this thread has spent on a CPU (Linux), so a busy machine does not skew the figure.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    for path in args.iter().filter(|a| !a.starts_with("--")) {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        if bench {
            // Parsing only: the trees are dropped outside the timed region.
            let runs = 5;
            let mut elapsed = std::time::Duration::ZERO;
            let mut on_cpu_ns = 0u64;
            let mut n_diags = 0;
            for _ in 0..runs {
                let cpu = thread_cpu_ns();
                let start = Instant::now();
                let parsed = kdep_syntax::parse(FileId(0), &text);
                elapsed += start.elapsed();
                on_cpu_ns += thread_cpu_ns().saturating_sub(cpu);
                n_diags = parsed.diagnostics.len();
                drop(parsed);
            }
            let secs = elapsed.as_secs_f64() / f64::from(runs);
            let mb = text.len() as f64 / 1e6;
            let cpu_secs = on_cpu_ns as f64 / 1e9 / f64::from(runs);
            println!(
                "{path}: {mb:.1} MB in {:.1} ms = {:.1} MB/s wall, {:.1} MB/s per CPU second ({n_diags} diagnostics)",
                secs * 1e3,
                mb / secs,
                if cpu_secs > 0.0 { mb / cpu_secs } else { f64::NAN }
            );
            continue;
        }
        let parse = kdep_syntax::parse(FileId(0), &text);
        print!("{}", kdep_syntax::dump::dump(&parse.file));
        for d in &parse.diagnostics {
            print!("{}", render_to_string(d, &One(path, &text)));
        }
    }
}
