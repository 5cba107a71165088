//! `kdep mod`: packages from git and OCI registries — fetch into the cache, vendor, publish,
//! update (with what the upgrade changes in the built manifests).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use kdep_compiler::lock::{parse_lock, Lock};
use kdep_compiler::package_toml::{parse_package_toml, Source};
use kdep_compiler::Workspace;
use kdep_pkg::{Options, Update};

use super::{load_workspace_with, sync_lock_file, Ctx, Exit};
use crate::report::{self, MessageFormat};

/// Manage dependencies from git repositories and OCI registries.
///
/// `build` and `check` fetch what `kdep.lock` names when the cache lacks it; these commands
/// resolve, fetch, vendor, publish and upgrade explicitly. The cache is `$KDEP_CACHE` (default:
/// `kdep` in the user's cache folder). Credentials come from Docker/Podman auth files
/// (`REGISTRY_AUTH_FILE`, `~/.docker/config.json`); see docs/packages.md.
#[derive(Debug, Args)]
pub struct ModArgs {
    #[command(subcommand)]
    command: ModCommand,
}

#[derive(Debug, Subcommand)]
enum ModCommand {
    Fetch(FetchArgs),
    Vendor(FetchArgs),
    // `--version` is the version to publish, not kdep's own.
    #[command(disable_version_flag = true)]
    Publish(PublishArgs),
    Update(UpdateArgs),
}

/// Resolve every git and OCI dependency, download it into the cache and write `kdep.lock`.
#[derive(Debug, Args)]
struct FetchArgs {
    /// Package folder, or a file inside it. Defaults to the current directory.
    path: Option<PathBuf>,
    /// Fail instead of updating `kdep.lock` when it is missing or out of date (for CI).
    #[arg(long)]
    locked: bool,
    #[command(flatten)]
    net: NetArgs,
}

/// Network options shared by the `mod` commands.
#[derive(Debug, Args)]
struct NetArgs {
    /// Talk plain HTTP to every registry (by default only loopback registries get plain HTTP).
    #[arg(long)]
    plain_http: bool,
}

impl NetArgs {
    fn apply(&self) {
        if self.plain_http {
            // Read by the registry client; set before any thread starts.
            std::env::set_var("KDEP_REGISTRY_PLAIN_HTTP", "always");
        }
    }
}

/// Pack the package and push it to an OCI registry as version `--version`.
///
/// The archive is deterministic (same sources, same digest); a version already published with
/// other content is refused: versions are immutable.
#[derive(Debug, Args)]
struct PublishArgs {
    /// Package folder, or a file inside it. Defaults to the current directory.
    path: Option<PathBuf>,
    /// Repository to publish to: `registry/path/to/repo`.
    #[arg(long, value_name = "REGISTRY/REPO")]
    oci: String,
    /// Version to publish; must equal `[package] version` in kdep.toml.
    #[arg(long)]
    version: String,
    #[command(flatten)]
    net: NetArgs,
}

/// Move dependencies to the newest version their requirement allows, and show what changed.
///
/// Prints each version change (old → new) with the package's changelog, then which apps and
/// environments build to different manifests.
#[derive(Debug, Args)]
struct UpdateArgs {
    /// Package folder, or a file inside it. Defaults to the current directory.
    #[arg(long)]
    path: Option<PathBuf>,
    /// Dependencies to update (names as in kdep.toml); all when none is given.
    names: Vec<String>,
    /// Print the changes and their impact as one JSON document (for CI).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    net: NetArgs,
}

impl ModArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        match self.command {
            ModCommand::Fetch(args) => {
                args.net.apply();
                fetch(ctx, &args, false)
            }
            ModCommand::Vendor(args) => {
                args.net.apply();
                fetch(ctx, &args, true)
            }
            ModCommand::Publish(args) => {
                args.net.apply();
                publish(ctx, &args)
            }
            ModCommand::Update(args) => {
                args.net.apply();
                update(ctx, &args)
            }
        }
    }
}

