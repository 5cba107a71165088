//! Spreading per-file work over worker threads, when the database allows it ([`Db::fork`]).
//!
//! Results come back in input order, so output and diagnostics do not depend on scheduling.

use kdep_sema::db::Db;

/// Fewest items worth a thread of their own.
const MIN_ITEMS_PER_WORKER: usize = 64;
/// Stack of worker threads; evaluation limits need far less (see `interp::MAX_DEPTH`).
const WORKER_STACK: usize = 16 << 20;

/// Maps `f` over `items` on the threads (the caller's included), results in input order.
pub(crate) fn par_map<T, R>(db: &dyn Db, items: &[T], f: &(dyn Fn(&dyn Db, &T) -> R + Sync)) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    spread(db, items, MIN_ITEMS_PER_WORKER, true, f)
}

/// Runs `f` on each of a few large `items` (the duplicate check of each environment), spread
/// over the threads, every thread on a handle of its own (never the caller's, whose record of
/// reads stays small; see `on_side_handle` in `lib.rs`). [`par_map`]
/// keeps fewer than [`MIN_ITEMS_PER_WORKER`] items on one thread, right for per-file work but
/// not for a handful of queries that each read the whole package.
pub(crate) fn par_each_forked<T: Sync>(db: &dyn Db, items: &[T], f: &(dyn Fn(&dyn Db, &T) + Sync)) {
    spread(db, items, 1, false, f);
}

/// A thread takes about `1 / (SHARE * threads)` of the items left at a time (see [`take`]).
const SHARE: usize = 2;

/// The next piece of `len` items for one of `threads` threads, from the shared index `next`
/// of the first item not taken yet: about `1 / (SHARE * threads)` of what is left, at least
/// one item. Pieces shrink as the work runs out: the first ones are large (taking one costs a
/// compare-and-swap on a line both threads write, so few pieces while there is much to do),
/// the last ones a single file, so when one thread takes the last piece the others are
/// left waiting for one file's work at most. With pieces of a fixed size (1/16 of a thread's
/// share before: 157 files at N = 5000 on two threads) a thread could take the last piece
/// just after the other one ran out of work and keep it waiting for half of that on average,
/// at the end of every parallel phase.
fn take(next: &std::sync::atomic::AtomicUsize, len: usize, threads: usize) -> Option<std::ops::Range<usize>> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut start = next.load(Relaxed);
    loop {
        let left = len.checked_sub(start).filter(|&left| left > 0)?;
        let end = start + (left / threads.saturating_mul(SHARE).max(1)).max(1);
        match next.compare_exchange_weak(start, end, Relaxed, Relaxed) {
            Ok(_) => return Some(start..end),
            Err(now) => start = now,
        }
    }
}

