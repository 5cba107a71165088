//! The `kdep` binary entry point.
fn main() {}