/// Prints the loader's diagnostics; `Err` when there are errors.
fn report_load(ctx: &Ctx, ws: &Workspace) -> Result<(), Exit> {
    let diags = &ws.loaded().diagnostics;
    if diags.is_empty() {
        return Ok(());
    }
    let sources = ws.sources(ctx.cwd.as_deref());
    let mut stderr = std::io::stderr().lock();
    if report::print_diagnostics(diags, &sources, MessageFormat::Human, ctx.color, &mut stderr).is_err() {
        return Err(Exit::Usage);
    }
    if kdep_compiler::diag::has_errors(diags) {
        return Err(Exit::SourceErrors);
    }
    Ok(())
}

fn remote_packages(ws: &Workspace) -> Vec<&kdep_compiler::loader::LoadedPackage> {
    let mut out: Vec<_> = ws.loaded().packages.iter().filter(|p| p.remote.is_some()).collect();
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out
}

fn fetch(ctx: &Ctx, args: &FetchArgs, vendor: bool) -> Exit {
    let ws = match load_workspace_with(args.path.as_deref(), Options::default()) {
        Ok(ws) => ws,
        Err(code) => return code,
    };
    if let Err(code) = report_load(ctx, &ws) {
        return code;
    }
    if let Err(code) = sync_lock_file(&ws, args.locked) {
        return code;
    }
    let remote = remote_packages(&ws);
    if vendor {
        if let Err(e) = write_vendor(ws.root_dir(), &remote) {
            report::print_error(e, None);
            return Exit::Usage;
        }
        eprintln!(
            "vendored {} package{} into `{}`; build offline with `kdep build --offline`",
            remote.len(),
            if remote.len() == 1 { "" } else { "s" },
            kdep_compiler::remote::VENDOR_DIR
        );
    } else {
        eprintln!("{} package{} from git and OCI in the cache", remote.len(), if remote.len() == 1 { "" } else { "s" });
    }
    Exit::Success
}

