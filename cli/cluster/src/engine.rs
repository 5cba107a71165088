//! The core workflow: a preview (what applying would do, from server-side dry runs), and the
//! apply that carries a preview out in order, then prunes the set's leftovers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::LocalBoxFuture;
use futures::{stream, StreamExt};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions, PropagationPolicy,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::applyset::{self, ApplySet};
use crate::connect::{Resource, Session};
use crate::error::{describe, status_code, Error};
use crate::object::{normal_form, Action, ObjKey};
use crate::order::{self, Wave};
use crate::takeover::{self, Takeover};
use crate::{diff, mask, skip, Settings, FIELD_MANAGER};

/// Requests in flight at once: enough to hide latency, few enough not to trip API priority
/// and fairness on a shared cluster.
pub const PARALLEL: usize = 16;

/// Options of a preview.
#[derive(Clone, Copy, Debug, Default)]
pub struct PreviewOptions {
    /// Take fields other managers own (the dry run then shows the result of forcing).
    pub force_conflicts: bool,
    /// Look for members of the set that are no longer desired.
    pub prune: bool,
}

/// One object of a preview.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ObjectPreview {
    #[serde(flatten)]
    pub key: ObjKey,
    pub action: Action,
    /// Unified diff with secret values masked (for creates: the manifest, every line added).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub diff: String,
    /// The live object's resourceVersion the preview was computed against (absent: no object).
    #[serde(rename = "liveResourceVersion", skip_serializing_if = "Option::is_none", default)]
    pub live_resource_version: Option<String>,
    /// What the preview depends on in the live object ([`crate::plan::live_digest`]): a plan
    /// whose object's resourceVersion moved is stale only when this moved too.
    #[serde(rename = "liveDigest", skip_serializing_if = "Option::is_none", default)]
    pub live_digest: Option<String>,
    /// The live object's UID (prune candidates are deleted only with this UID).
    #[serde(rename = "liveUid", skip_serializing_if = "Option::is_none", default)]
    pub live_uid: Option<String>,
    /// Why the apply would be refused: another manager owns fields kdep sets.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub conflict: Option<String>,
    /// A request for this object failed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// The manifest that will be applied (namespace and set label filled in). Not for prunes.
    #[serde(skip)]
    pub manifest: Option<Value>,
    /// Why this object cannot be checked in advance (a custom resource whose CRD is part of
    /// this apply).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
    /// For an update: the live object and the dry-run result it was compared with, so `drift`
    /// can name each changed field and who owns it now (from the same comparison as `diff`).
    #[serde(skip)]
    pub views: Option<Box<Views>>,
    /// The object was created by client-side `kubectl apply` or Helm: apply first moves
    /// their managedFields entries to kdep ([`takeover`]).
    #[serde(skip)]
    pub takeover: Option<Takeover>,
}

/// The two server views an update was found between (secret values not yet masked).
#[derive(Clone, Debug)]
pub struct Views {
    /// The live object, `managedFields` included.
    pub live: Value,
    /// The result of the dry-run apply, `managedFields` included.
    pub applied: Value,
}

/// What applying would do.
#[derive(Clone, Debug)]
pub struct Preview {
    pub objects: Vec<ObjectPreview>,
    pub set: ApplySet,
    /// The live ApplySet parent, if any.
    pub parent: Option<Value>,
    /// Group-kinds and namespaces of the desired objects.
    pub group_kinds: BTreeSet<String>,
    pub namespaces: BTreeSet<String>,
    /// The declared apply order ([`order::waves`]): empty when no app declares one.
    pub waves: Vec<Wave>,
}

impl Preview {
    pub fn count(&self, action: Action) -> usize {
        self.objects.iter().filter(|o| o.action == action).count()
    }

    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        self.objects.iter().any(|o| o.action != Action::Unchanged)
    }

    pub fn errors(&self) -> impl Iterator<Item = &ObjectPreview> {
        self.objects.iter().filter(|o| o.error.is_some())
    }

    pub fn conflicts(&self) -> impl Iterator<Item = &ObjectPreview> {
        self.objects.iter().filter(|o| o.conflict.is_some())
    }
}

fn api_for(session: &Session, res: &Resource, ns: Option<&str>) -> Api<DynamicObject> {
    match (res.namespaced, ns) {
        (true, Some(ns)) => Api::namespaced_with(session.client.clone(), ns, &res.api),
        _ => Api::all_with(session.client.clone(), &res.api),
    }
}

