//! `kdep explain CODE`: print the long explanation of a diagnostic code.

use clap::Args;
use kdep_compiler::diag::{Code, ALL_CODES};

use super::{Ctx, Exit};
use crate::report;

/// Explain a diagnostic code (`K0301` or `locked-override`), or list all codes.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The code, by id or name. Omit to list every code.
    code: Option<String>,
}

impl ExplainArgs {
    pub fn run(self, _ctx: &Ctx) -> Exit {
        let Some(key) = self.code else {
            for code in ALL_CODES {
                println!("{}  {:<24} {}", code.id, code.name, code.summary);
            }
            return Exit::Success;
        };
        let Some(code) = Code::lookup(&key) else {
            report::print_error(
                format!("unknown diagnostic code `{key}`"),
                Some("run `kdep explain` to list every code"),
            );
            return Exit::Usage;
        };
        match code.docs() {
            Some(text) => print!("{text}"),
            None => println!("{} ({}): {}", code.id, code.name, code.summary),
        }
        Exit::Success
    }
}