/// Copies every fetched package into `<root>/vendor/sha256-<hex>/` (the layout of the cache's
/// `src/`), and removes vendored packages the graph no longer uses. Each folder is written
/// aside and renamed, so a killed run leaves whole packages only.
fn write_vendor(root: &Path, packages: &[&kdep_compiler::loader::LoadedPackage]) -> Result<(), String> {
    let vendor = root.join(kdep_compiler::remote::VENDOR_DIR);
    std::fs::create_dir_all(&vendor).map_err(|e| format!("cannot create `{}`: {e}", vendor.display()))?;
    let mut wanted = BTreeSet::new();
    for pkg in packages {
        let files = kdep_pkg::cache::read_tree(&pkg.root)?;
        let name = kdep_compiler::remote::checksum_dir_name(&files.checksum);
        if files.checksum != pkg.checksum {
            return Err(format!("`{}` changed while vendoring; run again", pkg.root.display()));
        }
        wanted.insert(name.clone());
        let dest = vendor.join(&name);
        if dest.join("kdep.toml").is_file() {
            continue;
        }
        let tmp = vendor.join(format!(".{name}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        kdep_pkg::cache::write_tree(&tmp, &files)?;
        std::fs::rename(&tmp, &dest).map_err(|e| format!("cannot write `{}`: {e}", dest.display()))?;
    }
    let entries = std::fs::read_dir(&vendor).map_err(|e| format!("cannot read `{}`: {e}", vendor.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("sha256-") && !wanted.contains(&name) {
            std::fs::remove_dir_all(entry.path())
                .map_err(|e| format!("cannot remove `{}`: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn publish(ctx: &Ctx, args: &PublishArgs) -> Exit {
    let Some(reference) = kdep_pkg::oci::Reference::parse(&args.oci) else {
        report::print_error(
            format!("`{}` is not an OCI repository", args.oci),
            Some("write `registry.example.com/path/to/repo` (lower case, no tag: the version goes in --version)"),
        );
        return Exit::Usage;
    };
    let ws = match load_workspace_with(args.path.as_deref(), Options::default()) {
        Ok(ws) => ws,
        Err(code) => return code,
    };
    let diags = ws.check();
    if !diags.is_empty() {
        let sources = ws.sources(ctx.cwd.as_deref());
        let _ =
            report::print_diagnostics(&diags, &sources, MessageFormat::Human, ctx.color, &mut std::io::stderr().lock());
        if kdep_compiler::diag::has_errors(&diags) {
            report::print_error("the package has errors; nothing was published", None);
            return Exit::SourceErrors;
        }
    }
    let loaded = ws.loaded();
    let Some(root) = loaded.packages.get(loaded.root) else { return Exit::Usage };
    let toml_text = loaded.files.get(root.package_toml_file.0 as usize).map_or("", |f| f.text.as_str());
    let Ok(config) = parse_package_toml(toml_text) else { return Exit::SourceErrors };
    if let Some((name, _)) = config.dependencies.iter().find(|(_, d)| matches!(d.source, Source::Path(_))) {
        report::print_error(
            format!(
                "`{}` depends on `{name}` by path; a published package can depend only on git and OCI sources",
                config.name
            ),
            Some("publish the dependency first and depend on it with `oci = ...` and a version range"),
        );
        return Exit::SourceErrors;
    }
    if config.version != args.version {
        report::print_error(
            format!("--version {} differs from `version = \"{}\"` in kdep.toml", args.version, config.version),
            Some("set the version in kdep.toml (it is part of the published package), then publish that version"),
        );
        return Exit::Usage;
    }
    if semver::Version::parse(&args.version).is_err() {
        report::print_error(format!("--version {} is not a semantic version", args.version), None);
        return Exit::Usage;
    }
    let mut files = BTreeMap::new();
    for f in loaded.files.iter().filter(|f| f.package == Some(loaded.root)) {
        let rel = kdep_compiler::loader::relative_path(&root.root, &f.abs_path);
        // Module text lives in the compiler's database; `kdep.toml` is added below.
        files.insert(rel, ws.file_text(f.id).to_owned());
    }
    files.insert("kdep.toml".to_owned(), toml_text.to_owned());
    match kdep_pkg::publish::publish(&reference, &config, &files) {
        Ok(kdep_pkg::publish::Published::New(digest)) => {
            println!("published {} {} to {reference}@{digest}", config.name, config.version);
            Exit::Success
        }
        Ok(kdep_pkg::publish::Published::Unchanged(digest)) => {
            println!(
                "{} {} is already published to {reference}@{digest} with the same content",
                config.name, config.version
            );
            Exit::Success
        }
        Err(e) => {
            report::print_error(e.message, e.help.as_deref());
            Exit::SourceErrors
        }
    }
}

fn update(ctx: &Ctx, args: &UpdateArgs) -> Exit {
    let root = match kdep_compiler::loader::find_package_root(
        &crate::fs::OsFs,
        args.path.as_deref().unwrap_or(Path::new(".")),
    ) {
        Ok(root) => root,
        Err(e) => {
            report::print_error(&e, None);
            return Exit::Usage;
        }
    };
    let old_lock = read_lock(&root);
    // The build before the update, for the impact summary: from the cache only, and only if
    // the old lock still builds from it.
    let old = load_workspace_with(Some(&root), Options { offline: true, update: Update::None })
        .ok()
        .filter(|w| !kdep_compiler::diag::has_errors(&w.loaded().diagnostics));
    let update = if args.names.is_empty() { Update::All } else { Update::Only(args.names.iter().cloned().collect()) };
    let ws = match load_workspace_with(Some(&root), Options { offline: false, update }) {
        Ok(ws) => ws,
        Err(code) => return code,
    };
    if let Err(code) = report_load(ctx, &ws) {
        return code;
    }
    let remote = remote_packages(&ws);
    for name in &args.names {
        let known = ws.loaded().packages.iter().any(|p| {
            p.deps.iter().any(|(d, i)| d == name && ws.loaded().packages.get(*i).is_some_and(|p| p.remote.is_some()))
        });
        if !known {
            report::print_error(
                format!("`{name}` is not a git or OCI dependency of this package or its dependencies"),
                None,
            );
            return Exit::Usage;
        }
    }
    let mut changes: Vec<Change> = Vec::new();
    for pkg in &remote {
        let Some(new) = &pkg.remote else { continue };
        let before = old_lock.remote.iter().find(|o| o.source == new.source && o.name == new.name);
        if before.is_some_and(|o| o.resolved == new.resolved) {
            continue;
        }
        changes.push(Change {
            name: new.name.clone(),
            source: new.source.clone(),
            from: before.map(|o| o.version.clone()),
            to: Some(new.version.clone()),
            changelog: pkg.changelog.clone(),
        });
    }
    for o in &old_lock.remote {
        if !remote.iter().any(|p| p.remote.as_ref().is_some_and(|n| n.source == o.source && n.name == o.name)) {
            changes.push(Change {
                name: o.name.clone(),
                source: o.source.clone(),
                from: Some(o.version.clone()),
                to: None,
                changelog: None,
            });
        }
    }
    if let Err(code) = sync_lock_file(&ws, false) {
        return code;
    }
    let impact = match (&old, changes.is_empty()) {
        (Some(old), false) => Some(impact(old, &ws)),
        _ => None,
    };
    if args.json {
        let doc = serde_json::json!({
            "changes": changes.iter().map(|c| serde_json::json!({
                "name": c.name, "source": c.source, "from": c.from, "to": c.to, "changelog": c.changelog,
            })).collect::<Vec<_>>(),
            "impact": impact.as_ref().map(|rows| rows.iter().map(|(env, app, objects)| serde_json::json!({
                "environment": env, "app": app, "objects": objects,
            })).collect::<Vec<_>>()),
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Exit::Success;
    }
    for c in &changes {
        let from = c.from.as_deref().unwrap_or("(new)");
        let to = c.to.as_deref().unwrap_or("(removed)");
        println!("{} {from} → {to} ({})", c.name, c.source);
        for line in c.changelog.as_deref().unwrap_or("").trim_end().lines() {
            println!("    {line}");
        }
    }
    if changes.is_empty() {
        println!("all dependencies are at the newest version their requirement allows");
    }
    if let Some(rows) = impact {
        println!();
        for (env, app, objects) in &rows {
            println!("{}: app {app}: {}", env.as_deref().unwrap_or("(no environment)"), objects.join(", "));
        }
        if rows.is_empty() {
            println!("no app builds to different manifests");
        }
    }
    Exit::Success
}

/// One dependency version change of `kdep mod update`.
struct Change {
    name: String,
    source: String,
    /// `None`: newly added.
    from: Option<String>,
    /// `None`: no longer used.
    to: Option<String>,
    changelog: Option<String>,
}

/// What the upgrade changes in the built manifests: (environment, app, `Kind/name changed`)
/// rows for every app whose objects differ between the two builds. The review summary of issue
/// 12 item 4, until `kdep impact` compares lock revisions itself.
fn impact(old: &Workspace, new: &Workspace) -> Vec<(Option<String>, String, Vec<String>)> {
    let mut envs: Vec<Option<String>> = new.environments().into_iter().map(|e| Some(e.name)).collect();
    if envs.is_empty() {
        envs.push(None);
    }
    let mut rows = Vec::new();
    for env in envs {
        let render = |ws: &Workspace| -> BTreeMap<(String, String), String> {
            ws.build(env.as_deref())
                .manifests
                .iter()
                .map(|m| {
                    let key = (m.app.clone(), format!("{}/{}", m.kind, m.name));
                    (key, kdep_compiler::emit::to_yaml_stream(std::slice::from_ref(&m.object)))
                })
                .collect()
        };
        let (before, after) = (render(old), render(new));
        let mut per_app: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for k in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
            let what = match (before.get(k), after.get(k)) {
                (Some(a), Some(b)) if a == b => continue,
                (Some(_), Some(_)) => "changed",
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                (None, None) => continue,
            };
            per_app.entry(k.0.clone()).or_default().push(format!("{} {what}", k.1));
        }
        rows.extend(per_app.into_iter().map(|(app, objects)| (env.clone(), app, objects)));
    }
    rows
}

/// The current `kdep.lock`, or an empty one when it is missing or unreadable (it is rewritten).
pub fn read_lock(root: &Path) -> Lock {
    std::fs::read_to_string(root.join("kdep.lock")).ok().and_then(|t| parse_lock(&t).ok()).unwrap_or_default()
}
