//! What the cluster test files share: the emulator they start and the binary run against it.

use std::path::Path;

use kdep_tests::cluster::{Cluster, Options};

use super::{kdep_with, Run};

/// The emulator with a fixed clock and sequential UIDs, so whole outputs (managedFields times,
/// UIDs in plans) snapshot the same on every run.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn start() -> Cluster {
    Cluster::start_with(Options {
        clock: Some("2030-01-01T00:00:00Z".into()),
        sequential_uids: true,
        ..Options::default()
    })
    .expect("the emulator starts")
}

/// Runs `kdep ARGS` in `dir` with the cluster's kubeconfig in `KUBECONFIG`.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn kdep(cluster: &Cluster, dir: &Path, args: &[&str]) -> Run {
    kdep_with(dir, args, |c| {
        c.env("KUBECONFIG", cluster.kubeconfig());
    })
}

/// Writes package `demo` into `dir`: its environments, a `templates` module and an `apps.kdep`
/// that imports it, so each cluster test file states only its own templates and apps.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn write_package(dir: &Path, envs: &str, templates: &str, apps: &str) {
    let files = [
        ("kdep.toml", "[package]\nname = \"demo\"\nversion = \"0.1.0\"\n".to_owned()),
        ("environments.kdep", envs.to_owned()),
        ("templates.kdep", templates.to_owned()),
        ("apps.kdep", format!("import templates\n\n{apps}")),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write the test package");
    }
}

/// [`write_package`] into a fresh temporary folder.
#[allow(dead_code, reason = "shared by the cluster test files; the others never start one")]
pub fn package(envs: &str, templates: &str, apps: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    write_package(dir.path(), envs, templates, apps);
    dir
}
