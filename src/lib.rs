//! catalog: accounts, JWT auth and a product catalog behind an
//! OpenAPI-first REST API on MySQL.
//!
//! A request flows `api` (HTTP only) → `domain` (rules, no HTTP) → `db`
//! (SQL only) and back. [`Application::build`] wires them together and
//! binds the listener, so tests can run the real service on port 0.

pub mod api;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod domain;
pub mod metric_names;
pub mod monitoring;
pub mod operator;
pub mod server;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use poem::EndpointExt;
use poem::endpoint::BoxEndpoint;
use tokio::net::TcpListener;

use config::{AdminConfig, Config, HttpConfig};
use domain::accounts::{AdminAccount, AdminOutcome};
use domain::clock::Clock;
use domain::cursor::Cursors;
use domain::devices::DeviceTokens;
use domain::passwords::Passwords;
use domain::sessions::SessionPolicy;
use domain::tokens::Tokens;
use domain::values::{Email, NewPassword, Username};
use domain::{Policies, Services, Signing};
use secrecy::ExposeSecret;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("the database is not usable")]
    Database(#[from] db::Error),
    #[error("could not prepare the service")]
    Domain(#[from] domain::Error),
    #[error("could not listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A ready-to-run service: migrated, seeded and bound to its port.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    metrics_listener: TcpListener,
    metrics_addr: SocketAddr,
    endpoint: BoxEndpoint<'static>,
    http: HttpConfig,
    shutdown_grace: std::time::Duration,
    services: Services,
    purge_interval: std::time::Duration,
    replica_checks: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Waits for the database, applies migrations, ensures the admin
    /// account and binds the listener.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        Self::build_with_clock(config, Clock::system()).await
    }

    /// [`Application::build`], reading the time from `clock` (tests move
    /// a manual one).
    pub async fn build_with_clock(config: Config, clock: Clock) -> Result<Self, StartupError> {
        // Refused before anything else, like every other bad setting.
        let admin = config.admin.as_ref().map(admin_account).transpose()?;
        monitoring::init();
        let db = connect_and_migrate(&config.database).await?;
        let (secret, previous) = (&config.jwt_secret, &config.jwt_previous_secrets);
        let signing = Signing {
            tokens: Tokens::new(secret, previous),
            cursors: Cursors::new(secret, previous),
            devices: DeviceTokens::new(secret, previous, config.throttle.device_ttl),
            consistency: domain::consistency::ConsistencyTokens::new(secret, previous),
        };
        let policies = Policies {
            sessions: SessionPolicy {
                access_ttl: config.access_token_ttl,
                refresh_absolute_ttl: config.refresh_token_ttl,
                refresh_idle_ttl: config.refresh_token_idle_ttl,
            },
            throttle: config.throttle.clone(),
            scan_slots: config.database.scan_slots,
        };
        let passwords = Passwords::new()?;
        let reads = read_replicas(&config.database, &db);
        // Before serving, so replicas that answer take reads at once.
        let replica_checks = reads.watch().await;
        let services = Services::new(db, reads, signing, passwords, policies, clock);
        ensure_admin(&services, admin).await?;

        let bind_error = |source| StartupError::Bind {
            addr: config.listen_addr,
            source,
        };
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let metrics_bind_error = |source| StartupError::Bind {
            addr: config.metrics_addr,
            source,
        };
        let metrics_listener = TcpListener::bind(config.metrics_addr)
            .await
            .map_err(metrics_bind_error)?;
        let metrics_addr = metrics_listener.local_addr().map_err(metrics_bind_error)?;
        let endpoint =
            api::app(services.clone(), &config.cors_allowed_origins, &config.http).boxed();
        let http = HttpConfig {
            max_connections: server::connection_cap(
                config.http.max_connections,
                config.database.pool_size,
            ),
            ..config.http
        };
        Ok(Self {
            listener,
            local_addr,
            metrics_listener,
            metrics_addr,
            endpoint,
            http,
            shutdown_grace: config.shutdown_grace,
            services,
            purge_interval: config.session_purge_interval,
            replica_checks,
        })
    }

    /// The address actually bound (useful when the port was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address `/metrics` is served on.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests
    /// finish for up to `SHUTDOWN_GRACE_SECS`.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) {
        tracing::info!(
            addr = %self.local_addr,
            metrics_addr = %self.metrics_addr,
            max_connections = self.http.max_connections,
            "listening"
        );
        // /metrics runs until the API has stopped, so a last scrape can
        // see the drain.
        let metrics = tokio::spawn(server::serve(
            "metrics",
            self.metrics_listener,
            monitoring::endpoint(self.services.db.pool().clone()).boxed(),
            HttpConfig::default(),
            std::future::pending(),
            std::time::Duration::ZERO,
        ));
        let purge = tokio::spawn(purge_periodically(self.services, self.purge_interval));
        server::serve(
            "api",
            self.listener,
            self.endpoint,
            self.http,
            shutdown,
            self.shutdown_grace,
        )
        .await;
        purge.abort();
        for check in self.replica_checks {
            check.abort();
        }
        metrics.abort();
        tracing::info!("server stopped");
    }
}