/// The body of [`par_map`] and [`par_each_forked`]: at most one thread per `min_per_worker`
/// items; with `caller_works` the calling thread works on the caller's handle, otherwise every
/// thread, the calling one included, works on a forked handle.
///
/// Items are not split in equal contiguous parts, one per thread, decided in advance: files
/// cost very different amounts (the first app of a template evaluates the template), so equal
/// parts finish at different times and the two-thread wall time is the slower part's. Each
/// thread instead takes the next piece ([`take`]: smaller as less is left) until none is
/// left, and the pieces' results are put back in input order, so the output does not depend
/// on which thread took what.
fn spread<T, R>(
    db: &dyn Db,
    items: &[T],
    min_per_worker: usize,
    caller_works: bool,
    f: &(dyn Fn(&dyn Db, &T) -> R + Sync),
) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    // Each thread keeps the checked records of constant literals for this run.
    let _cache = crate::interp::RunCache::install();
    let wanted = db.parallelism().clamp(1, 64).min(items.len() / min_per_worker.max(1)).max(1);
    let mut forks: Vec<Box<dyn Db + Send>> = (usize::from(caller_works)..wanted).map_while(|_| db.fork()).collect();
    // The calling thread's handle: the caller's own, or the last fork.
    let own = if caller_works { None } else { forks.pop() };
    let here: &dyn Db = own.as_deref().map_or(db, |s| s as &dyn Db);
    // Nothing to spread.
    if forks.is_empty() {
        return items.iter().map(|it| f(here, it)).collect();
    }
    let threads = forks.len() + 1;
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Takes pieces until none is left: (index of the piece's first item, its results).
    let work = |db: &dyn Db| work_pieces(db, items, &next, threads, f);
    let work = &work;
    let mut pieces: Vec<(usize, Vec<R>)> = std::thread::scope(|scope| {
        let spawned: Vec<_> = forks
            .into_iter()
            .map(|fork| {
                std::thread::Builder::new().name("kdep-worker".into()).stack_size(WORKER_STACK).spawn_scoped(
                    scope,
                    move || {
                        let _cache = crate::interp::RunCache::install();
                        work(&*fork)
                    },
                )
            })
            .collect();
        // A thread that could not be started takes no piece: the others take its share.
        let mut pieces = work(here);
        for handle in spawned.into_iter().flatten() {
            match handle.join() {
                Ok(done) => pieces.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        pieces
    });
    pieces.sort_unstable_by_key(|(start, _)| *start);
    let mut out = Vec::with_capacity(items.len());
    for (_, results) in pieces {
        out.extend(results);
    }
    out
}

/// Takes pieces of `items` from `next` (shared by `threads` threads) until none is left:
/// (index of the piece's first item, its results).
fn work_pieces<T, R>(
    db: &dyn Db,
    items: &[T],
    next: &std::sync::atomic::AtomicUsize,
    threads: usize,
    f: &(dyn Fn(&dyn Db, &T) -> R + Sync),
) -> Vec<(usize, Vec<R>)> {
    let mut done: Vec<(usize, Vec<R>)> = Vec::new();
    while let Some(range) = take(next, items.len(), threads) {
        let start = range.start;
        done.push((start, items.get(range).unwrap_or_default().iter().map(|it| f(db, it)).collect()));
    }
    done
}

/// One batch handed to a kept worker ([`Crew`]): its handle to the database for this batch
/// only, the batch's items and the index of the first item not taken yet.
struct Shift<'env, T> {
    db: Box<dyn Db + Send>,
    items: &'env [T],
    next: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    threads: usize,
    /// Whether the build evicts after this batch: the worker then forgets its constants, as the
    /// caller's thread does at the eviction (`interp::forget_constants`).
    forget: bool,
}

/// What a worker reports for a shift: its pieces, or the panic that ended the shift.
type ShiftDone<R> = std::thread::Result<Vec<(usize, Vec<R>)>>;

/// Worker threads kept from one batch of a build to the next ([`with_crew`]).
///
/// [`par_map`] starts its threads for one call: a build in batches (20 of 256 files at
/// N = 5000) started a thread per batch, and each new thread began with cold caches (its own
/// copies of the map keys, the plain-key memo, the text buffer, a fresh allocator heap). A
/// crew's workers live for the whole build. They hold a handle to the database only while a
/// batch runs: each batch hands every worker a fork, which the worker drops before it reports
/// the batch done, so the caller has the only handle again when it evicts (salsa's `&mut`
/// access waits for every other handle to be dropped). The per-run caches tied to the
/// database's values are what they were with a thread per batch: the checked records of
/// constant literals ([`crate::interp::RunCache`]) are installed for one batch, and the
/// constants and their texts are forgotten at each eviction, on every worker as on the
/// caller's thread.
pub(crate) struct Crew<'scope, 'env, T, R> {
    scope: &'scope std::thread::Scope<'scope, 'env>,
    f: &'env (dyn Fn(&dyn Db, &T) -> R + Sync),
    /// One channel per worker started so far.
    workers: Vec<std::sync::mpsc::Sender<Shift<'env, T>>>,
    /// Every worker reports each shift's pieces here.
    done_tx: std::sync::mpsc::Sender<ShiftDone<R>>,
    done: std::sync::mpsc::Receiver<ShiftDone<R>>,
    /// Set when a worker could not be started: no further attempts.
    no_more: bool,
}

/// Runs `body` with a [`Crew`] mapping `f` over batches; the workers end with it.
pub(crate) fn with_crew<'env, T, R, O>(
    f: &'env (dyn Fn(&dyn Db, &T) -> R + Sync),
    body: impl FnOnce(&mut Crew<'_, 'env, T, R>) -> O,
) -> O
where
    T: Sync,
    R: Send + 'env,
{
    std::thread::scope(|scope| {
        let (done_tx, done) = std::sync::mpsc::channel();
        let mut crew = Crew { scope, f, workers: Vec::new(), done_tx, done, no_more: false };
        // The crew (its senders) is dropped at the end of `body`, also when it unwinds: each
        // worker's channel closes, it returns, and the scope joins it.
        body(&mut crew)
    })
}

