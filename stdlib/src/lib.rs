//! kdep's standard library: `.kdep` sources embedded at build time, served to the compiler
//! as read-only modules under the `std.` prefix (`stdlib/std/labels.kdep` is `std.labels`) and,
//! for the generated Kubernetes types, the `k8s.` prefix (`stdlib/k8s/apps/v1.kdep` is
//! `k8s.apps.v1`; regenerate them with `cargo run -p kdep-k8s-gen`, see README.md).

include!(concat!(env!("OUT_DIR"), "/stdlib_files.rs"));

/// The stdlib modules as (dotted module path, virtual path, text), sorted by module path.
pub fn modules() -> Vec<(String, String, &'static str)> {
    let mut out: Vec<_> = FILES
        .iter()
        .map(|(path, text)| {
            let module = path.trim_end_matches(".kdep").replace('/', ".");
            (module, format!("std:/{path}"), *text)
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn module_paths_follow_file_paths() {
        let modules = super::modules();
        assert!(modules.iter().any(|(m, p, _)| m == "std.labels" && p == "std:/std/labels.kdep"));
        assert!(modules.iter().any(|(m, p, _)| m == "k8s.apps.v1" && p == "std:/k8s/apps/v1.kdep"));
        assert!(modules.iter().any(|(m, _, _)| m == "k8s.meta.v1"));
        assert!(modules.iter().all(|(m, _, _)| m.starts_with("std.") || m.starts_with("k8s.")));
    }
}