/// Builds the pool, waits for the database and applies migrations.
pub async fn connect_and_migrate(
    config: &config::DatabaseConfig,
) -> Result<db::Database, StartupError> {
    let pool = db::pool(
        &config.url,
        &config.tls,
        &db::PoolOptions {
            max_size: config.pool_size,
            acquire_timeout: config.acquire_timeout,
        },
    );
    let mut db = db::Database::new(pool, config.statement_timeout);
    wait_for_database(config).await?;
    db::ping(&db).await?;
    db.detect_server(config.read_timeout).await?;
    let applied = db::migrate(db.pool()).await?;
    tracing::info!(applied, "database migrations are up to date");
    if !domain::catalog::search_index_complete(&db).await? {
        tracing::warn!(
            "the search index does not cover the products that existed before it: searches \
             miss them until `catalog reindex` has run to the end"
        );
    }
    Ok(db)
}

/// The read replicas `DATABASE_REPLICA_URLS` names, each with a pool of
/// its own (opened on first use), routed beside `primary`. A replica's
/// read may take the list-read limit plus the causal wait before the
/// primary is asked instead, and waits no longer than the causal wait for
/// one of its connections: a busy replica sends reads to the primary
/// rather than queue them.
fn read_replicas(config: &config::DatabaseConfig, primary: &db::Database) -> db::replicas::Reads {
    let settings = &config.replicas;
    let cap = config.read_timeout + settings.causal_wait;
    let replicas = settings
        .replicas
        .iter()
        .map(|(url, tls)| {
            let pool = db::pool(
                url,
                tls,
                &db::PoolOptions {
                    max_size: settings.pool_size,
                    acquire_timeout: config.acquire_timeout.min(settings.causal_wait),
                },
            );
            let db =
                db::Database::new(pool, config.statement_timeout).capped(cap, primary.read_limit());
            db::replicas::Replica::new(url.clone(), tls.clone(), db)
        })
        .collect::<Vec<_>>();
    if !replicas.is_empty() {
        tracing::info!(
            replicas = replicas.len(),
            max_lag_secs = settings.max_lag.as_secs_f64(),
            causal_wait_ms = settings.causal_wait.as_millis() as u64,
            "anonymous product reads go to read replicas"
        );
    }
    db::replicas::Reads::new(
        primary.clone(),
        replicas,
        settings.causal_wait,
        settings.max_lag,
    )
}

/// The admin account `ADMIN_*` describe, validated by the account rules;
/// a value that breaks one is reported as a configuration error naming
/// its variable.
fn admin_account(admin: &AdminConfig) -> Result<AdminAccount, config::ConfigError> {
    let invalid = |variable| {
        move |reason| config::ConfigError {
            variable,
            problem: reason,
        }
    };
    Ok(AdminAccount {
        username: Username::parse(admin.username.clone()).map_err(invalid("ADMIN_USERNAME"))?,
        email: Email::parse(admin.email.clone()).map_err(invalid("ADMIN_EMAIL"))?,
        password: NewPassword::parse(admin.password.expose_secret().to_owned())
            .map_err(invalid("ADMIN_PASSWORD"))?,
    })
}

