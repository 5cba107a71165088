//! kdep's evaluator: values with provenance, builtins, manifests and their YAML/JSON emission.

pub mod builtins;
pub mod emit;
pub mod manifest;
pub mod value;
