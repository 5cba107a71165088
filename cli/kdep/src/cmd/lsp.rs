//! `kdep lsp`: the language server, over stdio. All of it lives in `kdep-lsp`; this only starts it.

use clap::Args;

use super::{Ctx, Exit};
use crate::fs::OsFs;

/// Run the language server on stdin/stdout, for editors (setup: docs/editor.md)
///
/// Diagnostics are those of `kdep check`, while typing; also hover, completion, go to
/// definition, references, rename, symbols, formatting, quick fixes, inlay hints and a code
/// lens showing each app's manifests. VS Code, Neovim and Helix start it as `kdep lsp`.
#[derive(Debug, Args)]
pub struct LspArgs {
    /// Accepted for editors that pass it (VS Code's language client does); stdio is the only
    /// transport.
    #[arg(long)]
    stdio: bool,
}

impl LspArgs {
    pub fn run(self, _ctx: &Ctx) -> Exit {
        let _ = self.stdio;
        kdep_lsp::run_stdio(Box::new(OsFs));
        Exit::Success
    }
}
