//! The whole generated Kubernetes library type-checks through the real compiler with zero
//! diagnostics: a package that imports every `k8s.*` module the stdlib serves.

use std::path::Path;

use kdep_compiler::vfs::MemoryFs;
use kdep_compiler::Workspace;

#[test]
fn generated_library_checks_without_diagnostics() {
    let modules: Vec<(String, &str)> = kdep_stdlib::modules()
        .into_iter()
        .filter(|(m, _, _)| m.starts_with("k8s."))
        .map(|(m, _, text)| (m, text))
        .collect();
    assert!(modules.len() >= 12, "the stdlib serves the generated modules");
    // Each import is used by one field typed with every schema of the module.
    let mut main = String::new();
    let mut uses = String::from("schema Uses {\n");
    for (i, (module, text)) in modules.iter().enumerate() {
        main.push_str(&format!("import {module} as m{i}\n"));
        for name in text.lines().filter_map(|l| l.strip_prefix("schema ")?.split(' ').next()) {
            uses.push_str(&format!("    m{i}_{name}: m{i}.{name}?\n"));
        }
    }
    main.push_str(&uses);
    main.push_str("}\n");
    let mut fs = MemoryFs::new();
    fs.insert("/ws/kdep.toml", "[package]\nname = \"all\"\nversion = \"0.1.0\"\n");
    fs.insert("/ws/main.kdep", main);
    let ws = Workspace::load(&fs, Path::new("/ws")).expect("the package loads");
    let diags = ws.check();
    let shown: Vec<String> = diags.iter().take(20).map(|d| format!("{d:?}")).collect();
    assert!(diags.is_empty(), "{} diagnostics, first ones:\n{}", diags.len(), shown.join("\n"));
}

fn load(main: &str) -> Workspace {
    let mut fs = MemoryFs::new();
    fs.insert("/ws/kdep.toml", "[package]\nname = \"app\"\nversion = \"0.1.0\"\n");
    fs.insert("/ws/main.kdep", main);
    Workspace::load(&fs, Path::new("/ws")).expect("the package loads")
}

fn check_package(main: &str) -> Vec<kdep_compiler::diag::Diagnostic> {
    load(main).check()
}

/// Every diagnostic of the package rendered as `kdep check` shows it.
fn render_check(main: &str) -> String {
    let ws = load(main);
    let sources = ws.sources(Some(Path::new("/ws")));
    ws.check().iter().map(|d| kdep_diag::render::render_to_string(d, &sources)).collect()
}

const DEPLOYMENT: &str = r#"import k8s.apps.v1 as apps

template Web {
    name: string
    emit apps.Deployment {
        metadata = { name = name }
        spec = {
            selector = { matchLabels = { app = name } }
            template = {
                metadata = { labels = { app = name } }
                spec = {
                    containers = [
                        { name = "web", image = "nginx:1.27", ports = [{ containerPort = 8080 }] },
                        { name = "SIDECAR", image = "envoy:1.30" },
                    ]
                }
            }
        }
    }
}

app web = Web { name = "web" }
"#;

/// The generated types carry list keys and required fields: a valid Deployment checks clean,
/// two containers with one name are an error, and so are a missing required field and a
/// wrong type.
#[test]
fn generated_types_check_kubernetes_objects() {
    let duplicate = check_package(&DEPLOYMENT.replace("\"SIDECAR\"", "\"web\""));
    assert!(duplicate.iter().any(|d| d.code.id == "K0220"), "{duplicate:?}");
    let clean = check_package(DEPLOYMENT);
    assert!(clean.is_empty(), "{clean:?}");
    let missing = check_package(&DEPLOYMENT.replace("selector = { matchLabels = { app = name } }", ""));
    assert!(missing.iter().any(|d| d.message.contains("required field `selector`")), "{missing:?}");
    let typo = check_package(&DEPLOYMENT.replace("containerPort = 8080", "containerPort = \"8080\""));
    assert!(typo.iter().any(|d| d.message.contains("`containerPort` expects int")), "{typo:?}");
}

/// The enum supplement (`stdlib/gen/enums.toml`) types fields the published OpenAPI leaves as
/// plain strings: a value Kubernetes rejects is a compile error naming the allowed values, with
/// a did-you-mean when one is close, and values are case-sensitive like the API server's.
#[test]
fn supplemented_enums_reject_values_kubernetes_rejects() {
    let valid = DEPLOYMENT
        .replace("image = \"nginx:1.27\",", "image = \"nginx:1.27\", imagePullPolicy = \"IfNotPresent\",")
        .replace("containerPort = 8080", "containerPort = 8080, protocol = \"TCP\"");
    assert_ne!(valid, DEPLOYMENT);
    let clean = check_package(&valid);
    assert!(clean.is_empty(), "{clean:?}");

    let sometimes = render_check(&valid.replace("\"IfNotPresent\"", "\"Sometimes\""));
    insta::assert_snapshot!("image_pull_policy_sometimes", sometimes);
    let near = render_check(&valid.replace("\"IfNotPresent\"", "\"IfNotPresnt\""));
    assert!(near.contains("did you mean \"IfNotPresent\"?"), "{near}");

    let tcp = check_package(&valid.replace("\"TCP\"", "\"tcp\""));
    assert_eq!(tcp.len(), 1, "{tcp:?}");
    assert!(tcp.iter().all(|d| d.severity == kdep_diag::Severity::Error), "{tcp:?}");
    assert!(tcp.iter().any(|d| d.message.contains("protocol")), "{tcp:?}");
}
