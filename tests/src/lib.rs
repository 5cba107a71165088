//! Shared test support for kdep's end-to-end suites: the cluster-emulator harness and fixtures.

pub mod cluster;
pub mod workloads;
