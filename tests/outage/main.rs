//! The real binary against a database server of its own: one that stops
//! answering (frozen, with the project's nginx in front or not), one
//! that requires TLS, and a replicating primary and replica. Each test starts a private MariaDB from the
//! machine's `mariadb-install-db` and `mariadbd` (Debian: mariadb-server),
//! and the TLS tests make certificates with `openssl`. So it is built only
//! with the `external-tools` feature, which `scripts/test.sh` turns on.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "../support/binary.rs"]
mod binary;
mod cached;
#[path = "../support/helpers.rs"]
mod helpers;
#[path = "../support/mariadb.rs"]
mod mariadb;
#[path = "../support/nginx.rs"]
mod nginx;
mod replicas;
#[path = "../support/replication.rs"]
mod replication;
mod stalls;
mod tls;
