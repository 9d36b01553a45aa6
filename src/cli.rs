//! The command line: `serve` (the default), `migrate`, `reindex`,
//! `openapi`, `healthcheck` and the operator's `admin` commands.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Env, ProcessEnv};
use crate::{Application, StartupError, api, connect_and_migrate, shutdown_signal, telemetry};

#[derive(Debug, Parser)]
#[command(name = "catalog", version, about = "Product-catalog microservice")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Fill the search index for products that existed before it, in
    /// batches, resuming where the last run stopped; safe while the
    /// service runs. Logs its progress.
    Reindex {
        /// Products per batch (each batch is one transaction).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        batch: i64,
        /// Start again from the first product instead of resuming.
        #[arg(long)]
        restart: bool,
    },
    /// Print the OpenAPI spec and exit.
    Openapi {
        #[arg(long, value_enum, default_value_t = SpecFormat::Json)]
        format: SpecFormat,
    },
    /// Manage admins without the API, for when no admin can log in
    /// (needs only DATABASE_URL). Each change is an audit event.
    Admin {
        #[command(subcommand)]
        command: crate::operator::AdminCommand,
    },
    /// Exit 0 when the local service's /readyz answers 200 (for container
    /// health checks in images without curl).
    Healthcheck {
        /// URL to probe; defaults to /readyz on the port of LISTEN_ADDR.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SpecFormat {
    Json,
    Yaml,
}

/// Runs the parsed command; errors are printed as one line.
pub async fn run(cli: Cli) -> ExitCode {
    let env = Env::process();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&env).await,
        Command::Migrate => migrate(&env).await,
        Command::Reindex { batch, restart } => reindex(&env, batch, restart).await,
        Command::Openapi { format } => {
            let service = api::service();
            match format {
                SpecFormat::Json => println!("{}", api::spec_json()),
                SpecFormat::Yaml => print!("{}", service.spec_yaml()),
            }
            Ok(())
        }
        Command::Healthcheck { url } => return healthcheck(&env, url).await,
        Command::Admin { command } => return crate::operator::run(&env, command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let line = crate::telemetry::error_chain(&err);
            tracing::error!(error = %line, "start-up failed");
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(env: &ProcessEnv) -> Result<(), StartupError> {
    telemetry::init(env.log_format()?);
    let config = env.config()?;
    let app = Application::build(config).await?;
    app.run_until(shutdown_signal()).await;
    Ok(())
}

async fn migrate(env: &ProcessEnv) -> Result<(), StartupError> {
    telemetry::init(env.log_format()?);
    connect_and_migrate(&env.database()?).await?;
    Ok(())
}

async fn reindex(env: &ProcessEnv, batch: i64, restart: bool) -> Result<(), StartupError> {
    telemetry::init(env.log_format()?);
    let db = connect_and_migrate(&env.database()?).await?;
    let started = std::time::Instant::now();
    let mut last_log = started;
    let report = |progress: crate::domain::catalog::ReindexProgress| {
        let elapsed = started.elapsed().as_secs_f64().max(0.001);
        let rate = progress.indexed as f64 / elapsed;
        let left = (progress.last_id - progress.next_id + 1).max(0) as f64;
        tracing::info!(
            indexed = progress.indexed,
            next_id = progress.next_id,
            last_id = progress.last_id,
            products_per_sec = rate.round() as u64,
            eta_secs = if rate > 0.0 {
                (left / rate).round() as u64
            } else {
                0
            },
            "reindexing"
        );
    };
    let done = crate::domain::catalog::reindex(
        &db,
        &crate::domain::clock::Clock::system(),
        batch,
        restart,
        |progress| {
            if last_log.elapsed() >= Duration::from_secs(5) {
                last_log = std::time::Instant::now();
                report(progress);
            }
        },
    )
    .await?;
    report(done);
    tracing::info!(
        products = done.indexed,
        secs = started.elapsed().as_secs_f64(),
        "the search index is complete"
    );
    Ok(())
}

async fn healthcheck(env: &ProcessEnv, url: Option<String>) -> ExitCode {
    let url = match url {
        Some(url) => url,
        None => match env.listen_addr() {
            Ok(addr) => format!("http://127.0.0.1:{}/readyz", addr.port()),
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::FAILURE;
            }
        },
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => ExitCode::SUCCESS,
        Ok(response) => {
            eprintln!("unhealthy: {url} answered {}", response.status());
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("unhealthy: {url} did not answer: {err}");
            ExitCode::FAILURE
        }
    }
}
