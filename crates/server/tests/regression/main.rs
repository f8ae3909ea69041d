//! Regression tests of issue 9: one module per area, each test named after the behaviour it keeps.

#![allow(clippy::unwrap_used)] // tests: a panic is a failure with a message

#[path = "../common/mod.rs"]
mod common;

mod programme;
mod surface;
