//! The real service behind a real nginx running the project's config.
//! Needs nginx (Debian: nginx-light), so it is built only with the
//! `external-tools` feature, which `scripts/test.sh` turns on.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../support/binary.rs"]
mod binary;
#[path = "../support/helpers.rs"]
mod helpers;
#[path = "../support/nginx.rs"]
mod nginx;
mod rolling;
mod through_nginx;
