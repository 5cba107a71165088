//! Parallel builds produce exactly the output and diagnostics of sequential ones.

mod common;

use common::{load, TestDb};

fn workload(n: usize) -> String {
    let mut text = String::from(
        r#"//- platform/web.kdep
let tiers = { small = { cpu = "100m" }, large = { cpu = "1" } }
let shared = tiers.small

template Web {
    name: string(/^[a-z][-a-z0-9]*$/)
    replicas: int(1..20) = 2
    tier: "small" | "large" = "small"
    emit {
        apiVersion = "apps/v1"
        kind = "Deployment"
        metadata.name = name
        spec = { replicas = replicas, cpu = tiers[tier].cpu, fixed = { a = 1, b = [1, 2] } }
    }
}

//- environments.kdep
environment prod { context = "prod", namespace = "shop" }
"#,
    );
    for i in 0..n {
        // Every 17th app has an error, so diagnostics are compared too.
        let replicas = if i % 17 == 0 { 30 } else { i % 20 + 1 };
        let tier = if i % 2 == 0 { "small" } else { "large" };
        text.push_str(&format!(
            "//- apps/a{i}.kdep\nimport platform.web\n\napp a{i} = web.Web {{\n    name = \"a-{i}\"\n    replicas = {replicas}\n    tier = \"{tier}\"\n    in prod {{\n        replicas = 3\n    }}\n}}\n"
        ));
    }
    text
}

fn yaml(out: &kdep_eval::BuildOutput) -> String {
    let objects: Vec<_> = out.manifests.iter().map(|m| m.object.clone()).collect();
    kdep_eval::emit::to_yaml_stream(&objects)
}

#[test]
fn parallel_build_and_check_match_sequential() {
    let text = workload(400);
    let seq = load(TestDb::default(), &text);
    let par = load(TestDb::parallel(4), &text);
    for env in [None, Some("prod")] {
        let a = kdep_eval::build(&seq.db, seq.project, env);
        let b = kdep_eval::build(&par.db, par.project, env);
        assert_eq!(yaml(&a), yaml(&b));
        assert_eq!(a.diagnostics, b.diagnostics);
        // Apps 0, 17, 34, ... set replicas out of range, except in `prod` which overrides it.
        let (errors, objects) = if env.is_none() { (24, 376) } else { (0, 400) };
        assert_eq!(a.diagnostics.len(), errors);
        assert_eq!(a.manifests.len(), objects);
    }
    assert_eq!(kdep_eval::check(&seq.db, seq.project), kdep_eval::check(&par.db, par.project));
}
