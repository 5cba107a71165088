//! Kubernetes OpenAPI v3 component schemas and CRD `openAPIV3Schema`s to kdep modules.
//!
//! Pure: callers hand in document text or parsed values and get module text back (or errors
//! naming the file and the place inside the document). The mapping is the table of the issue 7
//! interface spec, summarised in this crate's README.md. Output is deterministic: schemas,
//! fields and imports are sorted, and printing follows `kdep fmt`'s layout.

mod convert;
mod crd;
mod model;
mod openapi;

use std::fmt;

pub use convert::MAX_DEPTH;
pub use crd::{crd_modules, CrdInput};
pub use model::{ModulePath, DATE_TIME};
pub use openapi::{openapi_modules, OpenApiInput};

/// A problem with an input document: which file, where inside it, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The file name as the caller gave it.
    pub file: String,
    /// A path inside the document (`spec.versions[0].schema.openAPIV3Schema.properties.spec`),
    /// empty for the document as a whole.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: at {}: {}", self.file, self.path, self.message)
        }
    }
}

/// One generated module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub path: ModulePath,
    /// The module's source text, ending with a newline.
    pub text: String,
}

/// The module label of an API group: `core` for the core group `""`, otherwise the group's
/// first dot-separated label with `-` replaced by `_` (`cert-manager.io` → `cert_manager`).
pub fn group_label(group: &str) -> String {
    if group.is_empty() {
        return "core".to_string();
    }
    module_segment(group.split('.').next().unwrap_or(group))
}

/// A module path segment from a DNS label or a version name: characters other than ASCII
/// letters, digits and `_` become `_`, and a leading digit gets a `_` in front, so the segment
/// is an identifier (`cert-manager` → `cert_manager`, `3scale` → `_3scale`).
pub fn module_segment(text: &str) -> String {
    let mut out: String = text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

/// Parses JSON or YAML text (several YAML documents allowed) into values. Empty documents are
/// skipped. A syntax error names the file and the line.
pub fn parse_documents(file: &str, text: &str) -> Result<Vec<serde_json::Value>, Error> {
    let error = |message: String| Error { file: file.to_string(), path: String::new(), message };
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map(|v| vec![v]).map_err(|e| error(format!("invalid JSON: {e}")));
    }
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value = <serde_yaml::Value as serde::Deserialize>::deserialize(doc);
        let value = value.map_err(|e| error(format!("invalid YAML: {e}")))?;
        if value.is_null() {
            continue;
        }
        let json = serde_json::to_value(&value).map_err(|e| error(format!("unsupported YAML: {e}")))?;
        out.push(json);
    }
    Ok(out)
}
