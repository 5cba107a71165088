//! Spreading per-file work over worker threads, when the database allows it ([`Db::fork`]).
//!
//! Results come back in input order, so output and diagnostics do not depend on scheduling.

use kdep_sema::db::Db;

/// Fewest items worth a thread of their own.
const MIN_ITEMS_PER_WORKER: usize = 64;
/// Stack of worker threads; evaluation limits need far less (see `interp::MAX_DEPTH`).
const WORKER_STACK: usize = 16 << 20;

/// Maps `f` over `items` in contiguous chunks, one per thread (the caller's included).
pub(crate) fn par_map<T, R>(db: &dyn Db, items: &[T], f: &(dyn Fn(&dyn Db, &T) -> R + Sync)) -> Vec<R>
where
    T: Sync,
    R: Send,
{
    // Each thread keeps the checked records of constant literals for this run.
    let _cache = crate::interp::RunCache::install();
    let wanted = db.parallelism().clamp(1, 64).min(items.len() / MIN_ITEMS_PER_WORKER).max(1);
    let forks: Vec<Box<dyn Db + Send>> = (1..wanted).map_while(|_| db.fork()).collect();
    if forks.is_empty() {
        return items.iter().map(|it| f(db, it)).collect();
    }
    let chunk = items.len().div_ceil(forks.len() + 1).max(1);
    let mut parts = items.chunks(chunk);
    let first = parts.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let spawned: Vec<_> = forks
            .into_iter()
            .zip(parts)
            .map(|(fork, part)| {
                let handle = std::thread::Builder::new()
                    .name("kdep-worker".into())
                    .stack_size(WORKER_STACK)
                    .spawn_scoped(scope, move || {
                        let _cache = crate::interp::RunCache::install();
                        part.iter().map(|it| f(&*fork, it)).collect::<Vec<R>>()
                    });
                (part, handle)
            })
            .collect();
        let mut out: Vec<R> = first.iter().map(|it| f(db, it)).collect();
        for (part, handle) in spawned {
            match handle {
                Ok(h) => match h.join() {
                    Ok(results) => out.extend(results),
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                // No thread available: do that part here.
                Err(_) => out.extend(part.iter().map(|it| f(db, it))),
            }
        }
        out
    })
}

/// Runs `f` on each of a few large `items` (the duplicate check of each environment), spread
/// over the threads in contiguous chunks, every chunk on a handle of its own (never the
/// caller's, whose record of reads stays small; see `on_side_handle` in `lib.rs`). [`par_map`]
/// keeps fewer than [`MIN_ITEMS_PER_WORKER`] items on one thread, right for per-file work but
/// not for a handful of queries that each read the whole package.
pub(crate) fn par_each_forked<T: Sync>(db: &dyn Db, items: &[T], f: &(dyn Fn(&dyn Db, &T) + Sync)) {
    let workers = db.parallelism().clamp(1, 64).min(items.len()).max(1);
    let chunk = items.len().div_ceil(workers).max(1);
    let forks: Vec<Box<dyn Db + Send>> = items.chunks(chunk).map_while(|_| db.fork()).collect();
    if workers == 1 || forks.len() < items.chunks(chunk).len() {
        match forks.into_iter().next().or_else(|| db.fork()) {
            Some(side) => items.iter().for_each(|it| f(&*side, it)),
            None => items.iter().for_each(|it| f(db, it)),
        }
        return;
    }
    std::thread::scope(|scope| {
        let spawned: Vec<_> = forks
            .into_iter()
            .zip(items.chunks(chunk))
            .map(|(fork, part)| {
                let run = move || part.iter().for_each(|it| f(&*fork, it));
                std::thread::Builder::new().name("kdep-worker".into()).stack_size(WORKER_STACK).spawn_scoped(scope, run)
            })
            .collect();
        for (handle, part) in spawned.into_iter().zip(items.chunks(chunk)) {
            match handle {
                Ok(h) => {
                    if let Err(panic) = h.join() {
                        std::panic::resume_unwind(panic);
                    }
                }
                // No thread available: that part here, on a handle of its own when there is one.
                Err(_) => match db.fork() {
                    Some(side) => part.iter().for_each(|it| f(&*side, it)),
                    None => part.iter().for_each(|it| f(db, it)),
                },
            }
        }
    });
}
