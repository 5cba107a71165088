//! Parallel builds produce exactly the output and diagnostics of sequential ones.

mod common;

use common::{joined, load, Fixture, TestDb};

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

/// The streaming build ([`kdep_eval::build_rendered`]: each object written out by the thread
/// that evaluated its app, then dropped) gives, with 1, 2 and 4 threads, the bytes of the
/// whole-tree build written at the end, in YAML and JSON, with the same diagnostics. Some apps
/// emit the same object twice, so duplicates are dropped and reported the same way too.
#[test]
fn streaming_build_is_byte_identical_with_1_2_and_4_threads() {
    use kdep_eval::emit::{to_json, Format};
    let mut text = workload(300);
    text.push_str("//- apps/twice.kdep\nimport platform.web\n\napp twice = web.Web {\n    name = \"a-1\"\n}\n");
    let whole = load(TestDb::default(), &text);
    for env in [None, Some("prod")] {
        let reference = kdep_eval::build(&whole.db, whole.project, env);
        let objects: Vec<_> = reference.manifests.iter().map(|m| m.object.clone()).collect();
        assert!(
            reference.diagnostics.iter().any(|d| d.message.contains("emitted twice")),
            "{:?}",
            reference.diagnostics
        );
        for threads in [1, 2, 4] {
            let ws = load(TestDb::parallel(threads), &text);
            for (format, want) in [(Format::Yaml, yaml(&reference)), (Format::Json, to_json(&objects))] {
                let out = kdep_eval::build_rendered(&ws.db, ws.project, env, format);
                assert!(joined(&out, format) == want, "{threads} threads, {format:?}, env {env:?}: the output differs");
                assert_eq!(out.diagnostics, reference.diagnostics, "{threads} threads, {format:?}, env {env:?}");
            }
        }
    }
}

/// A build in batches ([`kdep_eval::build_rendered_in_batches`]) gives the bytes and the
/// diagnostics of a build in one pass, lowers each file once (the files not built yet are kept
/// at every eviction), and really drops what finished batches held: reading a file of the first
/// batch afterwards lowers it again, while one of the last batch is still there.
#[test]
fn a_batched_build_lowers_each_file_once_and_drops_finished_batches() {
    use kdep_eval::emit::Format;
    let text = workload(300);
    let whole = load(TestDb::default(), &text);
    for env in [None, Some("prod")] {
        let reference = kdep_eval::build_rendered(&whole.db, whole.project, env, Format::Yaml);
        for threads in [1, 2] {
            let batching = kdep_eval::Batching { files: Some(40), ..Default::default() };
            let ws = batched_like(&text, threads, env, batching, &reference);
            let lowered: Vec<String> = ws.db.take_log().into_iter().filter(|l| l.starts_with("file_hir(")).collect();
            let once: std::collections::BTreeSet<&String> = lowered.iter().collect();
            let twice: Vec<&String> =
                once.iter().copied().filter(|l| lowered.iter().filter(|m| m == l).count() > 1).collect();
            assert_eq!(once.len(), lowered.len(), "lowered twice: {twice:?}");
            assert_eq!(lowered.len(), ws.files.len(), "every file is lowered");

            // Kept after the build: the 16 files read last before the eviction that follows
            // the last batch (the output is ordered and written after it, holding every
            // object's text); every other app's lowering was dropped.
            ws.db.start_log();
            for i in 0..300 {
                let path = format!("apps/a{i}.kdep");
                let file = ws.files.iter().find(|(p, _)| *p == path).map(|(_, f)| *f).expect("app file");
                kdep_sema::hir::file_hir(&ws.db, file);
            }
            let dropped = ws.db.take_log().len();
            assert!((300 - 16..300).contains(&dropped), "{dropped} of 300 lowered files were dropped");
        }
    }
}

