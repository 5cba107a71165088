//! `kdep explain`: the long explanation of a diagnostic code (`kdep explain K0301`), or the
//! provenance of a built value (`kdep explain Deployment/checkout spec.replicas --env production`).

use std::path::PathBuf;

use clap::Args;
use kdep_compiler::diag::render::Sources;
use kdep_compiler::diag::{Code, Span, ALL_CODES};
use kdep_compiler::provenance::{self, Explanation, LookupError};
use kdep_compiler::Layer;

use super::{load_workspace, Ctx, Exit};
use crate::report::{self, MessageFormat, ReportFormat};

/// Explain a diagnostic code, or where a value of a built object comes from.
///
/// With a code (`K0301` or `locked-override`), prints its long explanation; with nothing, lists
/// every code. With an object and a field path, builds the package and prints the value, the
/// layer and line that set it, what it overrode (app value, template defaults) and the type
/// constraints along the template chain.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kdep explain K0301
  kdep explain Deployment/checkout spec.replicas --env production
  kdep explain Deployment/checkout 'spec.template.spec.containers[0].image' --env staging shop

Exit codes: 0 explained; 1 the object or field does not exist in the build (with a did-you-mean),
or the build fails; 2 usage errors (unknown code, bad path, no package).")]
pub struct ExplainArgs {
    /// A diagnostic code, or an object as `Kind/name` (`Deployment/checkout`). Omit to list
    /// every code.
    target: Option<String>,
    /// With an object: the field path, `spec.replicas`, `spec.template.spec.containers[0].image`,
    /// `metadata.labels["app.kubernetes.io/name"]`.
    field: Option<String>,
    /// With an object: package folder, or a file inside it. Defaults to the current directory.
    path: Option<PathBuf>,
    /// With an object: the environment to build.
    #[arg(long, short)]
    env: Option<String>,
    /// Output format of a value's provenance.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
}

impl ExplainArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let Some(key) = self.target.clone() else {
            for code in ALL_CODES {
                println!("{}  {:<24} {}", code.id, code.name, code.summary);
            }
            return Exit::Success;
        };
        if key.contains('/') {
            return self.explain_value(ctx, &key);
        }
        let Some(code) = Code::lookup(&key) else {
            report::print_error(
                format!("unknown diagnostic code `{key}`"),
                Some("run `kdep explain` to list every code, or name an object as `Kind/name` with a field path"),
            );
            return Exit::Usage;
        };
        if self.field.is_some() {
            report::print_error(
                format!("`{key}` is a diagnostic code; it takes no field path"),
                Some("to explain a value, name the object as `Kind/name`: `kdep explain Deployment/checkout spec.replicas`"),
            );
            return Exit::Usage;
        }
        match code.docs() {
            Some(text) => print!("{text}"),
            None => println!("{} ({}): {}", code.id, code.name, code.summary),
        }
        Exit::Success
    }

    fn explain_value(&self, ctx: &Ctx, object: &str) -> Exit {
        let Some(field) = &self.field else {
            report::print_error(
                format!("which field of `{object}`?"),
                Some("give a field path: `kdep explain Deployment/checkout spec.replicas`"),
            );
            return Exit::Usage;
        };
        let path = match provenance::parse_path(field) {
            Ok(p) => p,
            Err(msg) => {
                report::print_error(msg, Some("field paths look like `spec.template.spec.containers[0].image`"));
                return Exit::Usage;
            }
        };
        let ws = match load_workspace(self.path.as_deref()) {
            Ok(ws) => ws,
            Err(code) => return code,
        };
        let build = ws.build(self.env.as_deref());
        let sources = ws.sources(ctx.cwd.as_deref());
        if build.has_errors() {
            let mut stderr = std::io::stderr().lock();
            let _ =
                report::print_diagnostics(&build.diagnostics, &sources, MessageFormat::Human, ctx.color, &mut stderr);
            return Exit::SourceErrors;
        }
        let env_desc = self.env.as_deref().map_or("the build without an environment".to_owned(), |e| format!("`{e}`"));
        match ws.explain(self.env.as_deref(), &build.manifests, object, &path) {
            Ok(ex) => {
                let text = match self.format {
                    ReportFormat::Text => render_text(&ex, &sources, self.env.as_deref()),
                    ReportFormat::Json => render_json(&ex, &sources, self.env.as_deref()),
                };
                print!("{text}");
                Exit::Success
            }
            Err(err) => {
                let help = match &err {
                    LookupError::NoObject { suggestion: Some(s), .. } => format!("did you mean `{s}`?"),
                    LookupError::NoObject { available, .. } if available.is_empty() => {
                        "the build emits no objects".to_owned()
                    }
                    LookupError::NoObject { available, .. } => format!("objects: {}", available.join(", ")),
                    LookupError::NoField { suggestion: Some(s), at, .. } => {
                        let full = if at.is_empty() { s.clone() } else { format!("{at}.{s}") };
                        format!("did you mean `{full}`?")
                    }
                    LookupError::NoField { keys, .. } if keys.is_empty() => "it holds no fields".to_owned(),
                    LookupError::NoField { keys, .. } => format!("it has: {}", keys.join(", ")),
                };
                report::print_error(format!("{err} (in {env_desc})"), Some(&help));
                Exit::SourceErrors
            }
        }
    }
}