fn to_value(obj: &DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

fn meta_str(v: &Value, field: &str) -> Option<String> {
    v.pointer(&format!("/metadata/{field}")).and_then(Value::as_str).map(str::to_owned)
}

/// A CRD in the desired set that serves `api_version`/`kind`; its scope.
fn crd_scope(manifests: &[Value], api_version: &str, kind: &str) -> Option<bool> {
    let group = api_version.split_once('/').map(|(g, _)| g)?;
    manifests.iter().find_map(|m| {
        let is_crd = m.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition");
        let spec = m.get("spec")?;
        let same = spec.get("group").and_then(Value::as_str) == Some(group)
            && spec.pointer("/names/kind").and_then(Value::as_str) == Some(kind);
        (is_crd && same).then(|| spec.get("scope").and_then(Value::as_str) != Some("Cluster"))
    })
}

/// Fills in the namespace of namespaced objects, drops it from cluster-scoped ones, labels
/// every object as a member of the set. Objects of kinds the cluster does not serve yet (their
/// CRD is in the set) come back with `None` as resource.
async fn resolve(
    session: &Session,
    settings: &Settings,
    set: &ApplySet,
    manifests: &[Value],
) -> Result<Vec<(ObjKey, Value, Option<Resource>)>, Error> {
    let default_ns = settings.namespace.clone().unwrap_or_else(|| "default".into());
    let mut out = Vec::with_capacity(manifests.len());
    let mut seen = BTreeSet::new();
    for m in manifests {
        let Some(mut key) = ObjKey::of(m) else {
            return Err(Error::new(format!(
                "a manifest has no apiVersion, kind or metadata.name: {}",
                serde_json::to_string(m).unwrap_or_default().chars().take(120).collect::<String>()
            )));
        };
        let res = session.resource(&key.api_version, &key.kind).await?;
        let namespaced = match &res {
            Some(r) => r.namespaced,
            None => match crd_scope(manifests, &key.api_version, &key.kind) {
                Some(ns) => ns,
                None => {
                    return Err(Error::new(format!(
                        "the cluster (context `{}`) does not serve {} `{}` ({})",
                        session.context, key.kind, key.name, key.api_version
                    ))
                    .hint("install the CustomResourceDefinition for this kind first, or check the apiVersion"))
                }
            },
        };
        let mut obj = set.label_member(m);
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            if namespaced {
                let ns = key.namespace.clone().unwrap_or_else(|| default_ns.clone());
                meta.insert("namespace".into(), Value::from(ns.clone()));
                key.namespace = Some(ns);
            } else {
                meta.remove("namespace");
                key.namespace = None;
            }
        }
        if !seen.insert(key.clone()) {
            return Err(Error::new(format!("{key} is emitted twice")));
        }
        out.push((key, obj, res));
    }
    Ok(out)
}

