//! Black-box tests: the real service over HTTP against a real database.
//! They need only Rust and that database; the tests that also need nginx
//! are in `tests/proxy`, those that freeze a database of their own in
//! `tests/outage`.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod admin;
mod auth;
#[path = "../support/binary.rs"]
mod binary;
mod caching;
mod cli;
mod connections;
mod editing;
mod errors;
#[path = "../support/examined.rs"]
mod examined;
#[path = "../support/explain.rs"]
mod explain;
mod health;
#[path = "../support/helpers.rs"]
mod helpers;
mod hostile;
mod idempotency;
mod listing;
mod metrics;
mod migrations;
mod plans;
mod products;
mod search;
mod sessions;
mod spec;
mod startup;
mod throttle;
mod tokens;
mod warnings;
