//! Which kinds the standard library types: the `@resource(apiVersion, kind)` attributes of its
//! generated `k8s.*` modules, read from their source, so a kind is emitted typed exactly when
//! `kdep build` has a schema for it (CRDs imported into the stdlib included).

use std::collections::HashMap;

use kdep_diag::FileId;
use kdep_syntax::ast;

/// (apiVersion, kind) → (module path `k8s.apps.v1`, schema name).
pub(crate) type TypedKinds = HashMap<(String, String), (String, String)>;

/// The table, read once per process: the stdlib is embedded, so it never changes.
pub(crate) fn typed_kinds() -> &'static TypedKinds {
    static KINDS: std::sync::OnceLock<TypedKinds> = std::sync::OnceLock::new();
    KINDS.get_or_init(read_kinds)
}

fn read_kinds() -> TypedKinds {
    let mut out = TypedKinds::new();
    for (module, _, text) in kdep_stdlib::modules() {
        if !module.starts_with("k8s.") {
            continue;
        }
        let parsed = kdep_syntax::parse(FileId(0), text);
        for item in &parsed.file.items {
            let ast::Item::Schema(schema) = item else { continue };
            for attr in schema.attrs.iter().filter(|a| a.name.text == "resource") {
                let arg = |key: &str| {
                    attr.args.iter().flatten().find(|a| a.key.text == key).and_then(|a| match &a.value {
                        ast::Expr::Str(s) => s.as_plain(),
                        _ => None,
                    })
                };
                if let (Some(api_version), Some(kind)) = (arg("apiVersion"), arg("kind")) {
                    out.insert((api_version, kind), (module.clone(), schema.name.text.clone()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_generated_modules_type_the_core_kinds() {
        let kinds = super::typed_kinds();
        let get = |v: &str, k: &str| kinds.get(&(v.to_owned(), k.to_owned())).cloned();
        assert_eq!(get("apps/v1", "Deployment"), Some(("k8s.apps.v1".into(), "Deployment".into())));
        assert_eq!(get("v1", "Service"), Some(("k8s.core.v1".into(), "Service".into())));
        assert_eq!(get("batch/v1", "CronJob"), Some(("k8s.batch.v1".into(), "CronJob".into())));
        assert_eq!(get("example.com/v1", "Widget"), None);
    }
}
