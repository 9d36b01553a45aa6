//! Black-box tests: the real service over HTTP against a real database.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod auth;
mod cli;
mod connections;
mod errors;
mod health;
mod helpers;
mod hostile;
mod nginx;
mod plans;
mod products;
mod sessions;
mod spec;
mod startup;
mod throttle;
mod tokens;
