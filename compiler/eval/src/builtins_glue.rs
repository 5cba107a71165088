//! The evaluator's bridge to the builtin library: lookup, arity and kind checks, and the call.

use crate::builtins;
use crate::value::Value;

pub(crate) enum CallResult {
    Ok(Value),
    Unknown,
    WrongArgs(String),
    Failed(String),
    /// The call needed more than the steps it was allowed.
    OutOfSteps,
}

/// Calls builtin `name`, allowing it `steps` units of work; also returns the units it used.
pub(crate) fn call(name: &str, args: &[Value], steps: u64) -> (CallResult, u64) {
    let Some(b) = builtins::lookup(name) else { return (CallResult::Unknown, 0) };
    if let Err(msg) = b.check_args(args) {
        return (CallResult::WrongArgs(msg), 0);
    }
    let mut meter = builtins::Meter::new(steps);
    let out = match (b.call)(args, &mut meter) {
        _ if meter.exhausted() => CallResult::OutOfSteps,
        Ok(v) => CallResult::Ok(v),
        Err(msg) => CallResult::Failed(msg),
    };
    (out, meter.used())
}
