//! Reviewable plans: what `kdep plan` writes and `kdep apply --plan` carries out, with what
//! the plan was computed against (source revision and digest, live resourceVersions) so a
//! stale plan is refused instead of applied.
//!
//! Staleness is judged per object. The same resourceVersion as at the plan: fresh. A different
//! one: stale only if [`live_digest`] moved as well, i.e. something the diff and the apply
//! depend on changed, not merely what a controller reports (a Deployment's controller keeps
//! writing `status` and its revision annotation for a while after every apply).

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
    /// Per object: action, masked diff, and the live resourceVersion, UID and [`live_digest`]
    /// it was computed against.
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

/// Annotations a controller writes on objects kdep applies, never an apply: they change after
/// a plan while nothing the plan computed against did. Each is left out of [`live_digest`].
///
/// - `deployment.kubernetes.io/revision`: the Deployment controller counts the rollouts of the
///   pod template in it; it moves only after a template change (hashed as `spec`) and during
///   the rollout that the reviewed apply itself starts.
///
/// Annotations that only look like bookkeeping stay in: `kubectl.kubernetes.io/restartedAt`
/// is in the pod template (a restart is a spec change) and `last-applied-configuration` is
/// written by client-side apply, a real change of hands.
pub const CONTROLLER_ANNOTATIONS: &[&str] = &["deployment.kubernetes.io/revision"];

/// SHA-256 (hex) of a live object without what a controller's bookkeeping changes, over its
/// canonical JSON (keys sorted at every level: the workspace's serde_json keeps insertion
/// order, and the server's order is no promise), so equal objects give equal bytes:
///
/// - `status`: written through the status subresource, never by an apply (for a kind without
///   that subresource a manifest's `status` is in the diff anyway, as it differs from live);
/// - `metadata.resourceVersion`: moves on every write, which is why this digest exists;
/// - `metadata.generation`: moves only when `spec` does (for a Deployment also when its
///   annotations do: the controller's revision write moves it), and both are hashed;
/// - the [`CONTROLLER_ANNOTATIONS`], and their keys in every managedFields entry;
/// - managedFields entries of the `status` subresource, and every entry's `time` (a manager
///   that writes the same fields again moves only its time; a new owner of a field, which
///   decides conflicts, still changes the digest).
///
/// Everything else counts: `uid` (deleted and created again is stale even with the same
/// content), labels, annotations, `spec`, `data`, owners, finalizers.
pub fn live_digest(live: &Value) -> String {
    let mut v = live.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        meta.remove("generation");
        if let Some(notes) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            for a in CONTROLLER_ANNOTATIONS {
                notes.remove(*a);
            }
            if notes.is_empty() {
                meta.remove("annotations");
            }
        }
        if let Some(Value::Array(entries)) = meta.get_mut("managedFields") {
            entries.retain(|e| e.get("subresource").and_then(Value::as_str) != Some("status"));
            for e in entries.iter_mut() {
                if let Some(e) = e.as_object_mut() {
                    e.remove("time");
                    if let Some(fields) = e.get_mut("fieldsV1") {
                        forget_controller_annotations(fields);
                    }
                }
            }
            // An entry that owned only a controller annotation (the Deployment controller's
            // Update) is gone, not merely emptied: it appears with the first rollout.
            entries.retain(|e| e.get("fieldsV1").is_none_or(|f| f.as_object().is_none_or(|m| !m.is_empty())));
        }
    }
    v.sort_all_objects();
    digest(&[v])
}

