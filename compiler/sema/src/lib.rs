//! kdep's semantic layer: salsa database, module index, name resolution, types, template permissions.
//!
//! Pipeline (each step a salsa query): [`db::parse_file`] → [`hir::file_hir`] (lowering) →
//! [`index::item_index`] (the firewall: names and headers only) → [`index::file_imports`] →
//! [`model::template_model`] (templates merged with their extension chain, narrowing checked) →
//! [`check::app_diagnostics`] (permissions of instances). Evaluation lives in `kdep-eval`.

pub mod anchors;
pub mod builtins;
pub mod check;
pub mod db;
pub mod duration;
pub mod func;
pub mod heap;
pub mod hir;
pub mod index;
pub mod lets;
pub mod model;
pub mod ops;
pub mod order;
pub mod permit;
pub mod policy;
pub mod quantity;
pub mod resources;
pub mod scope;
pub mod suggest;
pub mod ty;

pub use db::{parse_file, Db, Package, Project, SourceFile};
pub use hir::Name;
