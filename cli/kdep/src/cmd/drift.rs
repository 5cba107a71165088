//! `kdep drift`: does the cluster still hold what the package defines? Once, or every
//! interval with `--watch`, alerting a webhook when the answer changes. It only reads.

use std::time::Duration;

use clap::Args;
use kdep_cluster::drift::{self, Report, State};
use kdep_cluster::{connect, diff, Session};
use serde_json::{json, Value};

use super::cluster::{self, Common, Output, Place, Prepared};
use super::{Ctx, Exit};
use crate::report;

/// Report where the cluster differs from the package (changed fields and who changed them).
///
/// Fields kdep set that hold other values now, with the field manager that changed them and
/// when; objects that are missing; objects labelled as members of the package's ApplySet that
/// it no longer emits. Only reads: the comparison is the server-side dry run `kdep diff` uses, so server defaults,
/// fields other managers own and equivalent quantities are never drift.
/// Exit 0: in sync; 3: drift; 2: error. With `--watch` it keeps checking until interrupted:
/// on SIGINT or SIGTERM it finishes the check under way, prints a one-line summary and exits
/// with the last state's code (0 in sync, 3 drift, 2 when no check succeeded).
#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    place: Place,
    /// Output format (`json`: one document per report; with `--watch`, one line per change).
    #[arg(long, short, value_enum, default_value_t = Output::Human)]
    output: Output,
    /// Keep checking every `--interval`; API errors are retried with backoff.
    #[arg(long)]
    watch: bool,
    /// Time between checks with `--watch`, e.g. `30s`, `5m`.
    #[arg(long, default_value = "60s", value_parser = cluster::parse_duration, requires = "watch")]
    interval: Duration,
    /// POST a JSON alert (with a Slack-compatible `text`) here: once when drift is found, and
    /// with `--watch` whenever the drift state changes (drift found, changed, or resolved).
    #[arg(long)]
    webhook: Option<String>,
}

/// Exit status of drift: the cluster differs from the package.
const DRIFTED: Exit = Exit::Drifted;

/// Longest wait between checks after repeated API errors.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl DriftArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let common = Common { place: self.place.clone(), force_conflicts: true, prune: true, output: self.output };
        let (p, rt) = match common.prepare_with_runtime(ctx) {
            Ok(started) => started,
            Err(e) => return e,
        };
        rt.block_on(async {
            let session = match connect(&p.target).await {
                Ok(s) => s,
                Err(e) => return cluster::fail(&e),
            };
            if self.watch {
                self.watch(ctx, &p, &session).await
            } else {
                self.once(ctx, &p, &session).await
            }
        })
    }

    async fn once(&self, ctx: &Ctx, p: &Prepared, session: &Session) -> Exit {
        let report = match drift::detect(session, &p.settings, &p.manifests).await {
            Ok(r) => r,
            Err(e) => return cluster::fail(&e),
        };
        if let Err(code) = cluster::print_stdout(&self.render(ctx, p, session, &report)) {
            return code;
        }
        if report.in_sync() {
            return Exit::Success;
        }
        if let Some(url) = &self.webhook {
            if let Err(msg) = cluster::post_webhook(url, &alert(p, session, &report)) {
                report::print_error(
                    format!("drift was found, but notifying {url} failed: {msg}"),
                    Some("check the webhook URL and that it answers within 10 s"),
                );
                return Exit::Usage;
            }
            eprintln!("notified {url}");
        }
        DRIFTED
    }

    /// Checks every interval. The report is printed, and the webhook called, only when the
    /// drift state changes; an in-sync start is not news. A failed check (API error) does not
    /// change the state: it is logged and retried with exponential backoff. SIGINT or SIGTERM
    /// stops the watch: during a check, once the check (and its webhook call) is done, so an
    /// alert is never cut in half; between checks, at once.
    async fn watch(&self, ctx: &Ctx, p: &Prepared, session: &Session) -> Exit {
        let mut shown: Option<String> = None;
        let mut delivered: Option<String> = None;
        let mut failures: u32 = 0;
        // Installed before the first check, so a signal during it is ours, not a kill.
        let stop = match stop_signal() {
            Ok(stop) => stop,
            Err(e) => {
                report::print_error(format!("cannot listen for SIGINT and SIGTERM: {e}"), None);
                return Exit::Usage;
            }
        };
        tokio::pin!(stop);
        let mut stopped_by: Option<&'static str> = None;
        // The last state a check found: in sync or not.
        let mut last_in_sync: Option<bool> = None;
        let mut checks: u64 = 0;
        for check in 1u64.. {
            let detect = drift::detect(session, &p.settings, &p.manifests);
            tokio::pin!(detect);
            let result = tokio::select! {
                r = &mut detect => r,
                name = &mut stop => {
                    stopped_by = Some(name);
                    detect.await
                }
            };
            checks = check;
            let wait = match result {
                Ok(report) => {
                    failures = 0;
                    last_in_sync = Some(report.in_sync());
                    let state = fingerprint(&report);
                    let status = if report.in_sync() {
                        "in sync".to_owned()
                    } else {
                        format!("drift: {}", report.summary_line())
                    };
                    eprintln!("check {check}: {status}");
                    if shown.as_ref() != Some(&state) {
                        let text = match self.output {
                            Output::Human => self.render(ctx, p, session, &report),
                            Output::Json => format!("{}\n", document(p, session, &report)),
                        };
                        if let Err(code) = cluster::print_stdout(&text) {
                            return code;
                        }
                        shown = Some(state.clone());
                    }
                    if let Some(url) = &self.webhook {
                        if delivered.is_none() && report.in_sync() {
                            delivered = Some(state);
                        } else if delivered.as_ref() != Some(&state) {
                            match cluster::post_webhook(url, &alert(p, session, &report)) {
                                Ok(()) => {
                                    eprintln!("notified {url}");
                                    delivered = Some(state);
                                }
                                // Not delivered: the next check tries again.
                                Err(msg) => eprintln!("warning: notifying {url} failed: {msg}"),
                            }
                        }
                    }
                    self.interval
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(self.interval, failures);
                    if stopped_by.is_none() {
                        eprintln!("check {check} failed: {}; trying again in {}", e.message, show_duration(wait));
                    } else {
                        eprintln!("check {check} failed: {}", e.message);
                    }
                    wait
                }
            };
            if stopped_by.is_some() {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                name = &mut stop => {
                    stopped_by = Some(name);
                    break;
                }
            }
        }
        let (state, code) = match last_in_sync {
            Some(true) => ("in sync", Exit::Success),
            Some(false) => ("drift", DRIFTED),
            None => ("no check succeeded", Exit::Usage),
        };
        let checks = if checks == 1 { "1 check".to_owned() } else { format!("{checks} checks") };
        eprintln!("stopped by {} after {checks}; last state: {state}", stopped_by.unwrap_or("a signal"));
        code
    }

    fn render(&self, ctx: &Ctx, p: &Prepared, session: &Session, report: &Report) -> String {
        match self.output {
            Output::Json => format!("{:#}\n", document(p, session, report)),
            Output::Human => {
                let text = human(report);
                if cluster::stdout_colour(ctx.color) {
                    diff::colour(&text)
                } else {
                    text
                }
            }
        }
    }
}

