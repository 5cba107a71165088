//! `kdep impact`: the blast radius of the working tree's changes. Builds every environment of
//! the package at a git revision and in the working tree, and reports which environments, apps
//! and objects change and how; optionally draws templates → apps → environments as SVG or DOT.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use kdep_compiler::impact::{self, Change, ObjectChange};
use kdep_compiler::Workspace;

use super::{load_workspace_with, Ctx, Exit};
use crate::fs::OsFs;
use crate::report::{self, MessageFormat, ReportFormat};

/// Show which environments, apps and objects a change touches, before it is merged.
///
/// Builds every declared environment of the package at the base revision (extracted with
/// `git archive` into a temporary folder; the repository is not touched) and in the working
/// tree, and compares the objects: added, removed, and changed with the field paths that
/// change. Each side uses its own kdep.lock, so `kdep mod update` followed by `kdep impact`
/// shows what the upgrade changes (a version the base locks is fetched when the cache lacks it).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kdep impact shop                       # working tree against HEAD
  kdep impact shop --base origin/main --format json
  kdep impact shop --graph impact.svg    # templates -> apps -> environments, changes in red
  kdep mod update && kdep impact         # what a dependency upgrade changes (each side its own kdep.lock)

Exit codes: 0 report printed (with or without changes); 1 the working tree does not build;
2 not in a git repository, unknown revision, or usage and I/O problems.")]
pub struct ImpactArgs {
    /// Package folder, or a file inside it. Defaults to the current directory.
    path: Option<PathBuf>,
    /// The revision to compare against (anything `git rev-parse` accepts).
    #[arg(long, default_value = "HEAD")]
    base: String,
    /// Report format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    /// Also draw the graph into this file: `.svg` (drawn by kdep) or `.dot` (Graphviz).
    #[arg(long, value_name = "FILE")]
    graph: Option<PathBuf>,
    /// Never use the network: git and OCI dependencies of both revisions must be in the cache.
    #[arg(long)]
    offline: bool,
}

/// The comparison of one environment (`None`: a package without environments).
struct EnvImpact {
    env: Option<String>,
    changes: Vec<ObjectChange>,
    /// The base revision does not build here; its objects count as absent.
    base_broken: bool,
}

