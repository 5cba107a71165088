//! The writer: one thread owns every compiler session and applies edits strictly in arrival
//! order; readers get snapshots from it through the same queue, so a read sees exactly the edits
//! that arrived before it.
//!
//! Sessions: one per package root found from the opened files (the folder holding the nearest
//! `kdep.toml`), each with its path dependencies and the stdlib. Files are read through an
//! overlay: open editor buffers first, then the disk.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use kdep_compiler::loader::{find_package_root, FileKind, PACKAGE_TOML};
use kdep_compiler::{Change, DirEntry, LoadError, PathKind, Session, Snapshot, Vfs, Workspace};
use kdep_diag::FileId;

/// The disk as the server sees it, injected by the caller (the CLI passes its file system).
pub type Disk = Box<dyn Vfs + Send>;

/// A message to the writer.
pub enum Msg {
    Open {
        path: PathBuf,
        text: String,
        version: i32,
    },
    Change {
        path: PathBuf,
        text: String,
        version: i32,
    },
    Close {
        path: PathBuf,
    },
    /// A file changed on disk (`workspace/didChangeWatchedFiles`, or a save).
    Disk {
        path: PathBuf,
    },
    /// A snapshot of the session best suited to `path` and the file's id in it.
    Snapshot {
        path: PathBuf,
        reply: tokio::sync::oneshot::Sender<Option<(Snapshot, FileId)>>,
    },
    /// A snapshot of every session (workspace symbols).
    AllSnapshots {
        reply: tokio::sync::oneshot::Sender<Vec<Snapshot>>,
    },
}

/// What the writer asks the publisher to do after a batch of edits.
pub struct Publish {
    /// Sessions whose diagnostics may have changed, with their snapshot.
    pub snapshots: Vec<(PathBuf, Snapshot)>,
    /// Open documents that belong to no package, with the reason.
    pub outside: Vec<(PathBuf, String)>,
    /// Open documents that belong to a package again (their "outside" diagnostic goes).
    pub inside: Vec<PathBuf>,
    /// Roots whose session is gone (kdep.toml deleted): their files' diagnostics are cleared.
    pub dropped: Vec<PathBuf>,
    /// Files the editor has open, for priority.
    pub open: Vec<PathBuf>,
    /// Batches are numbered in the order the edits were applied.
    pub seq: u64,
}

/// A `kdep.lock` larger than this is not read (it lists a few lines per dependency).
const LOCK_LIMIT: u64 = 16 << 20;

struct Open {
    text: String,
    version: i32,
}

/// The disk with the editor's open buffers on top.
struct Overlay<'a> {
    disk: &'a dyn Vfs,
    open: &'a HashMap<PathBuf, Open>,
}

impl Vfs for Overlay<'_> {
    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        match self.open.get(path) {
            Some(o) if o.text.len() as u64 > limit => Err(io::Error::from(io::ErrorKind::FileTooLarge)),
            Some(o) => Ok(o.text.clone().into_bytes()),
            None => self.disk.read(path, limit),
        }
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        self.disk.read_dir(path)
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.disk.is_dir(path)
    }
    fn is_file(&self, path: &Path) -> bool {
        self.open.contains_key(path) || self.disk.is_file(path)
    }
    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        if self.open.contains_key(path) {
            return Ok(PathKind::File);
        }
        self.disk.kind(path)
    }
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        if self.open.contains_key(path) {
            return Ok(path.to_path_buf());
        }
        self.disk.canonicalize(path)
    }
}

pub struct World {
    disk: Disk,
    /// Package root → its session.
    sessions: BTreeMap<PathBuf, Session>,
    open: HashMap<PathBuf, Open>,
    /// Stdlib documents served from the cache folder: their path there ↔ `std:/…`.
    stdlib_dir: Option<PathBuf>,
}

impl World {
    pub fn new(disk: Disk, stdlib_dir: Option<PathBuf>) -> World {
        World { disk, sessions: BTreeMap::new(), open: HashMap::new(), stdlib_dir }
    }

