//! The Graph emulator itself: each documented behaviour listed in `ferry_testkit::graph`'s module doc,
//! as an HTTP request and the documented answer.

mod auth;
mod common;
mod content;
mod delta;
mod drives;
mod items;
mod names;
mod throttle;
mod upload;
