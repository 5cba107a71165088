//! The evaluator's bridge to the builtin library: lookup, arity and kind checks, and the call.

use crate::builtins;
use crate::value::Value;

pub(crate) enum CallResult {
    Ok(Value),
    Unknown,
    WrongArgs(String),
    Failed(String),
}

pub(crate) fn call(name: &str, args: &[Value]) -> CallResult {
    let Some(b) = builtins::lookup(name) else { return CallResult::Unknown };
    if let Err(msg) = b.check_args(args) {
        return CallResult::WrongArgs(msg);
    }
    match (b.call)(args) {
        Ok(v) => CallResult::Ok(v),
        Err(msg) => CallResult::Failed(msg),
    }
}