/// Drops the controller annotations from a managedFields entry's field set, and the maps
/// left holding nothing but their own `.` marker.
fn forget_controller_annotations(fields: &mut Value) {
    let Some(top) = fields.as_object_mut() else { return };
    let Some(meta) = top.get_mut("f:metadata").and_then(Value::as_object_mut) else { return };
    let Some(notes) = meta.get_mut("f:annotations").and_then(Value::as_object_mut) else { return };
    let before = notes.len();
    for a in CONTROLLER_ANNOTATIONS {
        notes.remove(&format!("f:{a}"));
    }
    if notes.len() == before {
        return;
    }
    if notes.keys().all(|k| k == ".") {
        meta.remove("f:annotations");
    }
    if meta.keys().all(|k| k == ".") {
        top.remove("f:metadata");
    }
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
    /// any object changed (beyond controller bookkeeping, see [`live_digest`]), appeared,
    /// vanished or was created again since, or a different set to prune.
    ///
    /// The recorded digest is only ever compared with the digest of the object as it is now:
    /// editing it in the plan file can make a changed object pass only by writing the changed
    /// object's digest, which is what `kdep plan` run again would record (with the diff a
    /// reviewer sees). A plan without digests (written before they existed) is judged by
    /// resourceVersion alone, as then: any write, a controller's too, makes it stale.
    pub fn stale_reasons(&self, fresh: &Preview) -> Vec<String> {
        let now: BTreeMap<&ObjKey, &ObjectPreview> = fresh.objects.iter().map(|o| (&o.key, o)).collect();
        let mut reasons = Vec::new();
        for o in &self.objects {
            let cur = now.get(&o.key);
            let cur_rv = cur.and_then(|c| c.live_resource_version.as_ref());
            if cur_rv == o.live_resource_version.as_ref() {
                continue;
            }
            let what = match (&o.live_resource_version, cur_rv) {
                (None, Some(_)) => "now exists (the plan would create it)".to_owned(),
                (Some(_), None) => "no longer exists".to_owned(),
                (Some(a), Some(b)) => {
                    let cur = cur.copied();
                    let (was_uid, uid) = (o.live_uid.as_ref(), cur.and_then(|c| c.live_uid.as_ref()));
                    let digest = cur.and_then(|c| c.live_digest.as_ref());
                    if was_uid.is_some() && was_uid != uid {
                        "was deleted and created again since the plan (a new UID)".to_owned()
                    } else if o.live_digest.is_none() {
                        format!("changed since the plan (resourceVersion {a} → {b}; the plan records no digest of it, it was written by an older kdep)")
                    } else if o.live_digest.as_ref() != digest {
                        format!("changed since the plan (resourceVersion {a} → {b})")
                    } else {
                        // Only status or controller annotations moved: the diff and the
                        // apply read nothing that changed.
                        continue;
                    }
                }
                (None, None) => continue,
            };
            reasons.push(format!("{} {what}", o.key));
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

#[cfg(test)]
#[expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "tests: a failed unwrap fails the test; JSON built just above is indexed with `Value[key]`"
)]
mod tests {
    use serde_json::json;

    use super::live_digest;

    /// A Deployment as the API server returns it just after kdep applied it.
    fn applied() -> serde_json::Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {
                "name": "web", "namespace": "demo", "uid": "u1", "resourceVersion": "10", "generation": 1,
                "labels": {"app": "web"},
                "managedFields": [
                    {"manager": "kdep", "operation": "Apply", "time": "2026-12-01T00:00:00Z",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
                ]
            },
            "spec": {"replicas": 2},
        })
    }

    /// What the Deployment controller does during a rollout: status through the subresource,
    /// the revision annotation through an Update of its own.
    fn rolled_out(mut v: serde_json::Value) -> serde_json::Value {
        v["metadata"]["resourceVersion"] = json!("14");
        v["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
        v["status"] = json!({"replicas": 2, "readyReplicas": 2, "observedGeneration": 1});
        let fields = v["metadata"]["managedFields"].as_array_mut().unwrap();
        fields.push(json!({"manager": "kube-controller-manager", "operation": "Update",
            "time": "2026-12-01T00:00:03Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}}}}));
        fields.push(json!({"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
            "time": "2026-12-01T00:00:04Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:replicas": {}, "f:readyReplicas": {}}}}));
        v
    }

    #[test]
    fn controller_bookkeeping_leaves_the_digest() {
        let before = applied();
        let after = rolled_out(before.clone());
        assert_eq!(live_digest(&before), live_digest(&after));
        // The controller writes again later: only times, status and the revision move.
        let mut again = after.clone();
        again["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!("2");
        again["metadata"]["managedFields"][1]["time"] = json!("2026-12-01T01:00:00Z");
        again["status"]["readyReplicas"] = json!(1);
        assert_eq!(live_digest(&before), live_digest(&again));
    }

    #[test]
    fn what_the_diff_reads_moves_the_digest() {
        let base = rolled_out(applied());
        let d = live_digest(&base);
        let mut edits: Vec<(&str, serde_json::Value)> = Vec::new();
        let mut v = base.clone();
        v["spec"]["replicas"] = json!(7);
        edits.push(("spec", v));
        let mut v = base.clone();
        v["metadata"]["labels"]["team"] = json!("x");
        edits.push(("a label", v));
        let mut v = base.clone();
        v["metadata"]["annotations"]["note"] = json!("x");
        edits.push(("an annotation next to the controller's", v));
        let mut v = base.clone();
        v["metadata"]["uid"] = json!("u2");
        edits.push(("a new UID", v));
        let mut v = base.clone();
        v["metadata"]["managedFields"][0]["manager"] = json!("kubectl-scale");
        edits.push(("another owner of a field", v));
        let mut v = base.clone();
        v["metadata"]["managedFields"][1]["fieldsV1"]["f:metadata"]["f:annotations"]["f:note"] = json!({});
        edits.push(("the controller owning a field beside its annotation", v));
        for (what, v) in edits {
            assert_ne!(live_digest(&v), d, "{what}");
        }
    }

    #[test]
    fn the_digest_does_not_depend_on_key_order() {
        let a: serde_json::Value = serde_json::from_str(r#"{"kind":"ConfigMap","data":{"b":"2","a":"1"}}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"data":{"a":"1","b":"2"},"kind":"ConfigMap"}"#).unwrap();
        assert_eq!(live_digest(&a), live_digest(&b));
    }
}
