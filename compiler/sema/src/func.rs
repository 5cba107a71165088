//! Signatures of user-defined functions: parameter and return types lowered once per file, and
//! the texts the evaluator and the static checks share for calls, so a mistake found by both is
//! reported once.

use std::sync::Arc;

use kdep_diag::{Diagnostic, TextRange};

use crate::db::{Db, Project, SourceFile};
use crate::hir::{file_hir, Name, NameMap};
use crate::ty::{Ty, TypeLowering};

/// One parameter: its name, its type and where the type is written.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSig {
    pub name: Name,
    pub ty: Arc<Ty>,
    pub ty_range: TextRange,
}

/// The lowered signature of one function.
#[derive(Clone, Debug, PartialEq)]
pub struct FnSig {
    pub params: Vec<ParamSig>,
    pub ret: Arc<Ty>,
    pub ret_range: TextRange,
    pub name_range: TextRange,
}

/// Signatures of a file's functions, and the problems lowering their types.
pub type FnSigs = (NameMap<Arc<FnSig>>, Vec<Diagnostic>);

/// Signatures of the functions declared in `file`; type names resolve in the file's module.
#[salsa::tracked(returns(clone))]
pub fn fn_signatures(db: &dyn Db, project: Project, file: SourceFile) -> Arc<FnSigs> {
    let hir = file_hir(db, file);
    let mut types = TypeLowering { db, project, file, diagnostics: Vec::new(), current: None };
    let mut out: NameMap<Arc<FnSig>> = Default::default();
    for (name, f) in &hir.functions {
        let params = f
            .params
            .iter()
            .map(|p| ParamSig { name: p.name.clone(), ty: Arc::new(types.lower(&p.ty)), ty_range: p.ty.range() })
            .collect();
        let ret = Arc::new(types.lower(&f.ret));
        out.insert(name.clone(), Arc::new(FnSig { params, ret, ret_range: f.ret.range(), name_range: f.name_range }));
    }
    Arc::new((out, types.diagnostics))
}

impl FnSig {
    /// `name(a: T, b: U) -> R`, as written in messages.
    pub fn display(&self, name: &str) -> String {
        let params: Vec<String> = self.params.iter().map(|p| format!("{}: {}", p.name, p.ty)).collect();
        format!("{name}({}) -> {}", params.join(", "), self.ret)
    }

    /// The message for a call with `got` arguments, when that is the wrong number; worded like
    /// the builtins' own.
    pub fn arity_error(&self, name: &str, got: usize) -> Option<String> {
        let expected = self.params.len();
        if got == expected {
            return None;
        }
        let plural = if expected == 1 { "" } else { "s" };
        Some(format!("`{name}` takes {expected} argument{plural} but {got} were given; usage: {}", self.display(name)))
    }
}
