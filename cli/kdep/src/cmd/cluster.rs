//! `kdep diff`, `kdep plan` and `kdep apply`: build the package for an environment, then hand
//! the manifests and the environment's settings to kdep-cluster, which talks to the cluster.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use kdep_cluster::engine::{self, ApplyOptions, Preview, PreviewOptions};
use kdep_cluster::plan::{self, Plan, Source, Summary};
use kdep_cluster::rollout::{self, State};
use kdep_cluster::{connect, diff, Action, Error, ObjKey, Session, Settings, Target};
use serde_json::{json, Value};

use super::{load_workspace, Ctx, Exit};
use crate::fs::write_atomic;
use crate::report::{self, ColorChoice, MessageFormat};

/// How results are printed on stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Text for people (coloured diffs on a terminal).
    #[default]
    Human,
    /// One JSON document, for CI.
    Json,
}

/// Which package and environment, and which cluster: what every cluster command starts from.
#[derive(Debug, Clone, Args)]
pub struct Place {
    /// Package folder, or a file inside it. Defaults to the current directory.
    pub(super) path: Option<PathBuf>,
    /// Environment to build and deploy; its `context`, `kubeconfig` and `namespace` choose the
    /// cluster.
    #[arg(long, short)]
    pub(super) env: String,
    /// Kubeconfig context to use instead of the environment's `context`.
    #[arg(long)]
    pub(super) context: Option<String>,
    /// Kubeconfig file to read instead of the environment's `kubeconfig`, `KUBECONFIG` (which
    /// may list several files) or `~/.kube/config`.
    #[arg(long)]
    pub(super) kubeconfig: Option<PathBuf>,
}

/// Where the manifests come from and which cluster they go to, and how to apply them.
#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    pub(super) place: Place,
    /// Take over fields another field manager owns (otherwise such a conflict stops the apply).
    #[arg(long)]
    pub(super) force_conflicts: bool,
    /// Delete (or, in diff and plan, show) members of this package's ApplySet that are no
    /// longer emitted. `--prune=false` leaves them.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub(super) prune: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Human)]
    pub(super) output: Output,
}

/// Show what `kdep apply` would change, object by object.
///
/// Every object is applied with a server-side dry run (field manager `kdep`) and compared
/// with the live object, so server defaults and fields other managers own never show. Secret
/// values are masked. Exit 0: no changes; 1: changes; 2: error.
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    common: Common,
}

/// Write a reviewable plan: per-object actions and diffs, the live versions they were
/// computed against, and the exact manifests to apply.
#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    common: Common,
    /// Plan file to write (atomically).
    #[arg(long)]
    out: PathBuf,
    /// Also write a Markdown summary (for a merge request comment).
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// POST a JSON summary to this webhook when the plan changes something.
    #[arg(long)]
    notify: Option<String>,
}

/// Apply the package to the environment's cluster (server-side apply, field manager `kdep`).
///
/// Order: namespaces, CRDs (waits until Established), everything else; apps declared
/// `@after(app = "db")` go in waves, each wave's rollouts ready before the next. Then prunes
/// what this package applied before and no longer emits, then waits for rollouts. Objects that would not
/// change are not written. A protected environment takes a reviewed plan only (`--plan`).
/// Exit 0: applied and ready; 1: conflicts, failed objects or rollouts not ready; 2: nothing
/// was changed (bad input, unreachable cluster, refused credentials, stale plan).
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    common: Common,
    /// Apply this plan (written by `kdep plan`), refusing it when it is stale.
    #[arg(long)]
    plan: Option<PathBuf>,
    /// Show what would be applied and apply nothing.
    #[arg(long)]
    dry_run: bool,
    /// Wait for rollouts (Deployment, StatefulSet, DaemonSet, Job, Argo Rollout).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    wait: bool,
    /// How long to wait for CRDs and rollouts, e.g. `90s`, `5m`.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, "s"), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|_| format!("`{s}` is not a duration (use e.g. 90s, 5m, 1h)"))?;
    let secs = match unit {
        // Milliseconds: for short `drift --watch` intervals.
        "ms" => return Ok(Duration::from_millis(n)),
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("`{s}` is not a duration (use e.g. 90s, 5m, 1h)")),
    };
    Ok(Duration::from_secs(secs))
}

