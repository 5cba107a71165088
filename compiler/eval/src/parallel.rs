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

/// Pieces handed out per thread, about: small enough that the thread that draws the heavier
/// files (a template's first evaluation, a large app) does not leave the others idle at the
/// end, large enough that taking one (an atomic add) costs nothing next to the files in it.
const PIECES_PER_THREAD: usize = 16;

/// The body of [`par_map`] and [`par_each_forked`]: at most one thread per `min_per_worker`
/// items; with `caller_works` the calling thread works on the caller's handle, otherwise every
/// thread, the calling one included, works on a forked handle.
///
/// Items are not split in equal contiguous parts, one per thread, decided in advance: files
/// cost very different amounts (the first app of a template evaluates the template), so equal
/// parts finish at different times and the two-thread wall time is the slower part's. Each
/// thread instead takes the next small piece (`next`, an atomic index) until none is left,
/// and the pieces' results are put back in input order, so the output does not depend on
/// which thread took what.
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
    let piece = items.len().div_ceil(threads * PIECES_PER_THREAD).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Takes pieces until none is left: (index of the piece's first item, its results).
    let work = |db: &dyn Db| {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let start = next.fetch_add(piece, std::sync::atomic::Ordering::Relaxed);
            let Some(part) = items.get(start..items.len().min(start.saturating_add(piece))).filter(|p| !p.is_empty())
            else {
                return done;
            };
            done.push((start, part.iter().map(|it| f(db, it)).collect()));
        }
    };
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
