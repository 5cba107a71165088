//! Printing diagnostics (terminal or JSON) and process-level errors, and choosing colours.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use kdep_compiler::diag::render::{self, RenderConfig, Sources};
use kdep_compiler::diag::Diagnostic;

/// `--color`
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    pub fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
            }
        }
    }
}

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// Rendered reports with source excerpts, for people.
    #[default]
    Human,
    /// One JSON document (`{"version":1,"diagnostics":[...],"summary":{...}}`), for CI.
    Json,
}

/// How a command prints its report (`explain`, `impact`): text for people, JSON for CI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Plain text.
    #[default]
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Prints diagnostics to stderr (human) or `json_out` (JSON).
pub fn print_diagnostics(
    diags: &[Diagnostic],
    sources: &dyn Sources,
    format: MessageFormat,
    color: ColorChoice,
    json_out: &mut dyn Write,
) -> std::io::Result<()> {
    match format {
        MessageFormat::Human => {
            let mut err = std::io::stderr().lock();
            let config = RenderConfig { color: color.enabled(), max_diagnostics: 100 };
            render::render_terminal(diags, sources, config, &mut err)
        }
        MessageFormat::Json => {
            let doc = render::render_json(diags, sources);
            writeln!(json_out, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default())
        }
    }
}

/// Prints a process-level error (usage, I/O) through miette, with an optional hint.
pub fn print_error(message: impl std::fmt::Display, help: Option<&str>) {
    let mut report = miette::miette!("{message}");
    if let Some(help) = help {
        report = miette::miette!(help = help.to_owned(), "{message}");
    }
    eprintln!("{report:?}");
}

/// `true` when an I/O error only means the reader went away (`kdep build | head`).
pub fn is_broken_pipe(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::BrokenPipe
}
