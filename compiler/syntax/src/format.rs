//! The canonical formatter (`kdep fmt`): prints an AST plus its comments in one fixed layout.