/// Resolves with the signal's name on the first SIGINT or SIGTERM (Ctrl-C elsewhere). The
/// handlers are installed when this is called, not when the future is first polled.
#[cfg(unix)]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

#[cfg(not(unix))]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    })
}

/// The wait after `failures` failed checks in a row: the interval doubled per failure, at
/// most [`MAX_BACKOFF`] (or the interval, when that is longer).
fn backoff(interval: Duration, failures: u32) -> Duration {
    let cap = MAX_BACKOFF.max(interval);
    interval.saturating_mul(1u32 << failures.min(16)).min(cap)
}

fn show_duration(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// What identifies a drift state: the objects out of sync, their fields, values and owners.
fn fingerprint(report: &Report) -> String {
    serde_json::to_string(&report.objects).unwrap_or_default()
}

/// The report for people: one block per object out of sync, then the counts.
fn human(report: &Report) -> String {
    let mut out = String::new();
    for o in &report.objects {
        let sign = match o.state {
            State::Modified => "~",
            State::Missing => "-",
            State::Extra => "+",
        };
        out.push_str(&format!("{sign} {} {}\n", o.state.as_str(), o.key));
        for f in &o.fields {
            let who = match (&f.changed_by, f.not_applied) {
                (Some(by), _) => {
                    let at = by.time.as_deref().map(|t| format!(" at {t}")).unwrap_or_default();
                    format!("changed by {} ({}){at}", by.manager, by.operation)
                }
                (None, true) => "the sources changed since the last apply".to_owned(),
                (None, false) => "no field manager owns it now".to_owned(),
            };
            out.push_str(&format!(
                "    {}: {} in the cluster, {} in the package; {who}\n",
                f.path,
                drift::show(f.live.as_ref()),
                drift::show(f.desired.as_ref())
            ));
        }
        if let Some(n) = &o.note {
            out.push_str(&format!("    note: {n}\n"));
        }
    }
    out.push_str(&format!("{}\n", report.summary_line()));
    out
}

/// The `-o json` document.
fn document(p: &Prepared, session: &Session, report: &Report) -> Value {
    json!({
        "package": p.settings.package,
        "environment": p.settings.env,
        "context": session.context,
        "inSync": report.in_sync(),
        "summary": report.summary,
        "objects": report.objects,
    })
}

/// The webhook payload: the `-o json` document plus `event` and a Slack-compatible `text`.
fn alert(p: &Prepared, session: &Session, report: &Report) -> Value {
    let mut doc = document(p, session, report);
    let head = format!("kdep drift: package `{}`, environment `{}`", p.settings.package, p.settings.env);
    let text = if report.in_sync() {
        format!("{head}: in sync again")
    } else {
        let mut t = format!("{head}: {}", report.summary_line());
        for o in report.objects.iter().take(20) {
            t.push_str(&format!("\n• {} {}", o.state.as_str(), o.key));
            let fields: Vec<String> = o
                .fields
                .iter()
                .map(|f| match &f.changed_by {
                    Some(by) => format!("{} (by {})", f.path, by.manager),
                    None => f.path.clone(),
                })
                .collect();
            if !fields.is_empty() {
                t.push_str(&format!(": {}", fields.join(", ")));
            }
        }
        if report.objects.len() > 20 {
            t.push_str(&format!("\n… and {} more", report.objects.len() - 20));
        }
        t
    };
    if let Some(m) = doc.as_object_mut() {
        m.insert("event".into(), json!(if report.in_sync() { "in-sync" } else { "drift" }));
        m.insert("text".into(), json!(text));
    }
    doc
}