/// `path:line:column` of a span, 1-based, as the diagnostics print it.
pub fn location(sources: &dyn Sources, span: Span) -> (String, u32, u32) {
    let span = sources.resolve(span);
    let text = sources.text(span.file);
    let index = kdep_compiler::diag::LineIndex::new(text);
    let lc = index.line_col(text, span.range.start);
    (sources.path(span.file), lc.line + 1, lc.col + 1)
}

fn at(sources: &dyn Sources, span: Span) -> String {
    let (path, line, col) = location(sources, span);
    format!("{path}:{line}:{col}")
}

fn render_text(ex: &Explanation, sources: &dyn Sources, env: Option<&str>) -> String {
    let mut out = format!("{} {} = {}", ex.object, ex.path, ex.value.render_short());
    match env {
        Some(e) => out.push_str(&format!("  (environment `{e}`)\n")),
        None => out.push_str("  (no environment)\n"),
    }
    let Some(chain) = &ex.field else {
        let line = match (&ex.origin.layer, ex.origin.span) {
            (Layer::Computed, Some(span)) => format!(
                "computed at {}\n    (an expression written in a template body or a default, not a field a layer sets)",
                at(sources, span)
            ),
            (Layer::Builtin, Some(span)) => format!("set by kdep for the app declared at {}", at(sources, span)),
            (layer, Some(span)) => format!("set by {} at {}", layer.describe(), at(sources, span)),
            (layer, None) => layer.describe(),
        };
        out.push_str(&format!("  ← {line}\n"));
        return out;
    };
    let won = chain.settings.iter().position(|s| Some(s.span) == ex.origin.span).unwrap_or(0);
    for (i, s) in chain.settings.iter().enumerate().skip(won) {
        let written =
            if s.written.contains(" = ") { s.written.clone() } else { format!("{} = {}", chain.field, s.written) };
        let who = s.layer.describe();
        if i == won {
            out.push_str(&format!("  ← field `{}` set by {who} at {}: {written}\n", chain.field, at(sources, s.span)));
        } else {
            out.push_str(&format!("    overrides {who} at {}: {written}\n", at(sources, s.span)));
        }
    }
    if let Some((template, span)) = &chain.locked {
        out.push_str(&format!("    locked by template `{template}` at {}\n", at(sources, *span)));
    }
    for (i, c) in chain.constraints.iter().enumerate() {
        let verb = if i == 0 { "type" } else { "narrowed to" };
        let by = if i == 0 { "declared by" } else { "by" };
        out.push_str(&format!("    {verb} {} {by} template `{}` at {}\n", c.written, c.template, at(sources, c.span)));
    }
    out
}

fn span_json(sources: &dyn Sources, span: Option<Span>) -> serde_json::Value {
    match span {
        None => serde_json::Value::Null,
        Some(span) => {
            let span = sources.resolve(span);
            let (path, line, column) = location(sources, span);
            serde_json::json!({
                "file": path, "line": line, "column": column,
                "start": span.range.start, "end": span.range.end,
            })
        }
    }
}

fn render_json(ex: &Explanation, sources: &dyn Sources, env: Option<&str>) -> String {
    let chain = ex.field.as_ref().map(|c| {
        serde_json::json!({
            "app": &*c.app,
            "field": &*c.field,
            "settings": c.settings.iter().map(|s| serde_json::json!({
                "layer": provenance::layer_kind(&s.layer),
                "by": s.layer.describe(),
                "at": span_json(sources, Some(s.span)),
                "written": s.written,
                "wins": Some(s.span) == ex.origin.span,
            })).collect::<Vec<_>>(),
            "locked": c.locked.as_ref().map(|(t, span)| serde_json::json!({
                "template": &**t, "at": span_json(sources, Some(*span)),
            })),
            "constraints": c.constraints.iter().map(|k| serde_json::json!({
                "template": &*k.template, "type": k.written, "at": span_json(sources, Some(k.span)),
            })).collect::<Vec<_>>(),
        })
    });
    let doc = serde_json::json!({
        "object": ex.object,
        "environment": env,
        "path": ex.path,
        "value": kdep_compiler::emit::to_json_value(&ex.value),
        "layer": provenance::layer_kind(&ex.origin.layer),
        "by": ex.origin.layer.describe(),
        "at": span_json(sources, ex.origin.span),
        "field": chain,
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