    /// Runs the writer loop until every sender is gone. After each batch of queued messages it
    /// hands the changed sessions' snapshots to `publish`.
    pub fn run(mut self, rx: mpsc::Receiver<Msg>, publish: &dyn Fn(Publish)) {
        let mut seq = 0u64;
        while let Ok(first) = rx.recv() {
            let mut batch = Publish {
                snapshots: Vec::new(),
                outside: Vec::new(),
                inside: Vec::new(),
                dropped: Vec::new(),
                open: Vec::new(),
                seq: 0,
            };
            let mut changed: BTreeSet<PathBuf> = BTreeSet::new();
            let mut msg = Some(first);
            while let Some(m) = msg.take() {
                self.handle(m, &mut changed, &mut batch);
                msg = rx.try_recv().ok();
            }
            if changed.is_empty() && batch.outside.is_empty() && batch.inside.is_empty() && batch.dropped.is_empty() {
                continue;
            }
            batch.snapshots =
                changed.iter().filter_map(|root| Some((root.clone(), self.sessions.get(root)?.snapshot()))).collect();
            batch.open = self.open.keys().cloned().collect();
            batch.open.sort();
            seq += 1;
            batch.seq = seq;
            publish(batch);
        }
    }

    fn handle(&mut self, msg: Msg, changed: &mut BTreeSet<PathBuf>, batch: &mut Publish) {
        match msg {
            Msg::Open { path, text, version } => {
                self.open.insert(path.clone(), Open { text, version });
                self.sync(&path, changed, batch);
            }
            Msg::Change { path, text, version } => {
                // Full-text sync with versions: a change older than the buffer is dropped, so even
                // a reordered delivery cannot put old text back.
                if self.open.get(&path).is_some_and(|o| o.version > version) {
                    return;
                }
                self.open.insert(path.clone(), Open { text, version });
                self.sync(&path, changed, batch);
            }
            Msg::Close { path } => {
                self.open.remove(&path);
                // The disk is the truth again (the buffer may have been closed unsaved).
                self.sync(&path, changed, batch);
            }
            Msg::Disk { path, .. } => {
                if self.open.contains_key(&path) && !is_package_toml(&path) {
                    return; // The editor's buffer wins over the disk while it is open.
                }
                self.sync(&path, changed, batch);
            }
            Msg::Snapshot { path, reply } => {
                let _ = reply.send(self.snapshot_for(&path));
            }
            Msg::AllSnapshots { reply } => {
                let _ = reply.send(self.sessions.values().map(Session::snapshot).collect());
            }
        }
    }

    /// Brings every session up to date with `path` (an open buffer or the disk).
    fn sync(&mut self, path: &Path, changed: &mut BTreeSet<PathBuf>, batch: &mut Publish) {
        if is_package_toml(path) {
            // A changed, created or deleted `kdep.toml` changes the package graph: sessions
            // reading it are loaded again (or dropped when it is gone).
            let roots: Vec<PathBuf> = self
                .sessions
                .iter()
                .filter(|(_, s)| s.loaded().packages.iter().any(|p| p.root.join(PACKAGE_TOML) == path))
                .map(|(r, _)| r.clone())
                .collect();
            for root in roots {
                self.sessions.remove(&root);
                if self.load(&root, batch).is_some() {
                    changed.insert(root);
                } else {
                    batch.dropped.push(root);
                }
            }
            self.reattach_open(changed, batch);
            return;
        }
        if path.extension().is_none_or(|e| e != "kdep") || self.stdlib_dir.as_ref().is_some_and(|d| path.starts_with(d))
        {
            return;
        }
        let text = match self.open.get(path) {
            Some(o) => Some(o.text.clone()),
            None => {
                self.disk.read(path, kdep_compiler::loader::MAX_FILE_BYTES).ok().and_then(|b| String::from_utf8(b).ok())
            }
        };
        for (root, session) in &mut self.sessions {
            let change = match &text {
                Some(text) => session.add_file(path, text),
                None => session.remove_file(path),
            };
            if change == Change::Applied {
                changed.insert(root.clone());
            }
        }
        if self.open.contains_key(path) {
            self.ensure_session(path, changed, batch);
        }
    }