impl<'scope, 'env, T, R> Crew<'scope, 'env, T, R>
where
    T: Sync,
    R: Send + 'env,
{
    /// [`par_map`] of the crew's function over one batch: results in input order, the items
    /// taken in pieces by the caller's thread (on `db`) and the workers (each on a fork of it),
    /// at most one thread per [`MIN_ITEMS_PER_WORKER`] items. `evicts`: the build evicts after
    /// this batch (see [`Shift::forget`]). Every fork is dropped when this returns.
    pub(crate) fn map(&mut self, db: &dyn Db, items: &'env [T], evicts: bool) -> Vec<R> {
        let f = self.f;
        let _cache = crate::interp::RunCache::install();
        let wanted = db.parallelism().clamp(1, 64).min(items.len() / MIN_ITEMS_PER_WORKER).max(1);
        let forks: Vec<Box<dyn Db + Send>> = (1..wanted).map_while(|_| db.fork()).collect();
        if forks.is_empty() {
            return items.iter().map(|it| f(db, it)).collect();
        }
        let threads = forks.len() + 1;
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut sent = 0usize;
        for (k, fork) in forks.into_iter().enumerate() {
            let shift = Shift { db: fork, items, next: next.clone(), threads, forget: evicts };
            // A worker that could not be started takes no piece: the others take its share
            // (and its fork is dropped here).
            if self.worker(k).is_some_and(|w| w.send(shift).is_ok()) {
                sent += 1;
            }
        }
        let mut pieces = work_pieces(db, items, &next, threads, f);
        for _ in 0..sent {
            match self.done.recv() {
                Ok(Ok(done)) => pieces.extend(done),
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                // Cannot happen: the crew holds a sender itself.
                Err(_) => break,
            }
        }
        pieces.sort_unstable_by_key(|(start, _)| *start);
        let mut out = Vec::with_capacity(items.len());
        for (_, results) in pieces {
            out.extend(results);
        }
        out
    }

    /// The channel of worker `k`, started now if it is not running yet.
    fn worker(&mut self, k: usize) -> Option<&std::sync::mpsc::Sender<Shift<'env, T>>> {
        while self.workers.len() <= k && !self.no_more {
            let (tx, rx) = std::sync::mpsc::channel::<Shift<'env, T>>();
            let done = self.done_tx.clone();
            let f = self.f;
            let started = std::thread::Builder::new().name("kdep-worker".into()).stack_size(WORKER_STACK).spawn_scoped(
                self.scope,
                move || {
                    while let Ok(shift) = rx.recv() {
                        let Shift { db, items, next, threads, forget } = shift;
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            let _cache = crate::interp::RunCache::install();
                            work_pieces(&*db, items, &next, threads, f)
                        }));
                        // The handle first: the caller evicts once every worker reported.
                        drop(db);
                        if forget {
                            crate::interp::forget_constants();
                        }
                        if done.send(result).is_err() {
                            return;
                        }
                    }
                },
            );
            match started {
                Ok(_) => self.workers.push(tx),
                Err(_) => self.no_more = true,
            }
        }
        self.workers.get(k)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A database with no inputs: `spread` only asks it for threads and handles.
    #[salsa::db]
    #[derive(Clone, Default)]
    struct Threads {
        storage: salsa::Storage<Self>,
        threads: usize,
        /// Cloned with every fork: its count is the number of live handles.
        live: std::sync::Arc<()>,
    }

    #[salsa::db]
    impl salsa::Database for Threads {}

    #[salsa::db]
    impl Db for Threads {
        fn parallelism(&self) -> usize {
            self.threads
        }

        fn fork(&self) -> Option<Box<dyn Db + Send>> {
            (self.threads > 1).then(|| Box::new(self.clone()) as Box<dyn Db + Send>)
        }
    }

    /// Work that costs very different amounts per item (the first items a hundred times the
    /// others, like a template's first evaluation), so the threads take pieces out of order.
    fn uneven(i: usize) -> usize {
        let rounds = if i < 40 { 20_000 } else { 200 };
        (0..rounds).fold(i, |acc, k| std::hint::black_box(acc.wrapping_mul(31).wrapping_add(k))) % 7 + i * 10
    }

    #[test]
    fn results_come_back_in_input_order_with_every_item_taken_once() {
        let items: Vec<usize> = (0..1000).collect();
        let expected: Vec<usize> = items.iter().map(|&i| uneven(i)).collect();
        for threads in [1, 2, 3, 4, 8] {
            let db = Threads { threads, ..Threads::default() };
            let calls = AtomicUsize::new(0);
            let out = par_map(&db, &items, &|_, &i| {
                calls.fetch_add(1, Ordering::Relaxed);
                uneven(i)
            });
            assert_eq!(out, expected, "{threads} threads");
            assert_eq!(calls.load(Ordering::Relaxed), items.len(), "{threads} threads");
        }
    }

    /// The pieces one thread takes in a row when the others take none: every item once, in
    /// order; each piece at most about `1 / (SHARE * threads)` of what was left, so none is
    /// large when little is left, and the pieces at the end a single item each (a thread that
    /// takes the last piece keeps the others waiting one item at most); few pieces overall.
    #[test]
    fn pieces_cover_every_item_once_and_shrink_to_one_item_at_the_end() {
        for (len, threads) in [(0, 2), (1, 2), (7, 4), (300, 2), (5000, 2), (5000, 8), (100_000, 3)] {
            let next = AtomicUsize::new(0);
            let mut pieces = Vec::new();
            while let Some(range) = take(&next, len, threads) {
                pieces.push(range);
            }
            let mut expected_start = 0;
            for range in &pieces {
                assert_eq!(range.start, expected_start, "{len} items, {threads} threads: {pieces:?}");
                let left = len - range.start;
                assert!(
                    !range.is_empty() && range.len() <= left.div_ceil(threads * SHARE),
                    "{len}, {threads}: {range:?}"
                );
                expected_start = range.end;
            }
            assert_eq!(expected_start, len, "{len} items, {threads} threads");
            // The last `threads` pieces are one item each.
            let tail = pieces.len().saturating_sub(threads);
            assert!(
                pieces.get(tail..).unwrap_or_default().iter().all(|r| r.len() == 1),
                "{len}, {threads}: {pieces:?}"
            );
            // Few pieces: about `SHARE * threads` per halving of what is left.
            let bound = (threads * SHARE) * (usize::BITS - len.leading_zeros()) as usize + threads * SHARE;
            assert!(pieces.len() <= bound, "{len} items, {threads} threads: {} pieces", pieces.len());
        }
    }

    /// Threads taking pieces at once (four here) never take an item twice nor skip one.
    #[test]
    fn pieces_taken_by_racing_threads_cover_every_item_once() {
        let len = 20_000;
        let next = AtomicUsize::new(0);
        let taken: Vec<Vec<std::ops::Range<usize>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        while let Some(range) = take(&next, len, 4) {
                            mine.push(range);
                        }
                        mine
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("worker")).collect()
        });
        let mut all: Vec<std::ops::Range<usize>> = taken.into_iter().flatten().collect();
        all.sort_unstable_by_key(|r| r.start);
        let mut expected_start = 0;
        for range in &all {
            assert_eq!(range.start, expected_start);
            expected_start = range.end;
        }
        assert_eq!(expected_start, len);
    }

    /// A crew's workers live from batch to batch (the same threads take pieces of every
    /// batch), results come back in input order each time, and no fork outlives its batch: the
    /// database's handles are back to the caller's alone when `map` returns, as the eviction
    /// between two batches needs (salsa's `&mut` access waits for every other handle). A crew
    /// that kept its fork from one batch to the next, or that started new threads per batch,
    /// fails it.
    #[test]
    fn a_crew_keeps_its_threads_across_batches_and_drops_every_fork_after_each() {
        let db = Threads { threads: 3, ..Threads::default() };
        let items: Vec<usize> = (0..1000).collect();
        let expected: Vec<usize> = items.iter().map(|&i| uneven(i)).collect();
        let workers = std::sync::Mutex::new(std::collections::HashSet::new());
        let f = |_: &dyn Db, &i: &usize| {
            if std::thread::current().name() == Some("kdep-worker") {
                workers.lock().expect("lock").insert(std::thread::current().id());
            }
            uneven(i)
        };
        let mut db = db;
        with_crew(&f, |crew| {
            for batch in 0..4 {
                let out = crew.map(&db, &items, batch % 2 == 0);
                assert_eq!(out, expected, "batch {batch}");
                assert_eq!(std::sync::Arc::strong_count(&db.live), 1, "batch {batch}: a fork is still alive");
                // What the eviction between two batches does: `&mut` access, which waits for
                // every other handle to be dropped.
                use salsa::Database;
                db.synthetic_write(salsa::Durability::LOW);
            }
        });
        // Two workers (three threads, the caller's included), the same two in every batch.
        let workers = workers.into_inner().expect("lock");
        assert!((1..=2).contains(&workers.len()), "{} worker threads over four batches", workers.len());
    }

    #[test]
    fn few_items_stay_on_one_thread_and_forked_work_runs_each_item_once() {
        let db = Threads { threads: 4, ..Threads::default() };
        // Fewer than MIN_ITEMS_PER_WORKER: the caller's thread alone.
        let small: Vec<usize> = (0..10).collect();
        let names = par_map(&db, &small, &|_, _| std::thread::current().name().map(str::to_owned));
        assert!(names.iter().all(|n| n.as_deref() != Some("kdep-worker")), "{names:?}");
        // A handful of large items, each on some handle, each once.
        let seen = std::sync::Mutex::new(Vec::new());
        par_each_forked(&db, &[1, 2, 3], &|_, &i| seen.lock().expect("lock").push(i));
        let mut seen = seen.into_inner().expect("lock");
        seen.sort_unstable();
        assert_eq!(seen, [1, 2, 3]);
    }
}