/// A built package ready for the cluster.
pub(super) struct Prepared {
    pub(super) settings: Settings,
    pub(super) target: Target,
    pub(super) manifests: Vec<Value>,
    pub(super) root: PathBuf,
}

pub(super) fn fail(err: &Error) -> Exit {
    report::print_error(&err.message, err.hint.as_deref());
    Exit::Usage
}

impl Common {
    /// [`Common::prepare`], then the async runtime the cluster calls run on.
    pub(super) fn prepare_with_runtime(&self, ctx: &Ctx) -> Result<(Prepared, tokio::runtime::Runtime), Exit> {
        let prepared = self.prepare(ctx)?;
        Ok((prepared, runtime()?))
    }

    /// Builds the package for the environment; any problem is reported and is exit 2 (a
    /// cluster command never runs on sources that do not build).
    fn prepare(&self, ctx: &Ctx) -> Result<Prepared, Exit> {
        let ws = load_workspace(self.place.path.as_deref())?;
        let envs = ws.environments();
        let Some(env) = envs.iter().find(|e| e.name == self.place.env) else {
            let names: Vec<&str> = envs.iter().map(|e| e.name.as_str()).collect();
            let hint = if names.is_empty() {
                "the package declares no environment; add one (`environment staging { context = \"...\", namespace = \"...\" }`)".to_owned()
            } else {
                format!("declared environments: {}", names.join(", "))
            };
            report::print_error(
                format!("unknown environment `{}` in package `{}`", self.place.env, ws.package_name()),
                Some(&hint),
            );
            return Err(Exit::Usage);
        };
        let build = ws.build(Some(&self.place.env));
        if !build.diagnostics.is_empty() {
            let sources = ws.sources(ctx.cwd.as_deref());
            let mut stderr = std::io::stderr().lock();
            let _ =
                report::print_diagnostics(&build.diagnostics, &sources, MessageFormat::Human, ctx.color, &mut stderr);
        }
        if build.has_errors() {
            report::print_error("the package does not build; nothing was sent to the cluster", None);
            return Err(Exit::Usage);
        }
        let mut manifests = Vec::with_capacity(build.manifests.len());
        for m in &build.manifests {
            let text = kdep_compiler::emit::to_json(std::slice::from_ref(&m.object));
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => manifests.push(v),
                Err(e) => {
                    report::print_error(format!("internal error converting {} {}: {e}", m.kind, m.name), None);
                    return Err(Exit::Usage);
                }
            }
        }
        let prepared = Prepared {
            settings: Settings {
                package: ws.package_name().to_owned(),
                env: env.name.clone(),
                namespace: env.namespace.clone(),
                protected: env.protected,
            },
            target: Target {
                // --kubeconfig, else the environment's file (relative to the package root),
                // else KUBECONFIG / ~/.kube/config as kubectl reads them.
                kubeconfig: self
                    .place
                    .kubeconfig
                    .clone()
                    .or_else(|| env.kubeconfig.as_deref().map(|k| env_kubeconfig(ws.root_dir(), k))),
                context: self.place.context.clone().or_else(|| env.context.clone()),
            },
            manifests,
            root: ws.root_dir().to_path_buf(),
        };
        super::release_at_exit(build);
        super::release_at_exit(ws);
        Ok(prepared)
    }

    fn preview_options(&self) -> PreviewOptions {
        PreviewOptions { force_conflicts: self.force_conflicts, prune: self.prune }
    }
}

/// An environment's `kubeconfig`: `~/` is the home folder (as people write it for kubectl),
/// a relative path is relative to the package root, so the package works from any folder.
fn env_kubeconfig(root: &Path, written: &str) -> PathBuf {
    match (written.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => root.join(written),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| {
        report::print_error(format!("cannot start the async runtime: {e}"), None);
        Exit::Usage
    })
}

/// Colour for stdout: as `--color` says, and on `auto` only on a terminal without `NO_COLOR`.
pub(super) fn stdout_colour(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
        }
    }
}

