//! Reviewable plans: what `kdep plan` writes and `kdep apply --plan` carries out, with what
//! the plan was computed against (source revision and digest, live resourceVersions) so a
//! stale plan is refused instead of applied.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::engine::{ObjectPreview, Preview};
use crate::error::Error;
use crate::object::{Action, ObjKey};
use crate::order::Wave;

/// The `format` of plans this version writes and reads.
pub const FORMAT: &str = "kdep.io/plan/v1";

/// Where the manifests came from.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Source {
    /// `git rev-parse HEAD` of the package's repository, if it is in one.
    pub commit: Option<String>,
    /// Whether the package's files differ from that commit.
    pub dirty: bool,
    /// SHA-256 of the manifests (what decides whether the sources changed).
    pub digest: String,
}

impl Source {
    /// The revision string recorded on the ApplySet parent.
    pub fn revision(&self) -> String {
        match (&self.commit, self.dirty) {
            (Some(c), false) => c.clone(),
            (Some(c), true) => format!("{c}-dirty-{}", self.digest.get(..12).unwrap_or(&self.digest)),
            (None, _) => format!("sha256:{}", self.digest),
        }
    }
}

/// Counts per action.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub prune: usize,
    pub unchanged: usize,
}

impl Summary {
    pub fn of(preview: &Preview) -> Summary {
        Summary {
            create: preview.count(Action::Create),
            update: preview.count(Action::Update),
            prune: preview.count(Action::Prune),
            unchanged: preview.count(Action::Unchanged),
        }
    }

    pub fn changes(&self) -> usize {
        self.create + self.update + self.prune
    }
}

/// A plan file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub package: String,
    pub environment: String,
    pub context: String,
    pub server: String,
    pub source: Source,
    pub summary: Summary,
    /// Per object: action, masked diff, and the live resourceVersion it was computed against.
    pub objects: Vec<ObjectPreview>,
    /// The declared apply order, wave by wave (absent when no app declares one). For review
    /// only: `apply --plan` computes the waves again from the plan's manifests.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub waves: Vec<Wave>,
    /// The exact manifests to apply (secret values included: the plan is as sensitive as the
    /// sources; only its human parts are masked).
    pub manifests: Vec<Value>,
}

/// `1. db, web → 2. api`: the waves of a declared apply order on one line.
pub fn wave_line(waves: &[Wave]) -> String {
    waves.iter().enumerate().map(|(i, w)| format!("{}. {}", i + 1, w.apps.join(", "))).collect::<Vec<_>>().join(" → ")
}

