//! Regression tests for issue 9, through the real `ferry` binary against real servers: one module per
//! area, each test named after the behaviour it holds.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is a failure with a message

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod files;
mod mail;
mod programme;