/// A build whose texts are held compressed ([`kdep_eval::Batching::compress_from`] reached:
/// each batch's texts one run in output order, in blocks of `block_bytes`) writes the bytes
/// and reports the diagnostics of one pass, in YAML and JSON, on 1, 2 and 4 threads, in batches
/// of 1, 7 and 40 files, its duplicate (`twice` repeats the first app's object, in the last
/// batch) dropped and reported the same; reading the texts back decompresses each block once
/// (a run sorted by another key than the output's would be read back and forth).
#[test]
fn a_build_holding_compressed_runs_is_the_same_bytes_and_reads_each_block_once() {
    use kdep_eval::emit::{to_json, Format};
    let mut text = workload(300);
    text.push_str("//- apps/twice.kdep\nimport platform.web\n\napp twice = web.Web {\n    name = \"a-1\"\n}\n");
    // Names in another order than the files' (which is the emission order), so a run is not
    // in output order unless sorted by it; `twice` keeps repeating the name of `a1`.
    for i in 0..300 {
        text = text.replace(&format!("name = \"a-{i}\"\n"), &format!("name = \"b-{}\"\n", i * 7 % 300));
    }
    let whole = load(TestDb::default(), &text);
    for env in [None, Some("prod")] {
        let reference = kdep_eval::build(&whole.db, whole.project, env);
        let objects: Vec<_> = reference.manifests.iter().map(|m| m.object.clone()).collect();
        for (files, threads, block_bytes) in [(1, 1, 1), (7, 2, 700), (40, 4, 2000), (40, 1, 1 << 20)] {
            for (format, want) in [(Format::Yaml, yaml(&reference)), (Format::Json, to_json(&objects))] {
                let case =
                    format!("batches of {files}, {threads} threads, blocks of {block_bytes}, {format:?}, {env:?}");
                let mut db = TestDb::default();
                db.threads = threads;
                let mut ws = load(db, &text);
                let batching = kdep_eval::Batching {
                    files: Some(files),
                    compress_from: Some(1),
                    block_bytes: Some(block_bytes),
                    ..Default::default()
                };
                let out = kdep_eval::build_rendered_in_batches(&mut ws.db, ws.project, env, format, batching);
                assert!(joined(&out, format) == want, "{case}: the output differs");
                assert_eq!(out.diagnostics, reference.diagnostics, "{case}");
                let blocks = out.objects.compressed_blocks();
                let runs = ws.files.len().div_ceil(files);
                if block_bytes == 1 {
                    assert!(blocks > out.objects.len(), "{case}: {blocks} blocks, one an object");
                }
                if block_bytes == 700 {
                    assert!(blocks > 2 * runs, "{case}: {blocks} blocks, {runs} runs: several blocks a run");
                }
                let mut texts = out.objects.texts();
                while texts.next().is_some() {}
                assert!(texts.blocks_decompressed() <= blocks, "{case}: {} decompressed", texts.blocks_decompressed());
            }
        }
    }
}

/// `check` runs the duplicate-object check of each environment on a thread of its own (more
/// than one environment per thread when there are fewer threads): with 1, 2 and 4 threads it
/// reports the same duplicates, one per environment (none, `prod`, `staging`), in the same order.
#[test]
fn check_reports_every_environments_duplicates_alike_with_1_2_and_4_threads() {
    let mut text = workload(300);
    text.push_str("//- apps/twice.kdep\nimport platform.web\n\napp twice = web.Web {\n    name = \"a-1\"\n}\n");
    text.push_str("//- staging.kdep\nenvironment staging { context = \"staging\", namespace = \"stage\" }\n");
    let seq = load(TestDb::default(), &text);
    let reference = kdep_eval::check(&seq.db, seq.project);
    let mut duplicates: Vec<&str> =
        reference.iter().filter(|d| d.message.contains("emitted twice")).map(|d| d.message.as_str()).collect();
    duplicates.sort_unstable();
    assert_eq!(
        duplicates,
        [
            "Deployment `a-1` is emitted twice",
            "Deployment `shop/a-1` is emitted twice",
            "Deployment `stage/a-1` is emitted twice"
        ]
    );
    for threads in [2, 4] {
        let par = load(TestDb::parallel(threads), &text);
        assert_eq!(kdep_eval::check(&par.db, par.project), reference, "{threads} threads");
    }
}

