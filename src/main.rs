//! The `commonground` binary.

fn main() {}