/// Objects a preview could not check: reported, and the command stops (exit 2).
fn report_errors(preview: &Preview) -> Result<(), Exit> {
    let errors: Vec<_> = preview.errors().collect();
    if errors.is_empty() {
        return Ok(());
    }
    for o in &errors {
        report::print_error(format!("{}: {}", o.key, o.error.as_deref().unwrap_or_default()), None);
    }
    report::print_error(
        format!("{} object(s) could not be checked against the cluster; nothing was changed", errors.len()),
        Some("fix the objects named above (or the permissions of this identity) and run again"),
    );
    Err(Exit::Usage)
}

fn summary_line(s: &Summary) -> String {
    format!("{} to create, {} to update, {} to prune, {} unchanged", s.create, s.update, s.prune, s.unchanged)
}

/// The human rendering of a preview: one block per object that changes.
fn render_preview(preview: &Preview, colour: bool) -> String {
    let mut out = String::new();
    for o in preview.objects.iter().filter(|o| o.action != Action::Unchanged) {
        let sign = match o.action {
            Action::Create => "+",
            Action::Update => "~",
            Action::Prune => "-",
            Action::Unchanged => " ",
        };
        out.push_str(&format!("{sign} {} {}\n", o.action.as_str(), o.key));
        if let Some(c) = &o.conflict {
            out.push_str(&format!("  ! conflict: {c}\n"));
        }
        if let Some(n) = &o.note {
            out.push_str(&format!("  note: {n}\n"));
        }
        if !o.diff.is_empty() {
            out.push_str(&if colour { diff::colour(&o.diff) } else { o.diff.clone() });
        }
    }
    if !preview.waves.is_empty() {
        out.push_str(&format!("apply order: {}\n", plan::wave_line(&preview.waves)));
    }
    out.push_str(&format!("{}\n", summary_line(&Summary::of(preview))));
    out
}

fn preview_json(p: &Prepared, session: &Session, preview: &Preview) -> Value {
    json!({
        "package": p.settings.package,
        "environment": p.settings.env,
        "context": session.context,
        "summary": Summary::of(preview),
        "objects": preview.objects.iter().filter(|o| o.action != Action::Unchanged).collect::<Vec<_>>(),
        "waves": preview.waves,
    })
}

pub(super) fn print_stdout(text: &str) -> Result<(), Exit> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if report::is_broken_pipe(&e) => Ok(()),
        Err(e) => {
            report::print_error(format!("cannot write to stdout: {e}"), None);
            Err(Exit::Usage)
        }
    }
}

fn print_conflicts(preview: &Preview) {
    for o in preview.conflicts() {
        report::print_error(format!("conflict on {}: {}", o.key, o.conflict.as_deref().unwrap_or_default()), None);
    }
}

const CONFLICT_HINT: &str =
    "another field manager owns these fields: change the sources to agree, or take them over with --force-conflicts";

impl DiffArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let (p, rt) = match self.common.prepare_with_runtime(ctx) {
            Ok(started) => started,
            Err(e) => return e,
        };
        rt.block_on(async {
            let session = match connect(&p.target).await {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let preview =
                match engine::preview(&session, &p.settings, &p.manifests, self.common.preview_options()).await {
                    Ok(pr) => pr,
                    Err(e) => return fail(&e),
                };
            if let Err(code) = report_errors(&preview) {
                return code;
            }
            let text = match self.common.output {
                Output::Human => render_preview(&preview, stdout_colour(ctx.color)),
                Output::Json => format!("{:#}\n", preview_json(&p, &session, &preview)),
            };
            if let Err(code) = print_stdout(&text) {
                return code;
            }
            if preview.conflicts().next().is_some() {
                print_conflicts(&preview);
                report::print_error("applying would fail with conflicts", Some(CONFLICT_HINT));
                return Exit::Usage;
            }
            if preview.has_changes() {
                Exit::SourceErrors
            } else {
                Exit::Success
            }
        })
    }
}

/// The package's git revision, found by the CLI (the compiler does no IO): HEAD's commit and
/// whether the package folder has uncommitted changes.
fn source_of(root: &Path, manifests: &[Value]) -> Source {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "HEAD"]).filter(|c| !c.is_empty());
    let dirty = commit.is_some() && git(&["status", "--porcelain", "--", "."]).is_some_and(|s| !s.is_empty());
    Source { commit, dirty, digest: plan::digest(manifests) }
}

fn replan_hint(env: &str) -> String {
    format!("write a new plan and have it reviewed: kdep plan --env {env} --out plan.json, then kdep apply --env {env} --plan plan.json")
}