/// Computes what applying `manifests` would do: a GET and a server-side dry-run apply per
/// object (bounded parallelism), and the set's members that would be pruned.
pub async fn preview(
    session: &Session,
    settings: &Settings,
    manifests: &[Value],
    opts: PreviewOptions,
) -> Result<Preview, Error> {
    let set = ApplySet::for_settings(settings);
    let resolved = resolve(session, settings, &set, manifests).await?;
    let new_namespaces: BTreeSet<String> = resolved
        .iter()
        .filter(|(k, _, _)| k.kind == "Namespace" && k.api_version == "v1")
        .map(|(k, _, _)| k.name.clone())
        .collect();
    let group_kinds: BTreeSet<String> = resolved.iter().map(|(k, _, _)| k.group_kind()).collect();
    let namespaces: BTreeSet<String> = resolved.iter().filter_map(|(k, _, _)| k.namespace.clone()).collect();
    // Before any request that reads objects: a cycle in a (hand-edited) plan stops here.
    let waves = order::waves(resolved.iter().map(|(k, obj, _)| (k, obj)))?;

    let mut listed = prefetch(session, &resolved, &new_namespaces).await;
    let mut objects: Vec<ObjectPreview> = stream::iter(resolved)
        .map(|(key, obj, res)| {
            let known = listed.remove(&key);
            preview_one(session, key, obj, res, opts.force_conflicts, &new_namespaces, known)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;

    let parent_res = session
        .resource("v1", applyset::PARENT_KIND)
        .await?
        .ok_or_else(|| Error::new(format!("the cluster (context `{}`) does not serve ConfigMaps", session.context)))?;
    let parent_api = api_for(session, &parent_res, Some(&set.namespace));
    let parent = match session.retrying(|| parent_api.get_opt(&set.name)).await {
        Ok(p) => p.as_ref().map(to_value),
        Err(e) => {
            return Err(
                session.request_error(&format!("reading the ApplySet parent {}/{}", set.namespace, set.name), &e)
            )
        }
    };
    if opts.prune {
        let desired: BTreeSet<(String, Option<String>, String)> =
            objects.iter().map(|o| (o.key.group_kind(), o.key.namespace.clone(), o.key.name.clone())).collect();
        let mut kinds = applyset::annotation_set(parent.as_ref(), applyset::ANN_GROUP_KINDS);
        kinds.extend(group_kinds.iter().cloned());
        let mut nss = applyset::annotation_set(parent.as_ref(), applyset::ANN_NAMESPACES);
        nss.extend(namespaces.iter().cloned());
        nss.insert(set.namespace.clone());
        objects.extend(prune_candidates(session, &set, &kinds, &nss, &desired, &new_namespaces).await?);
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(Preview { objects, set, parent, group_kinds, namespaces, waves })
}

async fn preview_one(
    session: &Session,
    key: ObjKey,
    obj: Value,
    res: Option<Resource>,
    force: bool,
    new_namespaces: &BTreeSet<String>,
    known: Option<Option<Value>>,
) -> ObjectPreview {
    let mut p = ObjectPreview {
        key,
        action: Action::Create,
        diff: String::new(),
        live_resource_version: None,
        live_digest: None,
        live_uid: None,
        conflict: None,
        error: None,
        manifest: Some(obj.clone()),
        note: None,
        views: None,
        takeover: None,
    };
    let shown_new = || {
        let mut m = obj.clone();
        mask::mask_one(&mut m);
        diff::all_added(&diff::to_yaml(&m))
    };
    let Some(res) = res else {
        p.note = Some("its CustomResourceDefinition is applied first; checked once it is established".into());
        p.diff = shown_new();
        return p;
    };
    let api = api_for(session, &res, p.key.namespace.as_deref());
    let live = match known {
        Some(listed) => listed,
        None => match session.retrying(|| api.get_opt(&p.key.name)).await {
            Ok(l) => l.as_ref().map(to_value),
            Err(e) => {
                p.error = Some(format!("reading it failed: {}", describe(&e)));
                return p;
            }
        },
    };
    // The namespace is created by this apply: nothing in it can be dry-run yet.
    if live.is_none() && p.key.namespace.as_ref().is_some_and(|ns| new_namespaces.contains(ns)) {
        p.diff = shown_new();
        return p;
    }
    let pending = live.as_ref().and_then(takeover::pending);
    // Provably nothing to apply (kdep owns exactly the manifest's fields, which hold its
    // values): the dry run could only say so, skip it ([`skip`]).
    if let (Some(l), None) = (&live, &pending) {
        if skip::unchanged(&obj, l) {
            p.action = Action::Unchanged;
            p.live_resource_version = meta_str(l, "resourceVersion");
            p.live_uid = meta_str(l, "uid");
            p.live_digest = Some(crate::plan::live_digest(l));
            return p;
        }
    }
    let mut params = PatchParams::apply(FIELD_MANAGER).dry_run();
    params.force = force;
    let patch = Patch::Apply(&obj);
    let mut answer = session.retrying(|| api.patch(&p.key.name, &params, &patch)).await;
    // Conflicts only with the managers apply takes over are not conflicts: the dry run shows
    // the values kdep will set once it owns their fields.
    let only_theirs = matches!((&pending, &answer), (Some(_), Err(e))
        if status_code(e) == Some(409) && takeover::only_taken_over(&describe(e)));
    if only_theirs {
        let forced = PatchParams { force: true, ..params.clone() };
        answer = session.retrying(|| api.patch(&p.key.name, &forced, &patch)).await;
    }
    let dry = match answer {
        Ok(d) => to_value(&d),
        Err(e) if status_code(&e) == Some(409) => {
            p.action = if live.is_some() { Action::Update } else { Action::Create };
            p.conflict = Some(describe(&e));
            if let Some(l) = &live {
                p.live_resource_version = meta_str(l, "resourceVersion");
                p.live_uid = meta_str(l, "uid");
                p.live_digest = Some(crate::plan::live_digest(l));
            }
            return p;
        }
        Err(e) => {
            p.error = Some(describe(&e));
            return p;
        }
    };
    match live {
        None => p.diff = shown_new(),
        Some(live) => {
            p.live_resource_version = meta_str(&live, "resourceVersion");
            p.live_uid = meta_str(&live, "uid");
            p.live_digest = Some(crate::plan::live_digest(&live));
            let mut old = normal_form(&live);
            // The dry run ran before the takeover: what the apply after it leaves, the server
            // tells through a dry-run update of the object without the released fields.
            let released = pending.as_ref().and_then(|t| Some((t, takeover::without_released(&dry, &live)?)));
            let after = match released {
                None => None,
                Some((t, left)) => match dry_run_update(session, &api, &p.key.name, left).await {
                    Ok(v) => Some(v),
                    Err(e) => {
                        p.error = Some(format!(
                            "taking it over from {} removes the fields only they set that the package does not \
                             set, and the object left would be refused: {e}",
                            t.from.join(", ")
                        ));
                        return p;
                    }
                },
            };
            let mut new = normal_form(after.as_ref().unwrap_or(&dry));
            if let Some(t) = pending {
                p.note = Some(format!(
                    "taken over from {}: kdep will own the fields they set, and remove those the package does not set",
                    t.from.join(", ")
                ));
                p.takeover = Some(t);
            }
            if old == new && p.takeover.is_none() {
                p.action = Action::Unchanged;
            } else {
                p.action = Action::Update;
                mask::mask_pair(Some(&mut old), Some(&mut new));
                p.diff = diff::unified(&diff::to_yaml(&old), &diff::to_yaml(&new));
                p.views = Some(Box::new(Views { live, applied: dry }));
            }
        }
    }
    p
}

/// What the server makes of `obj` by an update (`PUT ?dryRun=All&fieldManager=kdep`, live's
/// managedFields kept): defaulting and admission run on exactly the object sent. Without a
/// resourceVersion precondition, like the dry-run apply it builds on: a controller writing
/// the object's status between the two requests must not fail the preview, a dry run writes
/// nothing, and a plan records the resourceVersion it was computed against for the apply.
async fn dry_run_update(
    session: &Session,
    api: &Api<DynamicObject>,
    name: &str,
    mut obj: Value,
) -> Result<Value, String> {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    let obj: DynamicObject = serde_json::from_value(obj).map_err(|e| e.to_string())?;
    let params = PostParams { dry_run: true, field_manager: Some(FIELD_MANAGER.into()) };
    session.retrying(|| api.replace(name, &params, &obj)).await.map(|v| to_value(&v)).map_err(|e| describe(&e))
}

/// From this many objects of one kind in one namespace on, their live versions are read with
/// one LIST (in pages) instead of a GET each: 1,000 objects cost a few requests, not 1,000.
const LIST_FROM: usize = 8;

/// Page size of those LISTs.
const LIST_PAGE: u32 = 500;

/// The live objects (or their absence) of every kind and namespace with at least
/// [`LIST_FROM`] desired objects, by LIST. A LIST that fails is skipped: those objects are
/// read one by one (and their errors reported there).
async fn prefetch(
    session: &Session,
    resolved: &[(ObjKey, Value, Option<Resource>)],
    new_namespaces: &BTreeSet<String>,
) -> BTreeMap<ObjKey, Option<Value>> {
    // Objects of one kind in one namespace: (apiVersion, kind, namespace) → how it is served, keys.
    type Group<'a> = (Resource, Vec<&'a ObjKey>);
    let mut groups: BTreeMap<(String, String, Option<String>), Group<'_>> = BTreeMap::new();
    for (key, _, res) in resolved {
        let Some(res) = res else { continue };
        if key.namespace.as_ref().is_some_and(|ns| new_namespaces.contains(ns)) {
            continue;
        }
        groups
            .entry((key.api_version.clone(), key.kind.clone(), key.namespace.clone()))
            .or_insert_with(|| (res.clone(), Vec::new()))
            .1
            .push(key);
    }
    let lists =
        groups.into_iter().filter(|(_, (_, keys))| keys.len() >= LIST_FROM).map(|(_, (res, keys))| async move {
            let api = api_for(session, &res, keys.first().and_then(|k| k.namespace.as_deref()));
            let mut live: BTreeMap<String, Value> = BTreeMap::new();
            let mut lp = ListParams::default().limit(LIST_PAGE);
            loop {
                let Ok(page) = session.retrying(|| api.list(&lp)).await else { return Vec::new() };
                for item in page.items {
                    let Some(name) = item.metadata.name.clone() else { continue };
                    let mut v = to_value(&item);
                    // List items may leave out apiVersion and kind (they are the list's); a GET
                    // has them, and the comparison with the dry run needs them.
                    if let Some(m) = v.as_object_mut() {
                        m.insert("apiVersion".into(), Value::from(res.api.api_version.clone()));
                        m.insert("kind".into(), Value::from(res.api.kind.clone()));
                    }
                    live.insert(name, v);
                }
                match page.metadata.continue_.filter(|c| !c.is_empty()) {
                    Some(token) => lp = lp.continue_token(&token),
                    None => break,
                }
            }
            keys.into_iter().map(|k| (k.clone(), live.remove(&k.name))).collect::<Vec<_>>()
        });
    stream::iter(lists).buffer_unordered(PARALLEL).collect::<Vec<_>>().await.into_iter().flatten().collect()
}

/// Resolves a group-kind of the set (from the parent's annotation) to a served resource.
async fn resource_for_group_kind(session: &Session, gk: &str) -> Result<Option<Resource>, Error> {
    let (kind, group) = gk.split_once('.').unwrap_or((gk, ""));
    if group.is_empty() {
        return session.resource("v1", kind).await;
    }
    let g = match session.retrying(|| kube::discovery::group(&session.client, group)).await {
        Ok(g) => g,
        Err(e) if status_code(&e) == Some(404) || matches!(e, kube::Error::Discovery(_)) => return Ok(None),
        Err(e) => return Err(session.request_error(&format!("discovering the API group {group}"), &e)),
    };
    match g.recommended_kind(kind) {
        Some((ar, _)) => session.resource(&ar.api_version, kind).await,
        None => Ok(None),
    }
}

/// Members of the set (by label) that are not desired: what a prune would delete.
async fn prune_candidates(
    session: &Session,
    set: &ApplySet,
    kinds: &BTreeSet<String>,
    namespaces: &BTreeSet<String>,
    desired: &BTreeSet<(String, Option<String>, String)>,
    new_namespaces: &BTreeSet<String>,
) -> Result<Vec<ObjectPreview>, Error> {
    let mut out = Vec::new();
    let lp = ListParams::default().labels(&set.selector());
    for gk in kinds {
        let Some(res) = resource_for_group_kind(session, gk).await? else { continue };
        let scopes: Vec<Option<&str>> = if res.namespaced {
            // A namespace this run creates holds nothing yet.
            namespaces.iter().filter(|n| !new_namespaces.contains(*n)).map(|n| Some(n.as_str())).collect()
        } else {
            vec![None]
        };
        for ns in scopes {
            let api = api_for(session, &res, ns);
            let list = match session.retrying(|| api.list(&lp)).await {
                Ok(l) => l,
                Err(e) if status_code(&e) == Some(404) => continue,
                Err(e) => return Err(session.request_error(&format!("listing {gk} of the set"), &e)),
            };
            for item in list.items {
                let Some(name) = item.metadata.name.clone() else { continue };
                let item_ns = if res.namespaced { item.metadata.namespace.clone() } else { None };
                if desired.contains(&(gk.clone(), item_ns.clone(), name.clone())) {
                    continue;
                }
                out.push(ObjectPreview {
                    key: ObjKey {
                        api_version: res.api.api_version.clone(),
                        kind: res.api.kind.clone(),
                        namespace: item_ns,
                        name,
                    },
                    action: Action::Prune,
                    diff: String::new(),
                    live_resource_version: item.metadata.resource_version.clone(),
                    live_digest: Some(crate::plan::live_digest(&to_value(&item))),
                    live_uid: item.metadata.uid.clone(),
                    conflict: None,
                    error: None,
                    manifest: None,
                    note: None,
                    views: None,
                    takeover: None,
                });
            }
        }
    }
    Ok(out)
}

/// Options of an apply.
#[derive(Clone, Debug, Default)]
pub struct ApplyOptions {
    pub force_conflicts: bool,
    pub prune: bool,
    /// Recorded on the ApplySet parent (`kdep.dev/source-revision`).
    pub revision: Option<String>,
    /// How long to wait for CRDs to become Established.
    pub timeout: Duration,
}

/// What an apply did, object by object.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApplyReport {
    pub created: Vec<ObjKey>,
    pub updated: Vec<ObjKey>,
    pub unchanged: usize,
    pub pruned: Vec<ObjKey>,
    /// Prune candidates left alone: replaced since the preview (UID differs) or already gone.
    #[serde(rename = "pruneSkipped")]
    pub prune_skipped: Vec<(ObjKey, String)>,
    pub conflicts: Vec<(ObjKey, String)>,
    pub failed: Vec<(ObjKey, String)>,
    /// Not sent because the connection to the cluster was lost, or an earlier wave of the
    /// declared apply order failed.
    #[serde(rename = "notAttempted")]
    pub not_attempted: Vec<ObjKey>,
    /// The wave (1-based) of the declared apply order that stopped the apply: its objects
    /// failed, or its rollouts did not become ready ([`ApplyReport::not_ready`]).
    #[serde(rename = "stoppedAtWave", skip_serializing_if = "Option::is_none")]
    pub stopped_at_wave: Option<usize>,
    /// Workloads of that wave that did not become ready, with why.
    #[serde(rename = "notReady", skip_serializing_if = "Vec::is_empty")]
    pub not_ready: Vec<(ObjKey, String)>,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.conflicts.is_empty()
            && self.failed.is_empty()
            && self.not_attempted.is_empty()
            && self.not_ready.is_empty()
    }

    /// Parallel requests finish in any order; reports list objects in key order.
    fn sort(&mut self) {
        self.created.sort();
        self.updated.sort();
        self.pruned.sort();
        self.prune_skipped.sort();
        self.conflicts.sort();
        self.failed.sort();
        self.not_attempted.sort();
        self.not_ready.sort();
    }

    pub fn writes(&self) -> usize {
        self.created.len() + self.updated.len() + self.pruned.len()
    }
}

