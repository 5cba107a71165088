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
    let work = |db: &dyn Db| {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        while let Some(range) = take(&next, items.len(), threads) {
            let start = range.start;
            done.push((start, items.get(range).unwrap_or_default().iter().map(|it| f(db, it)).collect()));
        }
        done
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