impl PlanArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let (p, rt) = match self.common.prepare_with_runtime(ctx) {
            Ok(started) => started,
            Err(e) => return e,
        };
        let made = rt.block_on(async {
            let session = connect(&p.target).await.map_err(|e| fail(&e))?;
            let preview = engine::preview(&session, &p.settings, &p.manifests, self.common.preview_options())
                .await
                .map_err(|e| fail(&e))?;
            report_errors(&preview)?;
            let source = source_of(&p.root, &p.manifests);
            Ok::<_, Exit>((
                Plan::new(
                    &p.settings.package,
                    &p.settings.env,
                    &session.context,
                    &session.server,
                    source,
                    &preview,
                    p.manifests.clone(),
                ),
                preview,
            ))
        });
        let (plan, preview) = match made {
            Ok(x) => x,
            Err(code) => return code,
        };
        let text = match serde_json::to_string_pretty(&plan) {
            Ok(t) => t + "\n",
            Err(e) => {
                report::print_error(format!("cannot encode the plan: {e}"), None);
                return Exit::Usage;
            }
        };
        if let Err(e) = write_atomic(&self.out, text.as_bytes()) {
            report::print_error(format!("cannot write `{}`: {e}", self.out.display()), None);
            return Exit::Usage;
        }
        if let Some(md) = &self.markdown {
            if let Err(e) = write_atomic(md, plan.markdown().as_bytes()) {
                report::print_error(format!("cannot write `{}`: {e}", md.display()), None);
                return Exit::Usage;
            }
        }
        let shown = match self.common.output {
            Output::Human => render_preview(&preview, stdout_colour(ctx.color)),
            Output::Json => {
                format!("{:#}\n", json!({"plan": self.out, "summary": plan.summary, "source": plan.source}))
            }
        };
        if let Err(code) = print_stdout(&shown) {
            return code;
        }
        eprintln!("wrote plan {} ({})", self.out.display(), summary_line(&plan.summary));
        if let Some(url) = &self.notify {
            if plan.summary.changes() > 0 {
                if let Err(msg) = notify(url, &plan) {
                    report::print_error(
                        format!("the plan was written to {}, but notifying {url} failed: {msg}", self.out.display()),
                        Some("check the webhook URL and that it answers within 10 s"),
                    );
                    return Exit::Usage;
                }
                eprintln!("notified {url}");
            }
        }
        Exit::Success
    }
}

/// POSTs the plan summary (Slack-compatible `text`, plus the details as JSON).
fn notify(url: &str, plan: &Plan) -> Result<(), String> {
    post_webhook(
        url,
        &json!({
            "text": plan.text(),
            "package": plan.package,
            "environment": plan.environment,
            "context": plan.context,
            "source": plan.source,
            "summary": plan.summary,
            "markdown": plan.markdown(),
        }),
    )
}

/// How long a webhook may take to answer before kdep gives up on it.
pub(super) const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs a JSON document to a webhook (plan notifications, drift alerts); an answer other
/// than 2xx, or none within [`WEBHOOK_TIMEOUT`], is an error.
pub(super) fn post_webhook(url: &str, body: &Value) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(WEBHOOK_TIMEOUT)).build().into();
    agent.post(url).header("content-type", "application/json").send(body.to_string()).map(|_| ()).map_err(|e| match e {
        ureq::Error::Timeout(_) => format!("no answer within {} s", WEBHOOK_TIMEOUT.as_secs()),
        other => other.to_string(),
    })
}

