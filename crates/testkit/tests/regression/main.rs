//! Regression tests for ferry-testkit, one module per area, each test named after the behaviour that
//! once broke (issue 9).

mod suite;