/// `check_by_file` evaluates each file's apps among the rest of its diagnostics in one pass over
/// the threads, then the duplicate check, then each file's duplicates: with 1, 2 and 4 threads,
/// every analysed file gets the parts a sequential database computes for that file alone
/// (`file_diagnostics_but_duplicates`, `file_duplicate_objects`), the apps' range errors in
/// their own files and the duplicate in `twice.kdep`, in every environment.
#[test]
fn check_by_file_gives_each_file_its_own_parts_with_1_2_and_4_threads() {
    let mut text = workload(300);
    text.push_str("//- apps/twice.kdep\nimport platform.web\n\napp twice = web.Web {\n    name = \"a-1\"\n}\n");
    text.push_str("//- staging.kdep\nenvironment staging { context = \"staging\", namespace = \"stage\" }\n");
    let seq = load(TestDb::default(), &text);
    let by_path: std::collections::BTreeMap<&str, kdep_sema::db::SourceFile> =
        seq.files.iter().map(|(path, file)| (path.as_str(), *file)).collect();
    for threads in [1, 2, 4] {
        let par = load(TestDb::parallel(threads), &text);
        let (per_file, _) = kdep_eval::check_by_file(&par.db, par.project);
        let mut with_errors = Vec::new();
        let mut with_duplicates = Vec::new();
        for (file, part) in &per_file {
            let path = file.path(&par.db);
            let Some(alone) = by_path.get(path.as_str()).copied() else { continue };
            let own = kdep_eval::file_diagnostics_but_duplicates(&seq.db, seq.project, alone);
            let duplicates = kdep_eval::file_duplicate_objects(&seq.db, seq.project, alone);
            assert_eq!(part.own, own, "{path}, {threads} threads");
            assert_eq!(part.duplicates, duplicates, "{path}, {threads} threads");
            if !own.is_empty() {
                with_errors.push(path.clone());
            }
            if !duplicates.is_empty() {
                with_duplicates.push((path.clone(), duplicates.len()));
            }
        }
        // Every root file and every loaded one of the fixture has its part.
        assert!(seq.files.iter().all(|(p, _)| per_file.iter().any(|(f, _)| f.path(&par.db) == p)), "{threads}");
        // Apps 0, 17, ..., 289 set replicas out of range (reported without an environment and
        // in `staging`; `prod` overrides it), each in its own file.
        assert_eq!(with_errors.len(), 18, "{threads} threads: {with_errors:?}");
        assert!(with_errors.iter().all(|p| p.starts_with("apps/a")), "{with_errors:?}");
        assert_eq!(with_duplicates, [("apps/twice.kdep".to_owned(), 3)], "{threads} threads");
    }
}

/// Lowers each file twice: in `prepare`, a batch at a time for the item indexes, and in its
/// build batch. Set in the tests below; the default only from megabytes of sources.
const LOWER_AGAIN: kdep_eval::Batching =
    kdep_eval::Batching { files: Some(40), lower_again_from: Some(1), compress_from: None, block_bytes: None };

/// Builds `text` in batches on a database that logs its queries (the log started before the
/// build) and checks that the bytes and diagnostics are those of `reference`, a build in one
/// pass; returns the database for the caller to read the log.
fn batched_like(
    text: &str,
    threads: usize,
    env: Option<&str>,
    batching: kdep_eval::Batching,
    reference: &kdep_eval::RenderedBuild,
) -> Fixture {
    use kdep_eval::emit::Format;
    let mut db = TestDb::with_log();
    db.threads = threads;
    let mut ws = load(db, text);
    ws.db.start_log();
    let out = kdep_eval::build_rendered_in_batches(&mut ws.db, ws.project, env, Format::Yaml, batching);
    assert!(
        joined(&out, Format::Yaml) == joined(reference, Format::Yaml),
        "{threads} threads, env {env:?}: the output differs"
    );
    assert_eq!(out.diagnostics, reference.diagnostics, "{threads} threads, env {env:?}");
    ws
}