impl ApplyArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let p = match self.common.prepare(ctx) {
            Ok(p) => p,
            Err(e) => return e,
        };
        let plan = match &self.plan {
            None if p.settings.protected && !self.dry_run => {
                report::print_error(
                    format!("environment `{}` is protected: it takes reviewed plans only", p.settings.env),
                    Some(&replan_hint(&p.settings.env)),
                );
                return Exit::Usage;
            }
            None => None,
            Some(path) => match load_plan(path, &p) {
                Ok(plan) => Some(plan),
                Err(e) => return fail(&e),
            },
        };
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(e) => return e,
        };
        rt.block_on(self.apply(ctx, &p, plan))
    }

    async fn apply(&self, ctx: &Ctx, p: &Prepared, plan: Option<Plan>) -> Exit {
        let session = match connect(&p.target).await {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
        let manifests = plan.as_ref().map_or(&p.manifests, |pl| &pl.manifests);
        let preview = match engine::preview(&session, &p.settings, manifests, self.common.preview_options()).await {
            Ok(pr) => pr,
            Err(e) => return fail(&e),
        };
        if let Err(code) = report_errors(&preview) {
            return code;
        }
        if let Some(plan) = &plan {
            let reasons = plan.stale_reasons(&preview);
            if !reasons.is_empty() {
                for r in &reasons {
                    eprintln!("  {r}");
                }
                report::print_error(
                    format!("the plan is stale: the cluster changed since it was written ({} object(s)); nothing was applied", reasons.len()),
                    Some(&replan_hint(&p.settings.env)),
                );
                return Exit::Usage;
            }
        }
        if preview.conflicts().next().is_some() {
            print_conflicts(&preview);
            report::print_error(
                "nothing was applied: the apply would take fields another manager owns",
                Some(CONFLICT_HINT),
            );
            return Exit::SourceErrors;
        }
        if self.dry_run {
            let text = match self.common.output {
                Output::Human => render_preview(&preview, stdout_colour(ctx.color)),
                Output::Json => format!("{:#}\n", preview_json(p, &session, &preview)),
            };
            eprintln!("dry run: nothing was applied");
            return print_stdout(&text).err().unwrap_or(Exit::Success);
        }
        let source = plan.as_ref().map_or_else(|| source_of(&p.root, &p.manifests), |pl| pl.source.clone());
        let opts = ApplyOptions {
            force_conflicts: self.common.force_conflicts,
            prune: self.common.prune,
            revision: Some(source.revision()),
            timeout: self.timeout,
        };
        // Between the waves of a declared apply order: the same rollout wait as after the apply
        // (with or without `--wait`: the order is the package's, the flag is about the end).
        let waves = preview.waves.len();
        let timeout = self.timeout;
        let session_ref = &session;
        let mut wait_wave = move |i: usize, wave: kdep_cluster::order::Wave| -> engine::WaveWait<'_> {
            Box::pin(async move {
                eprintln!("wave {} of {waves} applied ({}): waiting for its rollouts", i + 1, wave.apps.join(", "));
                wait_rollouts(session_ref, &wave.objects, timeout).await
            })
        };
        let report = match engine::apply(&session, &p.settings, &preview, &opts, &mut wait_wave).await {
            Ok(r) => r,
            Err(e) => return fail(&e),
        };
        let human = self.common.output == Output::Human;
        if human {
            let mut text = String::new();
            for k in &report.created {
                text.push_str(&format!("created {k}\n"));
            }
            for k in &report.updated {
                text.push_str(&format!("updated {k}\n"));
            }
            for k in &report.pruned {
                text.push_str(&format!("pruned {k}\n"));
            }
            for (k, why) in &report.prune_skipped {
                text.push_str(&format!("not pruned {k}: {why}\n"));
            }
            text.push_str(&format!(
                "{} created, {} updated, {} pruned, {} unchanged\n",
                report.created.len(),
                report.updated.len(),
                report.pruned.len(),
                report.unchanged
            ));
            if let Err(code) = print_stdout(&text) {
                return code;
            }
        }
        if !report.ok() {
            for (k, why) in &report.conflicts {
                report::print_error(format!("conflict on {k}: {why}"), None);
            }
            for (k, why) in &report.failed {
                report::print_error(format!("{k} was not applied: {why}"), None);
            }
            for (k, why) in &report.not_ready {
                let ex = kdep_cluster::explain::explain_key(&session, k).await;
                report::print_error(
                    format!("{k} did not become ready: {}", kdep_cluster::explain::printable(why)),
                    None,
                );
                eprint!("{}", ex.render("  "));
            }
            let total = preview.objects.iter().filter(|o| o.action != Action::Prune).count();
            let done = report.created.len() + report.updated.len() + report.unchanged;
            let mut msg = format!("the apply did not complete: {done} of {total} objects are applied");
            if let Some(w) = report.stopped_at_wave {
                let apps = preview.waves.get(w - 1).map(|x| x.apps.join(", ")).unwrap_or_default();
                msg.push_str(&format!("; stopped at wave {w} of {} ({apps})", preview.waves.len()));
            }
            if !report.not_attempted.is_empty() {
                let names: Vec<String> = report.not_attempted.iter().map(ToString::to_string).collect();
                msg.push_str(&format!("; not attempted ({}): {}", names.len(), names.join(", ")));
            }
            report::print_error(
                msg,
                Some("fix the cause named above and run the same command again: applying is idempotent"),
            );
            if !human {
                let _ = print_stdout(&format!("{:#}\n", json!({"applied": false, "report": report})));
            }
            return Exit::SourceErrors;
        }
        let mut not_ready = Vec::new();
        if self.wait {
            let keys: Vec<ObjKey> =
                preview.objects.iter().filter(|o| o.action != Action::Prune).map(|o| o.key.clone()).collect();
            not_ready = wait_rollouts(&session, &keys, self.timeout).await;
        }
        // Why each did not become ready: failing pods, warning events, the log's last lines.
        let mut explained = Vec::with_capacity(not_ready.len());
        for (k, why) in &not_ready {
            let ex = kdep_cluster::explain::explain_key(&session, k).await;
            let why = kdep_cluster::explain::printable(why);
            report::print_error(format!("{k} did not become ready: {why}"), None);
            // Plain lines, not wrapped like the error above: log lines and messages stay whole.
            eprint!("{}", ex.render("  "));
            explained.push(ex);
        }
        if !human {
            let ready = not_ready.is_empty();
            let nr: Vec<Value> = not_ready
                .iter()
                .zip(&explained)
                .map(|((k, w), ex)| json!({"object": k, "reason": w, "explanation": ex}))
                .collect();
            if let Err(code) = print_stdout(&format!(
                "{:#}\n",
                json!({"applied": true, "ready": ready, "notReady": nr, "report": report})
            )) {
                return code;
            }
        }
        if not_ready.is_empty() {
            Exit::Success
        } else {
            Exit::SourceErrors
        }
    }
}