enum Outcome {
    Done(ObjKey, Action),
    Conflict(ObjKey, String),
    Failed(ObjKey, String),
    Lost(ObjKey, String),
    Skipped(ObjKey),
}

fn is_transport(e: &kube::Error) -> bool {
    status_code(e).is_none()
}

async fn apply_one(session: &Session, p: &ObjectPreview, force: bool, lost: &AtomicBool) -> Outcome {
    if lost.load(Ordering::SeqCst) {
        return Outcome::Skipped(p.key.clone());
    }
    let Some(obj) = &p.manifest else { return Outcome::Done(p.key.clone(), Action::Unchanged) };
    let res = match session.resource(&p.key.api_version, &p.key.kind).await {
        Ok(Some(r)) => r,
        Ok(None) => return Outcome::Failed(p.key.clone(), "the cluster does not serve this kind".into()),
        Err(e) => return Outcome::Failed(p.key.clone(), e.message),
    };
    let api = api_for(session, &res, p.key.namespace.as_deref());
    if let Some(t) = &p.takeover {
        let moved = Patch::Merge(t.patch());
        let pp = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
        match session.retrying(|| api.patch(&p.key.name, &pp, &moved)).await {
            Ok(_) => {}
            Err(e) if status_code(&e) == Some(409) => {
                return Outcome::Failed(
                    p.key.clone(),
                    format!(
                        "it changed since it was read, so it was not taken over from {}: run again",
                        t.from.join(", ")
                    ),
                )
            }
            Err(e) if is_transport(&e) => {
                lost.store(true, Ordering::SeqCst);
                return Outcome::Lost(p.key.clone(), describe(&e));
            }
            Err(e) => return Outcome::Failed(p.key.clone(), format!("taking it over failed: {}", describe(&e))),
        }
    }
    let mut params = PatchParams::apply(FIELD_MANAGER);
    params.force = force;
    let patch = Patch::Apply(obj);
    match session.retrying(|| api.patch(&p.key.name, &params, &patch)).await {
        Ok(_) => Outcome::Done(p.key.clone(), p.action),
        Err(e) if status_code(&e) == Some(409) => Outcome::Conflict(p.key.clone(), describe(&e)),
        Err(e) if is_transport(&e) => {
            lost.store(true, Ordering::SeqCst);
            Outcome::Lost(p.key.clone(), describe(&e))
        }
        Err(e) => Outcome::Failed(p.key.clone(), describe(&e)),
    }
}

