//! kdep-cluster: what kdep does with a cluster — diff, plan and apply of built manifests.
//!
//! The crate sees manifests (JSON values) and the environment's settings ([`Settings`]), never
//! compiler internals. All cluster access goes through the `kube` crate and ordinary
//! kubeconfig files and contexts, as kubectl uses them ([`connect`]). Server-side apply with
//! the field manager [`FIELD_MANAGER`] does every merge; kdep never computes a merge itself,
//! which is why diffs show neither server defaults nor fields other managers own.

pub mod applyset;
pub mod connect;
pub mod diff;
pub mod drift;
pub mod engine;
pub mod error;
pub mod explain;
pub mod mask;
pub mod object;
pub mod order;
pub mod plan;
pub mod rollout;
pub mod skip;
pub mod status;
pub mod takeover;

pub use connect::{connect, Session, Target};
pub use error::Error;
pub use object::{Action, ObjKey};

/// The field manager of every write kdep makes (and of its dry runs).
pub const FIELD_MANAGER: &str = "kdep";

/// What the compiler knows about the environment the manifests were built for.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Settings {
    /// The package's name (names the ApplySet, so two packages never prune each other).
    pub package: String,
    /// The environment's name.
    pub env: String,
    /// The environment's namespace: namespaced objects without one land here, and the ApplySet
    /// parent lives here (`default` when the environment has none).
    pub namespace: Option<String>,
    /// A protected environment applies reviewed plans only.
    pub protected: bool,
}

impl Settings {
    /// The namespace the ApplySet parent lives in.
    pub fn parent_namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}
