//! Snapshot tests over `compiler/sema/test_data/**/*.kdep`: each snapshot holds the fixture's
//! sources, every diagnostic of `check` rendered as users see it, and (with a `//! build: ENV`
//! directive, `-` for no environment) the built objects as YAML.

mod common;

use common::{load, TestDb};

fn check(text: &str) -> String {
    let fx = load(TestDb::default(), text);
    let mut out = String::new();
    out.push_str(text.trim_end());
    out.push_str("\n\n=== check ===\n");
    let diags = kdep_eval::check(&fx.db, fx.project);
    out.push_str(&fx.render(&diags));
    if let Some(env) = fx.directives.get("build") {
        let env = if env == "-" { None } else { Some(env.as_str()) };
        let built = kdep_eval::build(&fx.db, fx.project, env);
        out.push_str(&format!("\n=== build {} ===\n", env.unwrap_or("(no environment)")));
        out.push_str(&fx.render(&built.diagnostics));
        let objects: Vec<_> = built.manifests.iter().map(|m| m.object.clone()).collect();
        out.push_str(&kdep_eval::emit::to_yaml_stream(&objects));
    }
    out
}

#[test]
fn diagnostic_fixtures() {
    insta::glob!("../../sema/test_data", "diagnostics/*.kdep", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        insta::assert_snapshot!(check(&text));
    });
}

#[test]
fn evaluation_fixtures() {
    insta::glob!("../../sema/test_data", "eval/*.kdep", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        insta::assert_snapshot!(check(&text));
    });
}