/// A large package's build ([`kdep_eval::Batching::lower_again_from`] reached) drops every app
/// file's lowering once `prepare` has its item index, and lowers the file again in its batch:
/// each app file is lowered exactly twice (once would mean its lowering was held from
/// `prepare` to its batch, the memory this bounds), and the bytes and diagnostics are those of
/// a build in one pass.
#[test]
fn a_large_build_lowers_each_app_file_twice_with_the_same_output() {
    use kdep_eval::emit::Format;
    let text = workload(300);
    let whole = load(TestDb::default(), &text);
    for env in [None, Some("prod")] {
        let reference = kdep_eval::build_rendered(&whole.db, whole.project, env, Format::Yaml);
        for threads in [1, 2] {
            let ws = batched_like(&text, threads, env, LOWER_AGAIN, &reference);
            let mut times: std::collections::BTreeMap<String, usize> = Default::default();
            for l in ws.db.take_log().into_iter().filter(|l| l.starts_with("file_hir(")) {
                *times.entry(l).or_default() += 1;
            }
            // The app files twice each, but for the last 16 files lowered by `prepare` (it
            // keeps the most recently read, like every eviction); the template's and the
            // environments' files may be dropped and lowered again by any batch.
            assert_eq!(times.len(), ws.files.len(), "every file is lowered");
            let twice = times.values().filter(|n| **n == 2).count();
            assert!(twice >= 300 - 16, "{threads} threads, env {env:?}: {twice} files lowered twice: {times:?}");
        }
    }
}

/// What the project-wide queries know before the first app is evaluated must not depend on
/// which lowered files are still held. The last files of the package (evaluated in its last
/// batch) hold a policy the first batch's apps break, the other half of an app cycle and of an
/// apply-order cycle with apps of the first batch, a `let` and an app read by the first
/// batch, and the environment built. Built in batches of 7 files with every app file's
/// lowering dropped after `prepare`, and in batches without that, the output and the
/// diagnostics are those of one pass, and the snapshot pins that every problem is reported.
#[test]
fn facts_from_the_last_batch_reach_the_first_when_lowering_is_dropped() {
    use kdep_eval::emit::Format;
    let mut text = String::from(
        r#"//- platform/web.kdep
template Web {
    name: string(/^[a-z][-a-z0-9]*$/)
    replicas: int(1..20) = 2
    emit {
        apiVersion = "apps/v1"
        kind = "Deployment"
        metadata.name = name
        spec = { replicas = replicas }
    }
}

//- apps/a0.kdep
import platform.web
import zz.last as last

app a0 = web.Web {
    name = "a-0"
    replicas = last.z.replicas
}

//- apps/a1.kdep
import platform.web

app a1 = web.Web {
    name = "a-1"
    replicas = 15
}

//- apps/a2.kdep
import platform.web
import zz.last as last

@after(app = "last.z2")
app a2 = web.Web { name = "a-2" }

//- apps/a3.kdep
import platform.web
import zz.last as last

app a3 = web.Web {
    name = "a-3"
    replicas = last.base
}

//- zz/last.kdep
import platform.web
import apps.a0 as first
import apps.a2 as second

let base = 3

environment prod { namespace = "shop" }

app z = web.Web {
    name = "z"
    in prod {
        replicas = first.a0.replicas
    }
}

@after(app = "second.a2")
app z2 = web.Web { name = "z-2" }

app z3 = web.Web { name = "z-3" }

//- zz/policies.kdep
policy few_replicas {
    at = "spec.replicas"
    check = value <= 10
    message = "at most 10 replicas"
}
"#,
    );
    for i in 4..60 {
        text.push_str(&format!(
            "//- apps/a{i}.kdep\nimport platform.web\n\napp a{i} = web.Web {{\n    name = \"a-{i}\"\n}}\n"
        ));
    }
    let whole = load(TestDb::default(), &text);
    let mut reports = Vec::new();
    for env in [None, Some("prod")] {
        let reference = kdep_eval::build_rendered(&whole.db, whole.project, env, Format::Yaml);
        reports.push(format!("env {env:?}:\n{}", whole.render(&reference.diagnostics)));
        for threads in [1, 2] {
            for lower_again_from in [Some(1), None] {
                let mut db = TestDb::default();
                db.threads = threads;
                let mut ws = load(db, &text);
                let batching = kdep_eval::Batching { files: Some(7), lower_again_from, ..Default::default() };
                let out = kdep_eval::build_rendered_in_batches(&mut ws.db, ws.project, env, Format::Yaml, batching);
                let what = format!("{threads} threads, env {env:?}, {batching:?}");
                assert!(joined(&out, Format::Yaml) == joined(&reference, Format::Yaml), "{what}: the output differs");
                assert_eq!(out.diagnostics, reference.diagnostics, "{what}");
            }
        }
    }
    insta::assert_snapshot!(reports.join("\n"));
}

