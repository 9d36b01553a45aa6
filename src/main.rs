//! The `catalog` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    catalog::cli::run(catalog::cli::Cli::parse()).await
}