/// SHA-256 (hex) of a list of manifests, in order.
pub fn digest(manifests: &[Value]) -> String {
    let mut h = Sha256::new();
    for m in manifests {
        h.update(serde_json::to_vec(m).unwrap_or_default());
        h.update(b"\n");
    }
    h.finalize().iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl Plan {
    pub fn new(
        package: &str,
        env: &str,
        context: &str,
        server: &str,
        source: Source,
        preview: &Preview,
        manifests: Vec<Value>,
    ) -> Plan {
        Plan {
            format: FORMAT.into(),
            package: package.into(),
            environment: env.into(),
            context: context.into(),
            server: server.into(),
            source,
            summary: Summary::of(preview),
            objects: preview.objects.clone(),
            waves: preview.waves.clone(),
            manifests,
        }
    }

    /// Reads a plan, refusing anything that is not a plan of this format.
    pub fn parse(text: &str, path: &str) -> Result<Plan, Error> {
        let v: Value = serde_json::from_str(text).map_err(|e| {
            Error::new(format!("`{path}` is not a kdep plan: {e}"))
                .hint("write a new one with `kdep plan --env ENV --out FILE`")
        })?;
        match v.get("format").and_then(Value::as_str) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(Error::new(format!("`{path}` is a plan of format `{other}`; this kdep reads `{FORMAT}`"))
                    .hint("write the plan again with this version of kdep"))
            }
            None => {
                return Err(Error::new(format!("`{path}` is not a kdep plan (no `format` field)"))
                    .hint("write one with `kdep plan --env ENV --out FILE`"))
            }
        }
        let plan: Plan = serde_json::from_value(v).map_err(|e| {
            Error::new(format!("`{path}` is a damaged kdep plan: {e}")).hint("write a new one with `kdep plan`")
        })?;
        if plan.source.digest != digest(&plan.manifests) {
            return Err(Error::new(format!(
                "`{path}` was modified after it was written: its manifests do not match its digest"
            ))
            .hint("write a new plan with `kdep plan`; never edit a plan by hand"));
        }
        Ok(plan)
    }

    /// Why this plan may not be applied now, judged against a fresh preview of its manifests:
    /// any object changed, appeared or vanished since, or a different set to prune.
    pub fn stale_reasons(&self, fresh: &Preview) -> Vec<String> {
        let now: BTreeMap<&ObjKey, &ObjectPreview> = fresh.objects.iter().map(|o| (&o.key, o)).collect();
        let mut reasons = Vec::new();
        for o in &self.objects {
            let cur = now.get(&o.key);
            let cur_rv = cur.and_then(|c| c.live_resource_version.as_ref());
            if cur_rv != o.live_resource_version.as_ref() {
                let what = match (&o.live_resource_version, cur_rv) {
                    (None, Some(_)) => "now exists (the plan would create it)".to_owned(),
                    (Some(_), None) => "no longer exists".to_owned(),
                    (Some(a), Some(b)) => format!("changed since the plan (resourceVersion {a} → {b})"),
                    (None, None) => continue,
                };
                reasons.push(format!("{} {what}", o.key));
            }
        }
        let pruned = |objs: &mut dyn Iterator<Item = &ObjectPreview>| -> BTreeSet<(ObjKey, Option<String>)> {
            objs.filter(|o| o.action == Action::Prune).map(|o| (o.key.clone(), o.live_uid.clone())).collect()
        };
        let planned = pruned(&mut self.objects.iter());
        let current = pruned(&mut fresh.objects.iter());
        for (k, _) in current.difference(&planned) {
            reasons.push(format!("{k} would be pruned but the plan does not say so"));
        }
        reasons.sort();
        reasons.dedup();
        reasons
    }

    /// A Markdown summary for a merge request comment (secrets masked, as in the diffs).
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "### kdep plan: `{}` → `{}`\n", self.package, self.environment);
        let rev = match (&self.source.commit, self.source.dirty) {
            (Some(c), false) => format!("`{c}`"),
            (Some(c), true) => format!("`{c}` with uncommitted changes"),
            (None, _) => "not in a git repository".into(),
        };
        let _ = writeln!(s, "Source: {rev} · context `{}`\n", self.context);
        let _ = writeln!(s, "| create | update | prune | unchanged |\n|---:|---:|---:|---:|");
        let t = &self.summary;
        let _ = writeln!(s, "| {} | {} | {} | {} |\n", t.create, t.update, t.prune, t.unchanged);
        if !self.waves.is_empty() {
            let _ = writeln!(s, "Apply order: {}\n", wave_line(&self.waves));
        }
        for o in self.objects.iter().filter(|o| o.action != Action::Unchanged) {
            let _ = writeln!(s, "<details><summary>{} <code>{}</code></summary>\n", o.action.as_str(), o.key);
            if let Some(c) = &o.conflict {
                let _ = writeln!(s, "**conflict**: {c}\n");
            }
            if !o.diff.is_empty() {
                let _ = writeln!(s, "```diff\n{}```\n", o.diff);
            }
            let _ = writeln!(s, "</details>\n");
        }
        s
    }

    /// A short text for chat webhooks (Slack's `text`).
    pub fn text(&self) -> String {
        let t = &self.summary;
        format!(
            "kdep plan for {} → {} ({}): {} to create, {} to update, {} to prune",
            self.package,
            self.environment,
            self.source.commit.as_deref().unwrap_or("no commit"),
            t.create,
            t.update,
            t.prune
        )
    }
}