/// The worker threads of a batched build live from batch to batch (`parallel::Crew`), and
/// with them whatever each keeps per thread (own map keys, the plain-key memo, the constant
/// literals and their texts until the eviction forgets them, the checked records of a batch).
/// Here the template `Web` is read by the first batch's apps, dropped at the eviction after
/// the second (whose apps read only `Job`), and lowered again for the third batch's apps, at
/// new addresses: a per-thread cache kept across that eviction and keyed by what the dropped
/// lowering was must not answer for the new one. Batches of 130 files, so each batch runs
/// on two or four threads; the bytes and diagnostics are those of one pass, in YAML and JSON.
#[test]
fn kept_workers_give_one_pass_bytes_when_a_template_is_dropped_and_read_again() {
    use kdep_eval::emit::{to_json, Format};
    let mut text = String::from(
        r#"//- a/web.kdep
let probe = { httpGet = { path = "/healthz", port = 8080 }, periodSeconds = 10 }

template Web {
    name: string
    replicas: int(1..20) = 2
    emit {
        apiVersion = "apps/v1"
        kind = "Deployment"
        metadata.name = name
        metadata.labels = { tier = "web", team = "shop" }
        spec = { replicas = replicas, probe = probe, fixed = { a = 1, b = [1, 2], c = "web" } }
    }
}

//- a/job.kdep
template Job {
    name: string
    emit {
        apiVersion = "batch/v1"
        kind = "Job"
        metadata.name = name
        metadata.labels = { tier = "job", team = "ops" }
        spec = { backoffLimit = 4, fixed = { a = 2, b = [3, 4], c = "job" } }
    }
}
"#,
    );
    // Files in path order: the templates, then apps 000-129 on `Web`, 130-259 on `Job`, the
    // rest on `Web` again.
    for i in 0..400 {
        let (import, app) = if (130..260).contains(&i) {
            ("a.job", format!("job.Job {{\n    name = \"j-{i}\"\n}}"))
        } else {
            (
                "a.web",
                format!(
                    "web.Web {{\n    name = \"w-{i}\"\n    replicas = {}\n}}",
                    if i % 23 == 0 { 30 } else { i % 20 + 1 }
                ),
            )
        };
        text.push_str(&format!("//- b/app{i:03}.kdep\nimport {import}\n\napp x{i} = {app}\n"));
    }
    let whole = load(TestDb::default(), &text);
    let reference = kdep_eval::build(&whole.db, whole.project, None);
    let objects: Vec<_> = reference.manifests.iter().map(|m| m.object.clone()).collect();
    assert_eq!(reference.manifests.len(), 400 - 12, "{:?}", reference.diagnostics);
    for threads in [2, 4] {
        for (format, want) in [(Format::Yaml, yaml(&reference)), (Format::Json, to_json(&objects))] {
            let mut db = TestDb::with_log();
            db.threads = threads;
            let mut ws = load(db, &text);
            ws.db.start_log();
            let batching = kdep_eval::Batching { files: Some(130), ..Default::default() };
            let out = kdep_eval::build_rendered_in_batches(&mut ws.db, ws.project, None, format, batching);
            assert!(joined(&out, format) == want, "{threads} threads, {format:?}: the output differs");
            assert_eq!(out.diagnostics, reference.diagnostics, "{threads} threads, {format:?}");
            // The case this is about: `Web`'s file was lowered, dropped and lowered again.
            let web = ws.files.iter().find(|(p, _)| p == "a/web.kdep").map(|(_, f)| *f).expect("web");
            let lowered = format!("file_hir({:?})", salsa::plumbing::AsId::as_id(&web));
            let log = ws.db.take_log();
            let times = log.iter().filter(|l| **l == lowered).count();
            assert_eq!(times, 2, "{threads} threads: `a/web.kdep` lowered {times} times ({lowered} in {log:?})");
        }
    }
}
