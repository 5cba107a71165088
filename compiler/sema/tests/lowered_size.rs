//! The heap a lowered app file and its item index keep, pinned: a large build holds both for
//! every root file from `prepare` to the file's batch (docs/performance.md, Memory).

use std::collections::BTreeMap;

use kdep_diag::FileId;
use kdep_sema::db::{Package, Project, SourceFile};
use kdep_sema::heap::HeapCount;

#[salsa::db]
#[derive(Clone, Default)]
struct Db {
    storage: salsa::Storage<Self>,
}

#[salsa::db]
impl salsa::Database for Db {}

#[salsa::db]
impl kdep_sema::Db for Db {}

/// The benchmark's app file (`bench/build-bench.py`): one import, one app of 4 settings.
fn app_file(i: u32) -> String {
    format!(
        "import platform.webservice as ws\n\napp svc_{i:04} = ws.WebService {{\n    name = \"svc-{i:04}\"\n    \
         image = \"registry.example.com/team{t}/svc-{i:04}:1.{t}.{i}\"\n    \
         env = {{ SERVICE_NAME = \"svc-{i:04}\", DB_HOST = \"db-{t}.internal\", CACHE_TTL = \"120\", LOG_LEVEL = \"debug\" }}\n    \
         tier = \"medium\"\n}}\n",
        t = i % 7
    )
}

/// Lowers `count` app files in one database and counts what the last one adds to the others
/// (its own blocks; names it shares with them are theirs): its lowering, then its item index.
fn last_file_heap(count: u32) -> (HeapCount, HeapCount) {
    let db = Db::default();
    let mut modules = BTreeMap::new();
    let files: Vec<SourceFile> = (1..=count)
        .map(|i| {
            let f = SourceFile::new(&db, FileId(i), format!("services/svc_{i:04}.kdep"), app_file(i));
            modules.insert(format!("services.svc_{i:04}"), f);
            f
        })
        .collect();
    let root = Package::new(&db, "bench".into(), modules, BTreeMap::new(), Default::default());
    let std = Package::new(&db, "std".into(), BTreeMap::new(), BTreeMap::new(), Default::default());
    let _project = Project::new(&db, root, std);
    let mut count = HeapCount::default();
    let (last, rest) = files.split_last().expect("files");
    for f in rest {
        count.file(kdep_sema::hir::file_hir(&db, *f));
        count.index(kdep_sema::index::item_index(&db, *f));
    }
    let hir = kdep_sema::hir::file_hir(&db, *last);
    assert!(hir.diagnostics.is_empty(), "{:?}", hir.diagnostics);
    assert_eq!(hir.apps.len(), 1);
    assert_eq!(hir.apps.values().next().map(|a| a.sets.len()), Some(4));
    count.by.clear();
    count.file(hir);
    let lowering = std::mem::take(&mut count.by);
    count.index(kdep_sema::index::item_index(&db, *last));
    let index = std::mem::replace(&mut count.by, lowering);
    let mut index_count = HeapCount::default();
    index_count.by = index;
    (count, index_count)
}

fn listed(count: &HeapCount) -> String {
    count.by.iter().map(|(k, v)| format!("{k}: {v}\n")).collect::<String>() + &format!("total: {}", count.total())
}

/// Checks `count` against `pinned` (holder → at most that many bytes) and its total.
fn at_most(what: &str, count: &HeapCount, pinned: &[(&str, usize)], total: usize) {
    let mut over = Vec::new();
    for (holder, bytes) in &count.by {
        let limit = pinned.iter().find(|(h, _)| h == holder).map_or(0, |(_, b)| *b);
        if *bytes > limit {
            over.push(format!("{holder}: {bytes} bytes, pinned at {limit}"));
        }
    }
    assert!(
        over.is_empty() && count.total() <= total,
        "{what} grew (docs/performance.md, Memory: a large build holds it for every file):\n{}\n\ncounted:\n{}",
        over.join("\n"),
        listed(count)
    );
}

/// A plain app file's lowering and item index, what a large build holds per file from `prepare`
/// to the file's batch, stay at most what they were when this was written (2,525 and 488 bytes
/// before the seventh pass of issue 11: names copied in every file, `IndexMap`s for one
/// declaration, `Vec`s and inline computed keys). The names it shares with the files lowered
/// before it (keys, paths, the import) are not its own: only the app's name is.
#[test]
fn a_lowered_app_file_stays_small() {
    let (lowering, index) = last_file_heap(3);
    eprintln!("lowering:\n{}\n\nitem index:\n{}", listed(&lowering), listed(&index));
    at_most(
        "a plain app file's lowering",
        &lowering,
        &[
            ("anchors", 24),
            ("apps", 136),
            ("declaration maps", 24),
            ("expressions", 288),
            ("file", 184),
            ("imports", 64),
            ("names", 24),
            ("object entries", 320),
            ("object keys", 96),
            ("paths", 64),
            ("settings", 160),
            ("strings", 172),
        ],
        1556,
    );
    at_most("a plain app file's item index", &index, &[("item index", 224)], 224);
}

/// The count sees what a file holds: one more setting, one more `in` block, an unshared key
/// each make the last file's lowering larger (a count that missed the settings, the blocks or
/// the names would pin nothing).
#[test]
fn the_count_grows_with_what_a_file_holds() {
    let (base, _) = last_file_heap(3);
    for extra in
        ["    replicas = 3\n", "    in prod { replicas = 3 }\n", "    env = { a_key_no_other_file_has = \"x\" }\n"]
    {
        let db = Db::default();
        let mut modules = BTreeMap::new();
        let mut files = Vec::new();
        for i in 1..=3u32 {
            let mut text = app_file(i);
            if i == 3 {
                text = text.replace("    tier = \"medium\"\n", &format!("    tier = \"medium\"\n{extra}"));
            }
            let f = SourceFile::new(&db, FileId(i), format!("services/svc_{i:04}.kdep"), text);
            modules.insert(format!("services.svc_{i:04}"), f);
            files.push(f);
        }
        let mut count = HeapCount::default();
        for f in &files[..2] {
            count.file(kdep_sema::hir::file_hir(&db, *f));
        }
        count.by.clear();
        count.file(kdep_sema::hir::file_hir(&db, files[2]));
        assert!(count.total() > base.total(), "{extra}: {} against {}", count.total(), base.total());
    }
}
