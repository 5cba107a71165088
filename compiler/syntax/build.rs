//! Build script: generates the parser from the lalrpop grammar.
fn main() {
    lalrpop::process_src().unwrap_or_else(|e| panic!("lalrpop failed: {e}"));
}
