//! Test harness for Ferry (in progress).
