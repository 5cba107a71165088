//! kdep's package sources: git repositories and OCI registries, the content-addressed cache,
//! resolution into `kdep.lock`, and publishing. Everything here does IO; the compiler only
//! sees the result through `kdep_compiler::remote` (folders in the cache named by the lock).

pub mod archive;
pub mod cache;
pub mod git;
pub mod oci;
pub mod publish;
pub mod resolve;

pub use cache::Cache;
pub use resolve::{Fetcher, Options, Update};
