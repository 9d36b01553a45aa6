//! Deployment files, checked without a Docker engine: the EC2 user-data
//! script against stubbed system commands, and the Compose file with a
//! real Compose validator. Needs bash, python3 and docker-compose
//! (Debian's packages), so it is built only with the `external-tools`
//! feature, which `scripts/test.sh` turns on.

#![allow(clippy::unwrap_used)]

mod compose;
mod dockerfile;
mod user_data;
