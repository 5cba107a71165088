//! Operator and interpolation typing: which kinds of operands an operator takes, the kind it
//! gives, and the message when it does not. The one rule both typeck (on the kinds it infers,
//! before any app exists) and the evaluator (on the kinds of the values it computed) apply, so
//! the two cannot drift apart and a mistake found by both reads the same.

use kdep_diag::Code;

use crate::hir::{BinaryOp, UnaryOp};

/// The kind of an operand, at the granularity operators care about (a record is a map).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Quantity,
    Duration,
    List,
    Map,
}

impl OpKind {
    /// How a value of this kind is named in messages (`Value::type_name` in the evaluator).
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Null => "null",
            OpKind::Bool => "bool",
            OpKind::Int => "int",
            OpKind::Float => "float",
            OpKind::Str => "string",
            OpKind::Quantity => "quantity",
            OpKind::Duration => "duration",
            OpKind::List => "list",
            OpKind::Map => "map",
        }
    }

    fn is_num(self) -> bool {
        matches!(self, OpKind::Int | OpKind::Float)
    }
}

/// Why an operand does not fit: the code, the message and the label at the operand or operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpError {
    pub code: Code,
    pub message: String,
    pub label: String,
}

/// `-x`, `!x`.
pub fn unary(op: UnaryOp, k: OpKind) -> Result<OpKind, OpError> {
    match (op, k) {
        (UnaryOp::Not, OpKind::Bool) => Ok(OpKind::Bool),
        (UnaryOp::Neg, OpKind::Int | OpKind::Float | OpKind::Quantity | OpKind::Duration) => Ok(k),
        _ => Err(OpError {
            code: Code::INVALID_OPERAND,
            message: format!("`{}` cannot be applied to a {}", op.as_str(), k.name()),
            label: "invalid operand".to_owned(),
        }),
    }
}

/// One operand of `&&` or `||` (checked one at a time: the right one may never be evaluated).
pub fn logical_operand(op: BinaryOp, k: OpKind) -> Result<(), OpError> {
    if k == OpKind::Bool {
        return Ok(());
    }
    Err(OpError {
        code: Code::INVALID_OPERAND,
        message: format!("`{}` needs bool operands, got {}", op.as_str(), k.name()),
        label: "invalid operands".to_owned(),
    })
}

/// `l op r` for every operator but `&&` and `||` ([`logical_operand`]). A string next to a
/// quantity or duration is read as one (`memory >= "1Gi"`), so it is accepted here; whether the
/// text parses is only known from the value, and a string that does not is reported with
/// [`not_defined`].
pub fn binary(op: BinaryOp, l: OpKind, r: OpKind) -> Result<OpKind, OpError> {
    use OpKind as K;
    let qty_like = |k: K| matches!(k, K::Quantity | K::Str | K::Int);
    let dur_like = |k: K| matches!(k, K::Duration | K::Str);
    let with_qty = (l == K::Quantity || r == K::Quantity) && qty_like(l) && qty_like(r);
    let with_dur = (l == K::Duration || r == K::Duration) && dur_like(l) && dur_like(r);
    let result = match op {
        BinaryOp::Eq | BinaryOp::Ne => Some(K::Bool),
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
            let ok = (l.is_num() && r.is_num()) || (l == K::Str && r == K::Str) || with_qty || with_dur;
            ok.then_some(K::Bool)
        }
        BinaryOp::Add | BinaryOp::Sub => match (l, r) {
            (K::Int, K::Int) => Some(K::Int),
            (x, y) if x.is_num() && y.is_num() => Some(K::Float),
            (K::Str, K::Str) if op == BinaryOp::Add => Some(K::Str),
            (K::List, K::List) if op == BinaryOp::Add => Some(K::List),
            (K::Map, K::Map) if op == BinaryOp::Add => Some(K::Map),
            _ if with_qty => Some(K::Quantity),
            _ if with_dur => Some(K::Duration),
            _ => None,
        },
        BinaryOp::Mul => match (l, r) {
            (K::Int, K::Int) => Some(K::Int),
            (x, y) if x.is_num() && y.is_num() => Some(K::Float),
            (K::Quantity, K::Int) | (K::Int, K::Quantity) => Some(K::Quantity),
            (K::Duration, K::Int) | (K::Int, K::Duration) => Some(K::Duration),
            _ => None,
        },
        BinaryOp::Div | BinaryOp::Rem => match (l, r) {
            (K::Int, K::Int) => Some(K::Int),
            (x, y) if x.is_num() && y.is_num() => Some(K::Float),
            _ => None,
        },
        BinaryOp::And | BinaryOp::Or => {
            logical_operand(op, l)?;
            logical_operand(op, r)?;
            Some(K::Bool)
        }
    };
    result.ok_or_else(|| not_defined(op, l, r))
}

/// "`op` is not defined for `l` and `r`": the operator does not apply to these operands.
pub fn not_defined(op: BinaryOp, l: OpKind, r: OpKind) -> OpError {
    OpError {
        code: Code::INVALID_OPERAND,
        message: format!("`{}` is not defined for {} and {}", op.as_str(), l.name(), r.name()),
        label: "invalid operands".to_owned(),
    }
}

/// `"${x}"`: scalars are written as text; `null`, lists and maps are not.
pub fn interpolation(k: OpKind) -> Result<(), OpError> {
    match k {
        OpKind::Null | OpKind::List | OpKind::Map => Err(OpError {
            code: Code::TYPE_MISMATCH,
            message: format!("cannot interpolate a {} into a string", k.name()),
            label: format!("this is a {}", k.name()),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_next_to_quantities_and_durations_are_read_as_them() {
        assert_eq!(binary(BinaryOp::Add, OpKind::Str, OpKind::Quantity), Ok(OpKind::Quantity));
        assert_eq!(binary(BinaryOp::Ge, OpKind::Quantity, OpKind::Str), Ok(OpKind::Bool));
        assert_eq!(binary(BinaryOp::Sub, OpKind::Duration, OpKind::Str), Ok(OpKind::Duration));
        assert_eq!(
            binary(BinaryOp::Mul, OpKind::Str, OpKind::Quantity).map_err(|e| e.message),
            Err("`*` is not defined for string and quantity".to_owned())
        );
    }

    #[test]
    fn operands_that_do_not_fit_say_which() {
        let msg = |r: Result<OpKind, OpError>| r.err().map(|e| e.message);
        assert_eq!(
            msg(binary(BinaryOp::Sub, OpKind::Str, OpKind::Str)).as_deref(),
            Some("`-` is not defined for string and string")
        );
        assert_eq!(
            msg(binary(BinaryOp::And, OpKind::Bool, OpKind::Int)).as_deref(),
            Some("`&&` needs bool operands, got int")
        );
        assert_eq!(msg(unary(UnaryOp::Not, OpKind::Int)).as_deref(), Some("`!` cannot be applied to a int"));
        assert_eq!(
            interpolation(OpKind::List).err().map(|e| (e.code, e.label)),
            Some((Code::TYPE_MISMATCH, "this is a list".to_owned()))
        );
        assert_eq!(binary(BinaryOp::Eq, OpKind::Null, OpKind::List), Ok(OpKind::Bool));
    }
}