    /// Loads the session of the package an open file belongs to, unless one is loaded; a file in
    /// no package gets the reason instead.
    fn ensure_session(&mut self, path: &Path, changed: &mut BTreeSet<PathBuf>, batch: &mut Publish) {
        let overlay = Overlay { disk: &*self.disk, open: &self.open };
        match find_package_root(&overlay, path) {
            Ok(root) => {
                if !self.sessions.contains_key(&root) && self.load(&root, batch).is_some() {
                    changed.insert(root);
                }
                batch.inside.push(path.to_path_buf());
            }
            Err(e) => batch.outside.push((path.to_path_buf(), outside_message(&e))),
        }
    }

    /// After the package graph changed: every open file is in a session again, or told why not.
    fn reattach_open(&mut self, changed: &mut BTreeSet<PathBuf>, batch: &mut Publish) {
        let mut open: Vec<PathBuf> = self.open.keys().filter(|p| !is_package_toml(p)).cloned().collect();
        open.sort();
        for path in open {
            self.ensure_session(&path, changed, batch);
        }
    }

    fn load(&mut self, root: &Path, batch: &mut Publish) -> Option<()> {
        let overlay = Overlay { disk: &*self.disk, open: &self.open };
        // Git and OCI dependencies are found as `kdep build --offline` finds them: the versions
        // `kdep.lock` names, in `vendor/` or the cache. The editor never fetches.
        let lock = overlay
            .read(&root.join("kdep.lock"), LOCK_LIMIT)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| kdep_compiler::lock::parse_lock(&text).ok())
            .unwrap_or_default();
        let cache = kdep_pkg::Cache::from_env().ok();
        let dirs = kdep_compiler::remote::source_dirs(root, cache.as_ref().map(kdep_pkg::Cache::root));
        let mut remote = kdep_compiler::remote::LockedCache::new(lock, dirs);
        match Workspace::load_with_remote(&overlay, root, 1, &mut remote) {
            Ok(session) => {
                self.sessions.insert(root.to_path_buf(), session);
                Some(())
            }
            Err(e) => {
                for path in self.open.keys().filter(|p| p.starts_with(root)) {
                    batch.outside.push((path.clone(), outside_message(&e)));
                }
                None
            }
        }
    }

    /// The session for requests on `path`: the one whose root package holds it, else any that
    /// has it (a dependency's file, the stdlib).
    fn snapshot_for(&self, path: &Path) -> Option<(Snapshot, FileId)> {
        let key = match &self.stdlib_dir {
            Some(dir) if path.starts_with(dir) => {
                let rel = path.strip_prefix(dir).ok()?;
                PathBuf::from(format!("std:/{}", rel.to_string_lossy().replace('\\', "/")))
            }
            _ => path.to_path_buf(),
        };
        let mut best: Option<(Snapshot, FileId)> = None;
        for session in self.sessions.values() {
            let Some(id) = session.file_id(&key) else { continue };
            let snap = session.snapshot();
            let root = snap.is_root_module(id);
            let stdlib = snap.file(id).is_some_and(|f| f.kind == FileKind::Stdlib);
            if root || best.is_none() {
                best = Some((snap, id));
                if root || stdlib {
                    break;
                }
            }
        }
        best
    }
}

fn is_package_toml(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == PACKAGE_TOML)
}

/// Why an open file has no session, as a diagnostic message.
fn outside_message(e: &LoadError) -> String {
    match e {
        LoadError::NotAPackage(_) => format!(
            "this file is not in a kdep package: no `{PACKAGE_TOML}` in its folder or any parent folder; \
             create one (a [package] table with name and version) to check it"
        ),
        other => format!("the package of this file cannot be loaded: {other}"),
    }
}
