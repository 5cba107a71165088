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
    spread(db, items, MIN_ITEMS_PER_WORKER, true, f)
}

/// Runs `f` on each of a few large `items` (the duplicate check of each environment), spread
/// over the threads in contiguous chunks, every chunk on a handle of its own (never the
/// caller's, whose record of reads stays small; see `on_side_handle` in `lib.rs`). [`par_map`]
/// keeps fewer than [`MIN_ITEMS_PER_WORKER`] items on one thread, right for per-file work but
/// not for a handful of queries that each read the whole package.
pub(crate) fn par_each_forked<T: Sync>(db: &dyn Db, items: &[T], f: &(dyn Fn(&dyn Db, &T) + Sync)) {
    spread(db, items, 1, false, f);
}

/// The body of [`par_map`] and [`par_each_forked`]: at most one thread per `min_per_worker`
/// items; with `caller_works` the calling thread takes the first chunk on the caller's handle,
/// otherwise every chunk runs on a forked handle (the first one on the calling thread when
/// there is a single fork).
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
    let forks: Vec<Box<dyn Db + Send>> = (usize::from(caller_works)..wanted).map_while(|_| db.fork()).collect();
    // Nothing to spread: the caller's handle, or the one fork on this thread.
    if forks.is_empty() || (!caller_works && forks.len() == 1) {
        let side = forks.into_iter().next();
        let db = side.as_deref().map_or(db, |s| s as &dyn Db);
        return items.iter().map(|it| f(db, it)).collect();
    }
    let chunk = items.len().div_ceil(forks.len() + usize::from(caller_works)).max(1);
    let mut parts = items.chunks(chunk);
    let first = if caller_works { parts.next().unwrap_or_default() } else { &[] };
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
                // No thread available: do that part here (on a handle of its own when the
                // caller's is to be spared and there is one).
                Err(_) if !caller_works => match db.fork() {
                    Some(side) => out.extend(part.iter().map(|it| f(&*side, it))),
                    None => out.extend(part.iter().map(|it| f(db, it))),
                },
                Err(_) => out.extend(part.iter().map(|it| f(db, it))),
            }
        }
        out
    })
}
