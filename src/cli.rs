//! The command line: `serve` (the default), `migrate`, `openapi` and
//! `healthcheck`.

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
    /// Print the OpenAPI spec and exit.
    Openapi {
        #[arg(long, value_enum, default_value_t = SpecFormat::Json)]
        format: SpecFormat,
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
        Command::Openapi { format } => {
            let service = api::service();
            match format {
                SpecFormat::Json => println!("{}", api::spec_json()),
                SpecFormat::Yaml => print!("{}", service.spec_yaml()),
            }
            Ok(())
        }
        Command::Healthcheck { url } => return healthcheck(&env, url).await,
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
