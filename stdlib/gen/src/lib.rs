//! Generates the Kubernetes modules of the standard library (`stdlib/k8s/**`) from the gzipped
//! OpenAPI v3 documents and CRDs shared with the test cluster (`tests/kube-emulator/data/`).
//!
//! [`generate`] works in memory so a test can compare it with the committed files; the binary
//! writes them. Regenerate with [`COMMAND`]. Before converting, it adds the allowed values of
//! the enum supplement ([`ENUMS`], module [`enums`]) to the OpenAPI documents.

use std::io::Read as _;
use std::path::Path;

use kdep_openapi::{CrdInput, ModulePath, OpenApiInput};

pub mod enums;

/// The command that regenerates `stdlib/k8s/**`, run from the repository root.
pub const COMMAND: &str = "cargo run -p kdep-k8s-gen";

/// The built-in group-versions kdep ships types for (`k8s.meta.v1` and anything else they
/// reference follows).
pub const TARGETS: [(&str, &str); 8] = [
    ("core", "v1"),
    ("apps", "v1"),
    ("batch", "v1"),
    ("networking", "v1"),
    ("policy", "v1"),
    ("autoscaling", "v2"),
    ("rbac", "v1"),
    ("storage", "v1"),
];

/// Where the inputs live, relative to the repository root.
pub const OPENAPI_DIR: &str = "tests/kube-emulator/data/openapi-v3";
pub const CRD_DIR: &str = "tests/kube-emulator/data/crds";
/// The enum supplement: allowed values of built-in fields the OpenAPI documents leave as plain
/// strings (see [`enums`]).
pub const ENUMS: &str = "stdlib/gen/enums.toml";
/// Where the output goes, relative to the repository root.
pub const OUT_DIR: &str = "stdlib/k8s";

fn read_gz(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot decompress {}: {e}", path.display()))?;
    Ok(text)
}

/// The `.gz` files of `dir` with the given suffix, sorted, as (repo-relative path, text).
fn inputs(root: &Path, dir: &str, suffix: &str) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(root.join(dir)).map_err(|e| format!("cannot read {dir}: {e}"))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let rel = format!("{dir}/{name}");
            read_gz(&root.join(&rel)).map(|text| (rel, text))
        })
        .collect()
}

fn header(sources: &[String]) -> Vec<String> {
    vec![
        format!("Generated from {} by kdep-openapi. Do not edit.", sources.join(", ")),
        format!("Regenerate with `{COMMAND}`."),
    ]
}

/// Every generated file as (path relative to `stdlib/k8s/`, text), sorted by path.
pub fn generate(root: &Path) -> Result<Vec<(String, String)>, String> {
    let errors = |errs: Vec<kdep_openapi::Error>| errs.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    let openapi = inputs(root, OPENAPI_DIR, ".json.gz")?;
    let mut docs = openapi
        .iter()
        .map(|(file, text)| serde_json::from_str::<serde_json::Value>(text).map_err(|e| format!("{file}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let supplement = std::fs::read_to_string(root.join(ENUMS)).map_err(|e| format!("cannot read {ENUMS}: {e}"))?;
    enums::apply(ENUMS, &enums::parse(ENUMS, &supplement)?, &mut docs)?;
    let inputs_v3: Vec<OpenApiInput<'_>> =
        openapi.iter().zip(&docs).map(|((file, _), doc)| OpenApiInput { file, doc }).collect();
    let targets: Vec<ModulePath> = TARGETS.iter().map(|(l, v)| ModulePath::new(*l, *v)).collect();
    let mut modules = kdep_openapi::openapi_modules(&inputs_v3, &targets, &|_, s| header(s)).map_err(errors)?;

    let crds = inputs(root, CRD_DIR, ".yaml.gz")?;
    let mut parsed = Vec::new();
    for (file, text) in &crds {
        let docs = kdep_openapi::parse_documents(file, text).map_err(|e| e.to_string())?;
        parsed.push((file.as_str(), docs));
    }
    let crd_inputs: Vec<CrdInput<'_>> = parsed
        .iter()
        .flat_map(|(file, docs)| docs.iter().enumerate().map(|(index, doc)| CrdInput { file, index, doc }))
        .collect();
    let crd_modules = kdep_openapi::crd_modules(&crd_inputs, &|_, s| header(s)).map_err(errors)?;
    for module in crd_modules {
        if modules.iter().any(|m| m.path == module.path) {
            return Err(format!("CRD module {} collides with a built-in module", module.path.dotted()));
        }
        modules.push(module);
    }
    let mut out: Vec<(String, String)> = modules.into_iter().map(|m| (m.path.file_path(), m.text)).collect();
    out.sort();
    Ok(out)
}
