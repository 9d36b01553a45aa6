//! Deployment files, checked without a Docker engine: the EC2 user-data
//! script against stubbed system commands, and the Compose file with a
//! real Compose validator.

#![allow(clippy::unwrap_used)]

mod compose;
mod dockerfile;
mod user_data;