impl ImpactArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let graph_kind = match &self.graph {
            None => None,
            Some(p) => match p.extension().and_then(|e| e.to_str()) {
                Some("svg") => Some(GraphKind::Svg),
                Some("dot" | "gv") => Some(GraphKind::Dot),
                _ => {
                    report::print_error(
                        format!("cannot tell the graph format of `{}`", p.display()),
                        Some("name the file `*.svg` or `*.dot`"),
                    );
                    return Exit::Usage;
                }
            },
        };
        let options = kdep_pkg::Options { offline: self.offline, ..Default::default() };
        let head = match load_workspace_with(self.path.as_deref(), options.clone()) {
            Ok(ws) => ws,
            Err(code) => return code,
        };
        let root = head.root_dir().to_path_buf();
        let repo = match git(&root, &["rev-parse", "--show-toplevel"]) {
            Ok(top) => PathBuf::from(top.trim()),
            Err(_) => {
                report::print_error(
                    format!("`{}` is not in a git repository", root.display()),
                    Some("`kdep impact` compares with a git revision; run it inside a clone"),
                );
                return Exit::Usage;
            }
        };
        let commit = match git(&repo, &["rev-parse", "--verify", "--quiet", &format!("{}^{{commit}}", self.base)]) {
            Ok(c) => c.trim().to_owned(),
            Err(_) => {
                report::print_error(
                    format!("unknown revision `{}`", self.base),
                    Some(
                        "give a commit, branch or tag `git rev-parse` knows (a fresh repository needs a first commit)",
                    ),
                );
                return Exit::Usage;
            }
        };
        let tmp = match tempfile::Builder::new().prefix("kdep-impact-").tempdir() {
            Ok(t) => t,
            Err(e) => {
                report::print_error(format!("cannot create a temporary folder: {e}"), None);
                return Exit::Usage;
            }
        };
        if let Err(msg) = extract(&repo, &commit, tmp.path()) {
            report::print_error(msg, None);
            return Exit::Usage;
        }
        // The package's place in the repository is the same at both revisions.
        let canonical_repo = std::fs::canonicalize(&repo).unwrap_or(repo.clone());
        let rel = root.strip_prefix(&canonical_repo).unwrap_or(Path::new("")).to_path_buf();
        let base_dir = tmp.path().join(&rel);
        let base = base_dir.join("kdep.toml").is_file().then(|| load_base(&base_dir, options)).flatten();

        let mut envs: BTreeSet<String> = head.environments().into_iter().map(|e| e.name).collect();
        if let Some(b) = &base {
            envs.extend(b.environments().into_iter().map(|e| e.name));
        }
        let env_list: Vec<Option<String>> =
            if envs.is_empty() { vec![None] } else { envs.into_iter().map(Some).collect() };
        let sources = head.sources(ctx.cwd.as_deref());
        let mut results = Vec::new();
        for env in &env_list {
            let declared_head = env.as_ref().is_none_or(|e| head.environments().iter().any(|i| &i.name == e));
            let head_build = declared_head.then(|| head.build(env.as_deref()));
            if let Some(b) = &head_build {
                if b.has_errors() {
                    let mut stderr = std::io::stderr().lock();
                    let _ = report::print_diagnostics(
                        &b.diagnostics,
                        &sources,
                        MessageFormat::Human,
                        ctx.color,
                        &mut stderr,
                    );
                    report::print_error(
                        format!(
                            "the working tree does not build{}",
                            env.as_deref().map_or(String::new(), |e| format!(" in `{e}`"))
                        ),
                        Some("fix the errors above; impact compares two builds"),
                    );
                    return Exit::SourceErrors;
                }
            }
            let base_build = base.as_ref().and_then(|b| {
                let declared = env.as_ref().is_none_or(|e| b.environments().iter().any(|i| &i.name == e));
                declared.then(|| b.build(env.as_deref()))
            });
            let base_broken = base_build.as_ref().is_some_and(kdep_compiler::Build::has_errors);
            let empty = Vec::new();
            let base_objects = base_build.as_ref().filter(|b| !b.has_errors()).map_or(&empty, |b| &b.manifests);
            let head_objects = head_build.as_ref().map_or(&empty, |b| &b.manifests);
            results.push(EnvImpact {
                env: env.clone(),
                changes: impact::compare(base_objects, head_objects),
                base_broken,
            });
        }
        let head_apps = head.app_templates();
        let base_apps = base.as_ref().map(Workspace::app_templates).unwrap_or_default();
        let graph = Graph::new(&head_apps, &base_apps, &results);
        let short = commit.get(..12).unwrap_or(&commit).to_owned();
        let text = match self.format {
            ReportFormat::Text => {
                render_text(head.package_name(), &self.base, &short, base.is_some(), &results, &graph)
            }
            ReportFormat::Json => {
                render_json(head.package_name(), &self.base, &commit, base.is_some(), &results, &graph)
            }
        };
        if let (Some(path), Some(kind)) = (&self.graph, graph_kind) {
            let drawing = match kind {
                GraphKind::Svg => graph.svg(),
                GraphKind::Dot => graph.dot(),
            };
            if let Err(e) = crate::fs::write_atomic(path, drawing.as_bytes()) {
                report::print_error(format!("cannot write `{}`: {e}", path.display()), None);
                return Exit::Usage;
            }
        }
        print!("{text}");
        super::release_at_exit(head);
        Exit::Success
    }
}

/// The package at the base revision, its git and OCI dependencies as the base's own kdep.lock
/// names them (not the working tree's: an upgrade between the two is what impact shows). What
/// the cache lacks is fetched unless `--offline`; a base that cannot be loaded counts as absent.
fn load_base(base_dir: &Path, options: kdep_pkg::Options) -> Option<Workspace> {
    let lock = super::mod_cmd::read_lock(base_dir);
    let mut fetcher = kdep_pkg::Fetcher::new(kdep_pkg::Cache::from_env(), lock, base_dir, options);
    let base = Workspace::load_with_remote(&OsFs, base_dir, 1, &mut fetcher).ok();
    for line in &fetcher.log {
        eprintln!("{line} for the base revision");
    }
    // The report only says the base does not build; a dependency it could not get is why.
    let missing = base.iter().flat_map(|b| &b.loaded().diagnostics).filter(|d| d.code.id.starts_with("K070"));
    for d in missing {
        eprintln!("warning: base revision: [{}] {}", d.code.id, d.message);
    }
    base
}

