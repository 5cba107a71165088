//! Times `build` on the peer-benchmark workload (one template, N generated apps) in memory.
//!
//! `cargo run --release -p kdep-eval --example bench -- 5000 /path/to/webservice.kdep`

#![expect(
    clippy::disallowed_methods,
    reason = "a benchmark program: it reads its command line, `KDEP_THREADS` and the template file"
)]

use std::collections::BTreeMap;
use std::time::Instant;

use kdep_diag::FileId;
use kdep_sema::db::{Package, Project, SourceFile};

#[salsa::db]
#[derive(Clone, Default)]
struct Db {
    storage: salsa::Storage<Self>,
}

#[salsa::db]
impl salsa::Database for Db {}

#[salsa::db]
impl kdep_sema::Db for Db {
    fn parallelism(&self) -> usize {
        std::env::var("KDEP_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    fn fork(&self) -> Option<Box<dyn kdep_sema::Db + Send>> {
        Some(Box::new(self.clone()))
    }
}

fn app(i: usize) -> String {
    let name = format!("svc-{i:04}");
    let ident = name.replace('-', "_");
    let tiers = ["small", "medium", "large"];
    let mut lines = vec![
        "import platform.webservice as ws".to_string(),
        String::new(),
        format!("app {ident} = ws.WebService {{"),
        format!("    name = \"{name}\""),
        format!("    image = \"registry.example.com/team{}/{name}:1.{}.{}\"", i % 7, i % 10, i % 13),
    ];
    let mut env =
        format!("SERVICE_NAME = \"{name}\", DB_HOST = \"db-{}.internal\", CACHE_TTL = \"{}\"", i % 5, 60 * (1 + i % 4));
    if i.is_multiple_of(2) {
        env.push_str(", LOG_LEVEL = \"debug\"");
    }
    lines.push(format!("    env = {{ {env} }}"));
    let tier = tiers.get(i % tiers.len()).copied().unwrap_or_default();
    if tier != "small" {
        lines.push(format!("    tier = \"{tier}\""));
    }
    if i.is_multiple_of(4) {
        lines.push(format!("    replicas = {}", i % 20 + 1));
    }
    if i.is_multiple_of(10) {
        lines.push("    port = 9090".into());
    }
    if i.is_multiple_of(5) {
        lines.push("    memoryLimit = \"768Mi\"".into());
    }
    lines.push("}".into());
    lines.join("\n") + "\n"
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let template_path =
        args.next().unwrap_or_else(|| "/work/shared/bench/templates/kdep/platform/webservice.kdep".into());
    let template = std::fs::read_to_string(&template_path).expect("template");
    let start = Instant::now();
    let mut db = Db::default();
    let mut modules = BTreeMap::new();
    modules.insert(
        "platform.webservice".to_string(),
        SourceFile::new(&db, FileId(0), "platform/webservice.kdep".into(), template),
    );
    for i in 1..=n {
        let name = format!("svc_{i:04}");
        let file = SourceFile::new(&db, FileId(i as u32), format!("services/{name}.kdep"), app(i));
        modules.insert(format!("services.{name}"), file);
    }
    let root = Package::new(&db, "bench".into(), modules, BTreeMap::new(), Default::default());
    let stdlib = Package::new(&db, "std".into(), BTreeMap::new(), BTreeMap::new(), Default::default());
    let project = Project::new(&db, root, stdlib);
    let loaded = start.elapsed();
    // Like `kdep build`: written out as each app finishes, in batches (`KDEP_BATCH_FILES`).
    let batching = kdep_eval::Batching {
        files: std::env::var("KDEP_BATCH_FILES").ok().and_then(|v| v.parse().ok()),
        lower_again_from: std::env::var("KDEP_LOWER_AGAIN_FROM").ok().and_then(|v| v.parse().ok()),
        compress_from: std::env::var("KDEP_COMPRESS_FROM").ok().and_then(|v| v.parse().ok()),
        block_bytes: std::env::var("KDEP_BLOCK_BYTES").ok().and_then(|v| v.parse().ok()),
    };
    let out = kdep_eval::build_rendered_in_batches(&mut db, project, None, kdep_eval::emit::Format::Yaml, batching);
    let built = start.elapsed();
    let mut yaml = String::new();
    out.objects
        .join(kdep_eval::emit::Format::Yaml, |piece| {
            yaml.push_str(piece);
            Ok::<(), std::io::Error>(())
        })
        .expect("in memory");
    let emitted = start.elapsed();
    eprintln!(
        "n={n} objects={} diagnostics={} yaml={} bytes; load {:?}, build {:?}, yaml {:?}",
        out.objects.len(),
        out.diagnostics.len(),
        yaml.len(),
        loaded,
        built - loaded,
        emitted - built
    );
    for d in out.diagnostics.iter().take(3) {
        eprintln!("{d:?}");
    }
    // Like the CLI should: the process is about to exit, freeing every memo is wasted work.
    std::mem::forget(out);
    std::mem::forget(yaml);
    std::mem::forget(db);
}
