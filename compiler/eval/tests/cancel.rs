//! Salsa cancels a query by unwinding through it; the evaluator's per-thread state (depth
//! budget, stack of `let`s being evaluated) must come back to rest all the same.

mod common;

use std::sync::{Arc, Mutex};

use common::{load, TestDb};

/// `outer` is evaluated first and reads `inner`, so cancelling when `inner` starts unwinds
/// through an evaluation of `outer` that holds depth and sits on the `let` stack.
const PROGRAM: &str = "//- a.kdep\nlet outer = inner + 1\nlet inner = 2\nlet user = outer * 2\n";

#[test]
fn cancelled_evaluation_leaves_no_thread_state() {
    let token: Arc<Mutex<Option<salsa::CancellationToken>>> = Arc::default();
    let lets_started = Arc::new(Mutex::new(0));
    let (sink, started) = (token.clone(), lets_started.clone());
    let db = TestDb::with_events(move |event| {
        if let salsa::EventKind::WillExecute { database_key } = &event.kind {
            if format!("{database_key:?}").starts_with("module_let_value") {
                let mut n = started.lock().unwrap();
                *n += 1;
                // The second `let` to start is `inner`, inside `outer`: cancel there, once.
                if *n == 2 {
                    if let Some(t) = sink.lock().unwrap().take() {
                        t.cancel();
                    }
                }
            }
        }
    });
    let fx = load(db, PROGRAM);
    *token.lock().unwrap() = Some(salsa::Database::cancellation_token(&fx.db));
    let cancelled = salsa::Cancelled::catch(std::panic::AssertUnwindSafe(|| kdep_eval::check(&fx.db, fx.project)));
    assert!(cancelled.is_err(), "the evaluation was not cancelled: {cancelled:?}");
    assert_eq!(*lets_started.lock().unwrap(), 2);
    assert_eq!(kdep_eval::interp::thread_state(), (0, 0), "depth in use and `let`s on the stack");

    // A new handle on the same thread evaluates the same `let`s without a false cycle.
    let fresh = fx.db.clone();
    let diags = kdep_eval::check(&fresh, fx.project);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(kdep_eval::interp::thread_state(), (0, 0));
}