async fn apply_batch(
    session: &Session,
    batch: &[&ObjectPreview],
    force: bool,
    lost: &AtomicBool,
    report: &mut ApplyReport,
) {
    let outcomes: Vec<Outcome> = stream::iter(batch.iter())
        .map(|p| apply_one(session, p, force, lost))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for o in outcomes {
        match o {
            Outcome::Done(k, Action::Create) => report.created.push(k),
            Outcome::Done(_, Action::Unchanged) => report.unchanged += 1,
            Outcome::Done(k, _) => report.updated.push(k),
            Outcome::Conflict(k, m) => report.conflicts.push((k, m)),
            Outcome::Failed(k, m) => report.failed.push((k, m)),
            Outcome::Lost(k, m) => report.failed.push((k, format!("connection lost: {m}"))),
            Outcome::Skipped(k) => report.not_attempted.push(k),
        }
    }
}

/// Writes the ApplySet parent when it differs from what is live.
async fn write_parent(session: &Session, preview: &Preview, want: &Value) -> Result<bool, Error> {
    let same = |key: &str| {
        preview.parent.as_ref().and_then(|p| p.pointer("/metadata/annotations")).and_then(|a| a.get(key))
            == want.pointer("/metadata/annotations").and_then(|a| a.get(key))
    };
    let labelled = preview
        .parent
        .as_ref()
        .and_then(|p| p.pointer("/metadata/labels"))
        .and_then(|l| l.get(applyset::LABEL_ID))
        .and_then(Value::as_str)
        == Some(preview.set.id.as_str());
    if labelled
        && [applyset::ANN_GROUP_KINDS, applyset::ANN_NAMESPACES, applyset::ANN_REVISION, applyset::ANN_TOOLING]
            .iter()
            .all(|k| same(k))
    {
        return Ok(false);
    }
    let res =
        session.resource("v1", applyset::PARENT_KIND).await?.ok_or_else(|| Error::new("ConfigMaps are not served"))?;
    let api = api_for(session, &res, Some(&preview.set.namespace));
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(want);
    session.retrying(|| api.patch(&preview.set.name, &params, &patch)).await.map_err(|e| {
        session
            .request_error(&format!("writing the ApplySet parent {}/{}", preview.set.namespace, preview.set.name), &e)
    })?;
    Ok(true)
}

