//! The `rumprops` command: `eval` (the rule tester).
fn main() {}