/// Waits for the database with a capped exponential backoff, logging each
/// failed attempt, and gives up once `DATABASE_STARTUP_TIMEOUT_SECS` has
/// passed; at once when the TLS setting cannot be met, which waiting will
/// not change. Logs whether, and how, the connection is encrypted.
async fn wait_for_database(config: &config::DatabaseConfig) -> Result<(), StartupError> {
    let deadline = config.startup_timeout;
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1u32;
    loop {
        match db::tls::probe(config.url.expose_secret(), &config.tls).await {
            Ok(Some((version, cipher))) => {
                tracing::info!(tls = config.tls.mode.name(), %version, %cipher, "database connection is encrypted");
                return Ok(());
            }
            Ok(None) => {
                tracing::info!(
                    tls = config.tls.mode.name(),
                    "database connection is not encrypted"
                );
                return Ok(());
            }
            Err(db::tls::ConnectFailure::Tls(why)) => {
                return Err(config::ConfigError {
                    variable: "DATABASE_TLS",
                    problem: why,
                }
                .into());
            }
            Err(db::tls::ConnectFailure::Other(err)) if started.elapsed() + delay < deadline => {
                tracing::warn!(
                    attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %telemetry::error_chain(&err),
                    "database not ready yet"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            Err(db::tls::ConnectFailure::Other(err)) => {
                return Err(db::Error::Unavailable(Box::new(err)).into());
            }
        }
    }
}

async fn ensure_admin(
    services: &Services,
    admin: Option<AdminAccount>,
) -> Result<(), StartupError> {
    let Some(admin) = admin else {
        tracing::warn!(
            "no admin account configured: set ADMIN_PASSWORD (and optionally ADMIN_USERNAME, \
             ADMIN_EMAIL) and restart to create one"
        );
        return Ok(());
    };
    let username = admin.username.as_str().to_owned();
    match services.accounts.ensure_admin(admin).await? {
        AdminOutcome::Created => tracing::info!(%username, "admin account created"),
        AdminOutcome::Promoted => {
            tracing::info!(%username, "existing account promoted to admin")
        }
        AdminOutcome::AlreadyAdmin => tracing::info!(%username, "admin account present"),
    }
    Ok(())
}

/// Deletes expired refresh tokens, login counters and idempotency keys
/// every `interval` of
/// the services' clock. Every replica runs this; the deletes are
/// idempotent.
async fn purge_periodically(services: Services, interval: std::time::Duration) {
    loop {
        services.clock.sleep(interval).await;
        match services.accounts.purge_expired().await {
            Ok((tokens, counters)) => {
                tracing::debug!(tokens, counters, "purged expired sessions");
            }
            Err(err) => {
                tracing::warn!(error = %telemetry::error_chain(&err), "purging expired sessions failed");
            }
        }
        match services.catalog.purge_expired_keys().await {
            Ok(keys) => tracing::debug!(keys, "purged expired idempotency keys"),
            Err(err) => {
                tracing::warn!(error = %telemetry::error_chain(&err), "purging idempotency keys failed");
            }
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; draining in-flight requests");
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    #[test]
    fn an_admin_breaking_an_account_rule_is_a_configuration_error_naming_it() {
        let admin = |username: &str, email: &str, password: &str| AdminConfig {
            username: username.to_owned(),
            email: email.to_owned(),
            password: SecretString::from(password.to_owned()),
        };
        let ok = admin_account(&admin("admin", "admin@localhost", "a-long-enough-password"));
        assert_eq!(ok.unwrap().username.as_str(), "admin");
        for (bad, variable) in [
            (
                admin("a", "admin@localhost", "a-long-enough-password"),
                "ADMIN_USERNAME",
            ),
            (
                admin("admin", "nope", "a-long-enough-password"),
                "ADMIN_EMAIL",
            ),
            (admin("admin", "admin@localhost", "short"), "ADMIN_PASSWORD"),
        ] {
            let refused = admin_account(&bad).err().map(|err| err.variable);
            assert_eq!(refused, Some(variable));
        }
    }
}
