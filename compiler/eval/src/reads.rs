//! What a build's thread already read of the things every app shares (the emit plans of a
//! template, the emit rules of a package), kept for the rest of the build on that thread so
//! that each app after the first takes them from here instead of asking the database again.
//!
//! A read of a query with more than one argument interns the argument tuple first (a lookup,
//! and on two threads a lock both take), then claims and finds the memo; for a value read by
//! every instance of a template, that is paid once per app. Here it is paid once per thread
//! and build (a batched build keeps its workers from batch to batch, `parallel::Crew`, and their
//! tables with them).
//!
//! Soundness: the table is only ever handed to the build's per-file work, which runs outside
//! any tracked query, so nothing recorded by salsa depends on a read taken from it (inside a
//! tracked query every read stays a database read, or an edit would leave its memo stale).
//! And it only lives while the database cannot change: a [`Scope`] lasts one build (whose
//! database is borrowed for the whole of it), and each table remembers the scope it was filled
//! under, so a table left on a thread from an earlier build is emptied before it is read.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kdep_sema::db::{Db, Project, SourceFile};
use kdep_sema::hir::Name;
use kdep_sema::model::TemplateModel;
use kdep_sema::permit::EmitRules;
use rustc_hash::FxHashMap;

use crate::typeck::EmitPlans;

/// The shared values one thread read during one [`Scope`].
#[derive(Default)]
pub(crate) struct SharedReads {
    /// The scope the entries were read under.
    scope: u64,
    /// [`crate::typeck::emit_plans`] by template: by its file, then its name (a file declares
    /// few templates; looked up by the name's text, so a hit clones no shared name).
    plans: FxHashMap<SourceFile, Vec<(Name, Arc<EmitPlans>)>>,
    /// [`kdep_sema::permit::emit_rules`] by the file that writes the emits.
    rules: FxHashMap<SourceFile, Arc<EmitRules>>,
}

impl SharedReads {
    /// Reads (once) what evaluating an instance of `model` needs: the plans of its emits when
    /// `plans` (some emit is an object literal), and the rules of every file writing its emits.
    pub(crate) fn fetch(&mut self, db: &dyn Db, project: Project, model: &TemplateModel, plans: bool) {
        if plans {
            if let Some((tf, tn)) = model.sources.first() {
                let of_file = self.plans.entry(*tf).or_default();
                if !of_file.iter().any(|(n, _)| n == tn) {
                    of_file.push((tn.clone(), crate::typeck::emit_plans(db, project, *tf, tn.clone())));
                }
            }
        }
        for emit in &model.emits {
            self.rules
                .entry(emit.file)
                .or_insert_with(|| kdep_sema::permit::emit_rules(db, project, emit.file).clone());
        }
    }

    /// The emit plans of template `name` of `file`, if [`SharedReads::fetch`] read them.
    pub(crate) fn plans(&self, file: SourceFile, name: &Name) -> Option<&EmitPlans> {
        self.plans.get(&file)?.iter().find(|(n, _)| n == name).map(|(_, p)| &**p)
    }

    /// The emit rules of `file`, if [`SharedReads::fetch`] read them.
    pub(crate) fn rules(&self, file: SourceFile) -> Option<&EmitRules> {
        self.rules.get(&file).map(|r| &**r)
    }
}

/// The last scope handed out; 0 is never one.
static SCOPES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static READS: RefCell<SharedReads> = RefCell::default();
}

/// One build's span of reuse: [`with_reads`] under it hands out this thread's table, emptied
/// first if it was filled under another scope. Dropping it empties the creating thread's
/// table (the workers' end with their threads, at the end of the build).
pub(crate) struct Scope {
    id: u64,
}

impl Scope {
    pub(crate) fn begin() -> Self {
        Scope { id: SCOPES.fetch_add(1, Ordering::Relaxed) + 1 }
    }

    /// Runs `f` with this thread's table for this scope; with none when the table is already
    /// in use on this thread (a build nested in a build's work, which no path does today).
    pub(crate) fn with_reads<R>(&self, f: impl FnOnce(Option<&mut SharedReads>) -> R) -> R {
        READS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut reads) => {
                if reads.scope != self.id {
                    *reads = SharedReads { scope: self.id, ..SharedReads::default() };
                }
                f(Some(&mut reads))
            }
            Err(_) => f(None),
        })
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // `try_with`: the thread's locals may already be gone when it unwinds.
        let _ = READS.try_with(|cell| {
            if let Ok(mut reads) = cell.try_borrow_mut() {
                *reads = SharedReads::default();
            }
        });
    }
}