/// Waits for the rollouts of `keys`, with a progress bar on a terminal and a plain line per
/// state change otherwise.
async fn wait_rollouts(session: &Session, keys: &[ObjKey], timeout: Duration) -> Vec<(ObjKey, String)> {
    let workloads: Vec<ObjKey> = keys.iter().filter(|k| rollout::is_workload(k)).cloned().collect();
    if workloads.is_empty() {
        return Vec::new();
    }
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(workloads.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} rollouts {pos}/{len} ready  {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        let mut on_change = |k: &ObjKey, st: &State| match st {
            State::Ready => bar.inc(1),
            State::Waiting(w) => bar.set_message(format!("{k}: {w}")),
            State::Failed(w) => bar.println(format!("{k} failed: {w}")),
        };
        let failed = rollout::wait(session, &workloads, timeout, &mut on_change).await;
        bar.finish_and_clear();
        failed
    } else {
        let mut on_change = |k: &ObjKey, st: &State| match st {
            State::Ready => eprintln!("ready {k}"),
            State::Waiting(w) => eprintln!("waiting for {k}: {w}"),
            State::Failed(w) => eprintln!("failed {k}: {w}"),
        };
        rollout::wait(session, &workloads, timeout, &mut on_change).await
    }
}

/// Reads a plan and checks it belongs to this package and environment and that the sources
/// still build to its manifests.
fn load_plan(path: &Path, p: &Prepared) -> Result<Plan, Error> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::new(format!("cannot read plan `{shown}`: {e}")).hint("pass the file `kdep plan --out` wrote")
    })?;
    let plan = Plan::parse(&text, &shown)?;
    if plan.package != p.settings.package || plan.environment != p.settings.env {
        return Err(Error::new(format!(
            "`{shown}` is a plan for package `{}`, environment `{}`, not `{}`, `{}`",
            plan.package, plan.environment, p.settings.package, p.settings.env
        ))
        .hint("pass the plan written for this package and environment"));
    }
    if plan.source.digest != plan::digest(&p.manifests) {
        return Err(Error::new(format!("the sources changed since `{shown}` was written; nothing was applied"))
            .hint(replan_hint(&p.settings.env)));
    }
    Ok(plan)
}