/// Runs `git ARGS` in `dir`; the error is git's message.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Extracts the tree of `commit` into `into` with `git archive | tar -x`; the repository, its
/// index and its worktree list stay untouched.
fn extract(repo: &Path, commit: &str, into: &Path) -> Result<(), String> {
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", commit])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))?;
    let Some(stdout) = archive.stdout.take() else { return Err("cannot read git archive".into()) };
    let untar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(into)
        .stdin(stdout)
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let archived = archive.wait_with_output().map_err(|e| format!("git archive failed: {e}"))?;
    if !archived.status.success() {
        return Err(format!("git archive {commit} failed: {}", String::from_utf8_lossy(&archived.stderr).trim()));
    }
    if !untar.status.success() {
        return Err(format!("extracting {commit} failed: {}", String::from_utf8_lossy(&untar.stderr).trim()));
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum GraphKind {
    Svg,
    Dot,
}

/// Templates → apps → environments, each node marked changed or not.
struct Graph {
    /// Qualified template name → changed (its declaration's text differs or it is new).
    templates: BTreeMap<String, bool>,
    /// App → changed (any of its objects changed in any environment).
    apps: BTreeMap<String, bool>,
    /// Environment → changed.
    envs: Vec<(String, bool)>,
    /// (template, app) and (app, environment) edges.
    template_edges: BTreeSet<(String, String)>,
    env_edges: BTreeSet<(String, String)>,
    /// App → environments in which its objects change.
    app_envs: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn new(head: &[impact::AppTemplates], base: &[impact::AppTemplates], results: &[EnvImpact]) -> Graph {
        let base_text: BTreeMap<&str, &str> =
            base.iter().flat_map(|a| &a.templates).map(|t| (t.name.as_str(), t.text.as_str())).collect();
        let mut g = Graph {
            templates: BTreeMap::new(),
            apps: BTreeMap::new(),
            envs: Vec::new(),
            template_edges: BTreeSet::new(),
            env_edges: BTreeSet::new(),
            app_envs: BTreeMap::new(),
        };
        for app in head {
            g.apps.insert(app.app.clone(), false);
            for t in &app.templates {
                let changed = base_text.get(t.name.as_str()) != Some(&t.text.as_str());
                g.templates.insert(t.name.clone(), changed);
                g.template_edges.insert((t.name.clone(), app.app.clone()));
            }
        }
        // An app removed by the change is drawn with the templates it was built from.
        let head_apps: BTreeSet<&str> = head.iter().map(|a| a.app.as_str()).collect();
        for app in base.iter().filter(|a| !head_apps.contains(a.app.as_str())) {
            g.apps.insert(app.app.clone(), false);
            for t in &app.templates {
                g.templates.entry(t.name.clone()).or_insert(true);
                g.template_edges.insert((t.name.clone(), app.app.clone()));
            }
        }
        for r in results {
            let env = r.env.clone().unwrap_or_else(|| "(no environment)".to_owned());
            for c in &r.changes {
                g.apps.insert(c.app.clone(), true);
                g.app_envs.entry(c.app.clone()).or_default().insert(env.clone());
            }
            for app in g.apps.keys() {
                g.env_edges.insert((app.clone(), env.clone()));
            }
            g.envs.push((env, !r.changes.is_empty()));
        }
        g
    }

    fn dot(&self) -> String {
        let mut out = String::from("// kdep impact: templates -> apps -> environments; changed nodes are red\n");
        out.push_str("digraph impact {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"sans-serif\"];\n");
        let node = |out: &mut String, id: String, label: &str, changed: bool| {
            let style = if changed { ", color=\"#c62828\", fontcolor=\"#c62828\", penwidth=2" } else { "" };
            out.push_str(&format!("  {} [label={}{style}];\n", quoted(&id), quoted(label)));
        };
        out.push_str("  subgraph templates { rank=same;\n");
        for (t, changed) in &self.templates {
            node(&mut out, format!("template:{t}"), t, *changed);
        }
        out.push_str("  }\n  subgraph apps { rank=same;\n");
        for (a, changed) in &self.apps {
            node(&mut out, format!("app:{a}"), a, *changed);
        }
        out.push_str("  }\n  subgraph environments { rank=same;\n");
        for (e, changed) in &self.envs {
            node(&mut out, format!("env:{e}"), e, *changed);
        }
        out.push_str("  }\n");
        for (t, a) in &self.template_edges {
            out.push_str(&format!("  {} -> {};\n", quoted(&format!("template:{t}")), quoted(&format!("app:{a}"))));
        }
        for (a, e) in &self.env_edges {
            let changed = self.app_envs.get(a).is_some_and(|s| s.contains(e));
            let style = if changed { " [color=\"#c62828\", penwidth=2]" } else { "" };
            out.push_str(&format!("  {} -> {}{style};\n", quoted(&format!("app:{a}")), quoted(&format!("env:{e}"))));
        }
        out.push_str("}\n");
        out
    }

    /// A three-column layered drawing; node boxes are sized from the label length (a fixed
    /// per-character width: no font metrics without a renderer, so boxes are generous).
    fn svg(&self) -> String {
        const ROW: u32 = 44;
        const BOX_H: u32 = 28;
        const TOP: u32 = 40;
        const GAP: u32 = 80;
        let width_of = |labels: &mut dyn Iterator<Item = &String>| {
            labels.map(|l| 7 * u32::try_from(l.chars().count()).unwrap_or(40) + 24).max().unwrap_or(80).max(80)
        };
        let cols: [Vec<(String, String, bool)>; 3] = [
            self.templates.iter().map(|(t, c)| (format!("template:{t}"), t.clone(), *c)).collect(),
            self.apps.iter().map(|(a, c)| (format!("app:{a}"), a.clone(), *c)).collect(),
            self.envs.iter().map(|(e, c)| (format!("env:{e}"), e.clone(), *c)).collect(),
        ];
        let widths: Vec<u32> = cols.iter().map(|col| width_of(&mut col.iter().map(|(_, l, _)| l))).collect();
        let mut x = 20;
        let mut pos: BTreeMap<&str, (u32, u32, u32)> = BTreeMap::new(); // id → (x, y, width)
        for (col, w) in cols.iter().zip(&widths) {
            for (i, (id, _, _)) in col.iter().enumerate() {
                pos.insert(id.as_str(), (x, TOP + ROW * u32::try_from(i).unwrap_or(0), *w));
            }
            x += w + GAP;
        }
        let rows = cols.iter().map(Vec::len).max().unwrap_or(0);
        let height = TOP + ROW * u32::try_from(rows).unwrap_or(0) + 20;
        let width = x - GAP + 20;
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n<!-- kdep impact: templates -> apps -> environments; changed nodes are red -->\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        for (i, title) in ["templates", "apps", "environments"].iter().enumerate() {
            let Some(col) = cols.get(i) else { continue };
            let Some((cx, _, _)) = col.first().and_then(|(id, _, _)| pos.get(id.as_str())) else { continue };
            out.push_str(&format!("<text x=\"{cx}\" y=\"22\" font-weight=\"bold\">{title}</text>\n"));
        }
        let edge = |out: &mut String, from: &str, to: &str, changed: bool| {
            let (Some((fx, fy, fw)), Some((tx, ty, _))) = (pos.get(from), pos.get(to)) else { return };
            let (x1, y1, x2, y2) = (fx + fw, fy + BOX_H / 2, *tx, ty + BOX_H / 2);
            let (stroke, w) = if changed { ("#c62828", 2) } else { ("#9e9e9e", 1) };
            out.push_str(&format!(
                "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"{stroke}\" stroke-width=\"{w}\"/>\n"
            ));
        };
        for (t, a) in &self.template_edges {
            let changed = self.templates.get(t).copied().unwrap_or(false);
            edge(&mut out, &format!("template:{t}"), &format!("app:{a}"), changed);
        }
        for (a, e) in &self.env_edges {
            let changed = self.app_envs.get(a).is_some_and(|s| s.contains(e));
            edge(&mut out, &format!("app:{a}"), &format!("env:{e}"), changed);
        }
        for col in &cols {
            for (id, label, changed) in col {
                let Some((x, y, w)) = pos.get(id.as_str()) else { continue };
                let (stroke, fill, sw) = if *changed { ("#c62828", "#ffebee", 2) } else { ("#616161", "#fafafa", 1) };
                out.push_str(&format!(
                    "<g class=\"{}\"><rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{BOX_H}\" rx=\"6\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"{sw}\"/><text x=\"{}\" y=\"{}\">{}</text></g>\n",
                    if *changed { "node changed" } else { "node" },
                    x + 12,
                    y + 18,
                    xml_escape(label)
                ));
            }
        }
        out.push_str("</svg>\n");
        out
    }
}

fn quoted(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn env_label(env: &Option<String>) -> String {
    env.clone().unwrap_or_else(|| "(no environment)".to_owned())
}

fn render_text(package: &str, base: &str, commit: &str, had_base: bool, results: &[EnvImpact], g: &Graph) -> String {
    let mut out = format!("impact of the working tree on package `{package}` against {base} ({commit})\n");
    if !had_base {
        out.push_str("  the package does not exist at the base revision: everything is new\n");
    }
    for r in results {
        let count = |k: &str| r.changes.iter().filter(|c| c.change.kind() == k).count();
        out.push_str(&format!(
            "\n{}: {} changed, {} added, {} removed\n",
            env_label(&r.env),
            count("changed"),
            count("added"),
            count("removed")
        ));
        if r.base_broken {
            out.push_str("  (the base revision does not build here; its objects count as absent)\n");
        }
        for c in &r.changes {
            let (mark, detail) = match &c.change {
                Change::Added => ('+', String::new()),
                Change::Removed => ('-', String::new()),
                Change::Changed(paths) => ('~', format!(": {}", paths.join(", "))),
            };
            out.push_str(&format!("  {mark} {} (app `{}`){detail}\n", c.key.describe(), c.app));
        }
    }
    let apps: Vec<String> = g
        .app_envs
        .iter()
        .map(|(a, envs)| format!("{a} ({})", envs.iter().cloned().collect::<Vec<_>>().join(", ")))
        .collect();
    out.push_str(&format!("\napps changed: {}\n", if apps.is_empty() { "none".to_owned() } else { apps.join(", ") }));
    let templates: Vec<&str> = g.templates.iter().filter(|(_, c)| **c).map(|(t, _)| t.as_str()).collect();
    out.push_str(&format!(
        "templates changed: {}\n",
        if templates.is_empty() { "none".to_owned() } else { templates.join(", ") }
    ));
    out
}

fn render_json(package: &str, base: &str, commit: &str, had_base: bool, results: &[EnvImpact], g: &Graph) -> String {
    let envs: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let count = |k: &str| r.changes.iter().filter(|c| c.change.kind() == k).count();
            serde_json::json!({
                "name": r.env,
                "changed": count("changed"),
                "added": count("added"),
                "removed": count("removed"),
                "baseBuilds": !r.base_broken,
                "objects": r.changes.iter().map(|c| serde_json::json!({
                    "change": c.change.kind(),
                    "group": c.key.group,
                    "kind": c.key.kind,
                    "namespace": c.key.namespace,
                    "name": c.key.name,
                    "app": c.app,
                    "paths": match &c.change { Change::Changed(p) => p.clone(), _ => Vec::new() },
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = serde_json::json!({
        "package": package,
        "base": { "revision": base, "commit": commit, "packageExists": had_base },
        "environments": envs,
        "apps": g.apps.iter().map(|(a, changed)| serde_json::json!({
            "name": a,
            "changed": changed,
            "environments": g.app_envs.get(a).map(|s| s.iter().cloned().collect::<Vec<_>>()).unwrap_or_default(),
        })).collect::<Vec<_>>(),
        "templates": g.templates.iter().map(|(t, changed)| serde_json::json!({ "name": t, "changed": changed }))
            .collect::<Vec<_>>(),
    });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