/// Waits until the CRDs named are Established (condition), or the timeout.
async fn wait_established(session: &Session, names: &[String], timeout: Duration) -> Result<(), Error> {
    let Some(res) = session.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition").await? else {
        return Ok(());
    };
    let api = api_for(session, &res, None);
    let start = Instant::now();
    let mut pending: Vec<String> = names.to_vec();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for name in pending {
            let crd = session
                .retrying(|| api.get_opt(&name))
                .await
                .map_err(|e| session.request_error("reading a CRD", &e))?;
            let established = crd.as_ref().map(to_value).is_some_and(|v| {
                v.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.get("type").and_then(Value::as_str) == Some("Established")
                            && c.get("status").and_then(Value::as_str) == Some("True")
                    })
                })
            });
            if !established {
                still.push(name);
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if start.elapsed() >= timeout {
            return Err(Error::new(format!(
                "CustomResourceDefinitions not Established after {timeout:?}: {}",
                pending.join(", ")
            ))
            .hint("check the CRDs with `kubectl get crd`; raise --timeout if the cluster is slow"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    session.forget_kinds();
    Ok(())
}

/// Waits for the rollouts of one wave of the declared apply order before the next is applied;
/// returns the workloads that did not become ready, with why. The CLI gives its progress
/// display here.
pub type WaitWave<'w> = dyn FnMut(usize, Wave) -> WaveWait<'w> + 'w;

/// What [`WaitWave`] returns: the wait, run on the apply's thread.
pub type WaveWait<'w> = LocalBoxFuture<'w, Vec<(ObjKey, String)>>;

/// Carries out a preview: namespaces, the set's parent (listing old and new kinds, so an
/// interrupted run never hides a member from the next prune), CRDs (then waits until they are
/// Established), everything else; then prunes and narrows the parent to the new set. Objects
/// the preview found unchanged are not written. With a declared apply order
/// ([`Preview::waves`]) everything else goes wave by wave, `wait_wave` between waves; a wave
/// that fails or does not become ready stops the apply, the later waves not attempted.
pub async fn apply(
    session: &Session,
    settings: &Settings,
    preview: &Preview,
    opts: &ApplyOptions,
    wait_wave: &mut WaitWave<'_>,
) -> Result<ApplyReport, Error> {
    let mut report = ApplyReport { unchanged: preview.count(Action::Unchanged), ..ApplyReport::default() };
    let lost = AtomicBool::new(false);
    let changing: Vec<&ObjectPreview> =
        preview.objects.iter().filter(|o| matches!(o.action, Action::Create | Action::Update)).collect();
    let is_ns = |o: &&ObjectPreview| o.key.kind == "Namespace" && o.key.api_version == "v1";
    let is_crd = |o: &&ObjectPreview| o.key.kind == "CustomResourceDefinition";
    let namespaces: Vec<&ObjectPreview> = changing.iter().copied().filter(is_ns).collect();
    let crds: Vec<&ObjectPreview> = changing.iter().copied().filter(is_crd).collect();
    let rest: Vec<&ObjectPreview> = changing.iter().copied().filter(|o| !is_ns(o) && !is_crd(o)).collect();

    apply_batch(session, &namespaces, opts.force_conflicts, &lost, &mut report).await;
    let mut superset = applyset::annotation_set(preview.parent.as_ref(), applyset::ANN_GROUP_KINDS);
    superset.extend(preview.group_kinds.iter().cloned());
    let mut all_ns = applyset::annotation_set(preview.parent.as_ref(), applyset::ANN_NAMESPACES);
    all_ns.extend(preview.namespaces.iter().cloned());
    if report.ok() {
        let parent = preview.set.parent_manifest(&superset, &all_ns, opts.revision.as_deref());
        write_parent(session, preview, &parent).await?;
    }
    if report.ok() && !crds.is_empty() {
        apply_batch(session, &crds, opts.force_conflicts, &lost, &mut report).await;
        if report.ok() {
            let names: Vec<String> = crds.iter().map(|c| c.key.name.clone()).collect();
            wait_established(session, &names, opts.timeout).await?;
        }
    }
    if preview.waves.is_empty() {
        if report.ok() {
            apply_batch(session, &rest, opts.force_conflicts, &lost, &mut report).await;
        } else {
            report.not_attempted.extend(rest.iter().map(|o| o.key.clone()));
        }
    }
    for (i, wave) in preview.waves.iter().enumerate() {
        let members: BTreeSet<&ObjKey> = wave.objects.iter().collect();
        let batch: Vec<&ObjectPreview> = rest.iter().copied().filter(|o| members.contains(&o.key)).collect();
        if !report.ok() {
            report.not_attempted.extend(batch.iter().map(|o| o.key.clone()));
            continue;
        }
        apply_batch(session, &batch, opts.force_conflicts, &lost, &mut report).await;
        // The last wave's rollouts are the caller's ordinary wait.
        if report.ok() && i + 1 < preview.waves.len() {
            report.not_ready = wait_wave(i, wave.clone()).await;
        }
        if !report.ok() {
            report.stopped_at_wave = Some(i + 1);
        }
    }
    if !report.ok() {
        report.sort();
        return Ok(report);
    }
    if opts.prune {
        prune(session, preview, &lost, &mut report).await;
    }
    if report.ok() {
        // The set now holds exactly the desired objects.
        let exact = preview.set.parent_manifest(&preview.group_kinds, &preview.namespaces, opts.revision.as_deref());
        if opts.prune {
            let mut narrowed = preview.clone();
            narrowed.parent = Some(preview.set.parent_manifest(&superset, &all_ns, opts.revision.as_deref()));
            write_parent(session, &narrowed, &exact).await?;
        }
    }
    let _ = settings;
    report.sort();
    Ok(report)
}

async fn prune(session: &Session, preview: &Preview, lost: &AtomicBool, report: &mut ApplyReport) {
    let doomed: Vec<&ObjectPreview> = preview.objects.iter().filter(|o| o.action == Action::Prune).collect();
    let results: Vec<(ObjKey, Result<bool, String>)> = stream::iter(doomed)
        .map(|p| async move {
            if lost.load(Ordering::SeqCst) {
                return (p.key.clone(), Err("not attempted: connection lost".into()));
            }
            let res = match session.resource(&p.key.api_version, &p.key.kind).await {
                Ok(Some(r)) => r,
                Ok(None) => return (p.key.clone(), Ok(false)),
                Err(e) => return (p.key.clone(), Err(e.message)),
            };
            let api = api_for(session, &res, p.key.namespace.as_deref());
            let dp = DeleteParams {
                preconditions: Some(Preconditions { uid: p.live_uid.clone(), resource_version: None }),
                propagation_policy: Some(PropagationPolicy::Background),
                ..DeleteParams::default()
            };
            match session.retrying(|| api.delete(&p.key.name, &dp)).await {
                Ok(_) => (p.key.clone(), Ok(true)),
                Err(e) if status_code(&e) == Some(404) => (p.key.clone(), Ok(false)),
                Err(e) if status_code(&e) == Some(409) => (
                    p.key.clone(),
                    Err(format!("left alone: replaced since the preview (UID differs): {}", describe(&e))),
                ),
                Err(e) => {
                    if is_transport(&e) {
                        lost.store(true, Ordering::SeqCst);
                    }
                    (p.key.clone(), Err(describe(&e)))
                }
            }
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    for (k, r) in results {
        match r {
            Ok(true) => report.pruned.push(k),
            Ok(false) => report.prune_skipped.push((k, "already gone".into())),
            Err(m) if m.starts_with("left alone") => report.prune_skipped.push((k, m)),
            Err(m) => report.failed.push((k, format!("prune failed: {m}"))),
        }
    }
}

/// Group the keys of a list by kind for short reports.
pub fn by_kind(keys: &[ObjKey]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for k in keys {
        *m.entry(k.kind.clone()).or_insert(0) += 1;
    }
    m
}
