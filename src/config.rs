//! Typed configuration, read once from the environment (and `.env` when
//! present). Secrets are `SecretString`s so they never reach a log, and
//! none has a built-in default: a missing or weak one stops start-up with
//! one line naming the variable.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

use crate::db::tls::{DatabaseTls, TlsMode};

/// The smallest HS256 key we accept, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The default of every optional variable that has a fixed one, as it
/// would be written in the environment: the one table. The loader parses
/// these exactly as it parses the environment, and a test checks that the
/// configuration table (`docs/operating.md`) and `.env.example` show the
/// same values.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("LISTEN_ADDR", "0.0.0.0:8080"),
    ("METRICS_ADDR", "127.0.0.1:9000"),
    ("ACCESS_TOKEN_TTL_SECS", "900"),
    ("REFRESH_TOKEN_TTL_SECS", "1209600"),
    ("REFRESH_TOKEN_IDLE_TTL_SECS", "86400"),
    ("SESSION_PURGE_INTERVAL_SECS", "3600"),
    ("LOGIN_MAX_FAILURES", "10"),
    ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "100"),
    ("LOGIN_MAX_FAILURES_PER_CLIENT", "50"),
    ("LOGIN_FAILURE_WINDOW_SECS", "900"),
    ("LOGIN_DEVICE_TTL_SECS", "2592000"),
    ("SIGNUP_MAX_PER_CLIENT", "20"),
    ("SIGNUP_WINDOW_SECS", "3600"),
    ("THROTTLE_DELAY_SECS", "1"),
    ("HTTP_CACHE_MAX_AGE_SECS", "1"),
    ("HTTP_CACHE_STALE_IF_ERROR_SECS", "300"),
    ("TRUSTED_PROXY_HEADER", "x-forwarded-for"),
    ("DATABASE_POOL_SIZE", "10"),
    ("DATABASE_ACQUIRE_TIMEOUT_SECS", "5"),
    ("DATABASE_STATEMENT_TIMEOUT_SECS", "5"),
    ("DATABASE_READ_TIMEOUT_SECS", "1"),
    ("DATABASE_STARTUP_TIMEOUT_SECS", "60"),
    ("DATABASE_REPLICA_POOL_SIZE", "10"),
    ("DATABASE_REPLICA_MAX_LAG_SECS", "5"),
    ("DATABASE_CAUSAL_WAIT_MS", "200"),
    ("ADMIN_USERNAME", "admin"),
    ("ADMIN_EMAIL", "admin@localhost"),
    ("LOG_FORMAT", "human"),
    ("SHUTDOWN_GRACE_SECS", "20"),
    ("HEADER_READ_TIMEOUT_SECS", "10"),
    ("KEEP_ALIVE_TIMEOUT_SECS", "60"),
    ("MAX_CONNECTIONS", "1024"),
    ("MAX_CONNECTIONS_PER_CLIENT", "64"),
];

/// Where the configuration table is documented.
/// Whether a database URL's query string names one of the driver's TLS
/// switches or MySQL's own `ssl-mode`.
fn has_tls_parameter(url: &str) -> bool {
    const SWITCHES: [&str; 7] = [
        "require_ssl",
        "verify_ca",
        "verify_identity",
        "built_in_roots",
        "ssl-mode",
        "ssl_mode",
        "sslmode",
    ];
    url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            SWITCHES
                .iter()
                .any(|switch| key.eq_ignore_ascii_case(switch))
        })
    })
}

/// Whether a database host is this machine, where traffic never crosses
/// a network.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
const CONFIGURATION_DOC: &str = "docs/operating.md";

/// The default of `key` in [`DEFAULTS`].
pub fn default_of(key: &str) -> &'static str {
    DEFAULTS
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, value)| *value)
        .unwrap_or_else(|| panic!("{key} has no default in config::DEFAULTS"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// Settings the database needs; enough for `catalog migrate`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `DATABASE_URL`: `mysql://user:password@host:3306/name`.
    pub url: SecretString,
    /// `DATABASE_POOL_SIZE`: connections per process (default in [`DEFAULTS`]).
    pub pool_size: usize,
    /// `DATABASE_ACQUIRE_TIMEOUT_SECS`: how long a request waits for a
    /// connection before failing (default in [`DEFAULTS`]).
    pub acquire_timeout: Duration,
    /// `DATABASE_STARTUP_TIMEOUT_SECS`: how long start-up waits for the
    /// database to answer (default in [`DEFAULTS`]).
    pub startup_timeout: Duration,
    /// `DATABASE_STATEMENT_TIMEOUT_SECS`: the most a request may wait on
    /// the database in all, acquiring connections and running statements
    /// (default in [`DEFAULTS`]).
    pub statement_timeout: Duration,
    /// `DATABASE_READ_TIMEOUT_SECS`: the server stops any one read of a
    /// product list past this (default in [`DEFAULTS`]).
    pub read_timeout: Duration,
    /// `DATABASE_SCAN_SLOTS`: how many list reads that may examine many
    /// index entries (a search, a price filter in another order) may hold
    /// a connection at once (default a quarter of the pool, at least 1).
    pub scan_slots: usize,
    /// `DATABASE_TLS` and `DATABASE_CA_FILE`: how connections to the
    /// database are secured (default: `verify-full` with a CA file,
    /// `preferred` for a loopback host, `required` otherwise).
    pub tls: DatabaseTls,
    /// `DATABASE_REPLICA_URLS` and the settings of read replicas; none by
    /// default, when every statement goes to `DATABASE_URL`.
    pub replicas: ReplicaConfig,
}

/// Read replicas: where anonymous product reads go when they are healthy.
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    /// `DATABASE_REPLICA_URLS`: comma-separated `mysql://` URLs, each
    /// secured as `DATABASE_TLS` says for its host.
    pub replicas: Vec<(SecretString, DatabaseTls)>,
    /// `DATABASE_REPLICA_POOL_SIZE`: connections per replica (default in
    /// [`DEFAULTS`]).
    pub pool_size: usize,
    /// `DATABASE_REPLICA_MAX_LAG_SECS`: a replica further behind than this
    /// is skipped until it catches up (default in [`DEFAULTS`]).
    pub max_lag: Duration,
    /// `DATABASE_CAUSAL_WAIT_MS`: how long a read carrying a consistency
    /// token waits for a replica to apply it before it goes to the
    /// primary (default in [`DEFAULTS`]).
    pub causal_wait: Duration,
}

/// `ADMIN_*`: the account ensured at start-up, when a password is given.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub username: String,
    pub email: String,
    pub password: SecretString,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    /// `JWT_SECRET_KEY`: HS256 signing key, at least 32 bytes.
    pub jwt_secret: SecretString,
    /// `JWT_PREVIOUS_SECRET_KEYS`: comma-separated earlier keys that still
    /// verify tokens (named by `kid`) but never sign; for key rotation.
    pub jwt_previous_secrets: Vec<SecretString>,
    /// `LISTEN_ADDR` (default in [`DEFAULTS`]).
    pub listen_addr: SocketAddr,
    /// `METRICS_ADDR`: where `GET /metrics` is served, apart from the API
    /// (default in [`DEFAULTS`]).
    pub metrics_addr: SocketAddr,
    /// `ACCESS_TOKEN_TTL_SECS` (default in [`DEFAULTS`]).
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`: absolute lifetime of a session from its
    /// login, however often it refreshes (default in [`DEFAULTS`]).
    pub refresh_token_ttl: Duration,
    /// `REFRESH_TOKEN_IDLE_TTL_SECS`: how long a refresh token lives unused
    /// (default in [`DEFAULTS`]).
    pub refresh_token_idle_ttl: Duration,
    /// `SESSION_PURGE_INTERVAL_SECS`: how often expired refresh tokens and
    /// login counters are deleted (default in [`DEFAULTS`]).
    pub session_purge_interval: Duration,
    /// How password checks and signups are limited.
    pub throttle: ThrottleConfig,
    /// `CORS_ALLOWED_ORIGINS`: comma-separated origins; none by default.
    pub cors_allowed_origins: Vec<String>,
    /// `ADMIN_USERNAME` / `ADMIN_EMAIL` / `ADMIN_PASSWORD`.
    pub admin: Option<AdminConfig>,
    /// `SHUTDOWN_GRACE_SECS`: how long in-flight requests may drain on
    /// SIGTERM or Ctrl-C (default in [`DEFAULTS`]).
    pub shutdown_grace: Duration,
    /// How client connections are limited and timed out.
    pub http: HttpConfig,
}

/// Limits on password checks and signups: per (account, client), per
/// account, per client. Every count runs in a window of its own kind.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// `LOGIN_MAX_FAILURES`: failed password checks for one account from
    /// one client before that client gets 429 for it (default in [`DEFAULTS`]).
    pub max_failures: u32,
    /// `LOGIN_MAX_FAILURES_PER_ACCOUNT`: failed checks for one account
    /// from all clients together before it answers 429 to every client it
    /// does not recognise (default in [`DEFAULTS`]).
    pub max_failures_per_account: u32,
    /// `LOGIN_MAX_FAILURES_PER_CLIENT`: failed checks from one client,
    /// over all accounts, before it gets 429 (default in [`DEFAULTS`]).
    pub max_failures_per_client: u32,
    /// `LOGIN_FAILURE_WINDOW_SECS`: the window failures count in, and the
    /// longest lockout (default in [`DEFAULTS`]).
    pub failure_window: Duration,
    /// `LOGIN_DEVICE_TTL_SECS`: how long a device token from a successful
    /// login lets its client past the account's spent budget (default in
    /// [`DEFAULTS`]).
    pub device_ttl: Duration,
    /// `SIGNUP_MAX_PER_CLIENT`: signups from one client per window
    /// (default in [`DEFAULTS`]).
    pub signup_max_per_client: u32,
    /// `SIGNUP_WINDOW_SECS`: the window signups count in (default in [`DEFAULTS`]).
    pub signup_window: Duration,
}

/// Limits on client connections, so that slow or idle clients cannot hold
/// the server's sockets, whether or not a proxy stands in front.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `HEADER_READ_TIMEOUT_SECS`: how long a request's head may take to
    /// arrive, from the accept for a connection's first request and from
    /// its first byte for later ones, and how long its body may take once
    /// the handler reads it (default in [`DEFAULTS`]).
    pub header_read_timeout: Duration,
    /// `KEEP_ALIVE_TIMEOUT_SECS`: how long a connection may sit idle
    /// between requests (default in [`DEFAULTS`]).
    pub keep_alive_timeout: Duration,
    /// `MAX_CONNECTIONS`: client connections served at once; at the cap,
    /// the longest-idle one is closed to admit a new one, and without an
    /// idle one new clients wait to be accepted. Lowered at start-up to
    /// fit the file-descriptor limit (default in [`DEFAULTS`]).
    pub max_connections: usize,
    /// `MAX_CONNECTIONS_PER_CLIENT`: connections one client address may
    /// hold; further ones are closed at once. Trusted proxies are exempt
    /// (default in [`DEFAULTS`]).
    pub max_connections_per_client: usize,
    /// `TRUSTED_PROXIES` and `TRUSTED_PROXY_HEADER`: whose word on the
    /// client's address is taken (default: nobody's).
    pub trusted_proxies: TrustedProxies,
    /// `THROTTLE_DELAY_SECS`: how long a 429 is held before it is sent
    /// (default in [`DEFAULTS`]).
    pub throttle_delay: Duration,
    /// `HTTP_CACHE_MAX_AGE_SECS`: how long anonymous product reads may be
    /// served from a shared cache without asking again; 0 makes every
    /// cache revalidate (default in [`DEFAULTS`]).
    pub cache_max_age: u32,
    /// `HTTP_CACHE_STALE_IF_ERROR_SECS`: how long past `max-age` a shared
    /// cache may serve such a read while the service answers errors
    /// (default in [`DEFAULTS`]).
    pub cache_stale_if_error: u32,
}

impl Default for HttpConfig {
    /// The settings of an environment that sets none of them.
    fn default() -> Self {
        Env(|_: &str| None)
            .http()
            .expect("the defaults in config::DEFAULTS are valid")
    }
}

/// The proxies whose report of the client's address is believed, and the
/// header they report it in. A request from any other peer is that
/// peer's own.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    ranges: Vec<IpNet>,
    pub header: ForwardedHeader,
}

/// Which header trusted proxies name the client in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl TrustedProxies {
    /// Proxies in `ranges`, reporting in `header`.
    pub fn new(ranges: Vec<IpNet>, header: ForwardedHeader) -> Self {
        Self { ranges, header }
    }

    /// Whether `addr` is one of the trusted proxies.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        self.ranges.iter().any(|range| range.contains(&addr))
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// A configuration problem, worded as the one line start-up prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

/// Reads variables through a lookup function, so tests need not touch
/// the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

/// The process environment, as [`Env::process`] reads it.
pub type ProcessEnv = Env<fn(&str) -> Option<String>>;

impl ProcessEnv {
    /// The process environment, after loading `.env` if there is one.
    pub fn process() -> Self {
        let _ = dotenvy::dotenv();
        Env(|key| std::env::var(key).ok())
    }
}

impl Config {
    /// Reads the configuration from `vars` alone, exactly as the binary
    /// reads its environment: the same defaults and the same checks. For
    /// tests and benchmarks.
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Self, ConfigError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(key, value)| (key.into(), value.into()))
            .collect();
        Env(|key: &str| vars.get(key).cloned()).config()
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, key: &str) -> Option<String> {
        (self.0)(key).filter(|value| !value.trim().is_empty())
    }

    /// `key`'s value, or its default from [`DEFAULTS`].
    fn value(&self, key: &'static str) -> String {
        self.get(key).unwrap_or_else(|| default_of(key).to_owned())
    }

    fn parsed<T: std::str::FromStr>(
        &self,
        key: &'static str,
        expected: &str,
    ) -> Result<T, ConfigError> {
        let raw = self.value(key);
        raw.trim()
            .parse()
            .map_err(|_| ConfigError::new(key, format!("must be {expected} (got {raw:?})")))
    }

    /// A duration in seconds, fractions allowed (`30`, `0.25`), above zero.
    fn seconds(&self, key: &'static str) -> Result<Duration, ConfigError> {
        let secs: f64 = self.parsed(key, "a number of seconds such as 30 or 0.5")?;
        match Duration::try_from_secs_f64(secs) {
            Ok(duration) if duration >= Duration::from_millis(1) => Ok(duration),
            _ => Err(ConfigError::new(
                key,
                format!("must be at least 0.001 seconds (got {secs})"),
            )),
        }
    }

    fn http(&self) -> Result<HttpConfig, ConfigError> {
        let max_connections: usize = self.parsed("MAX_CONNECTIONS", "a whole number")?;
        if max_connections == 0 {
            return Err(ConfigError::new("MAX_CONNECTIONS", "must be at least 1"));
        }
        let max_connections_per_client: usize =
            self.parsed("MAX_CONNECTIONS_PER_CLIENT", "a whole number")?;
        if max_connections_per_client == 0 {
            return Err(ConfigError::new(
                "MAX_CONNECTIONS_PER_CLIENT",
                "must be at least 1",
            ));
        }
        Ok(HttpConfig {
            header_read_timeout: self.seconds("HEADER_READ_TIMEOUT_SECS")?,
            keep_alive_timeout: self.seconds("KEEP_ALIVE_TIMEOUT_SECS")?,
            max_connections,
            max_connections_per_client,
            trusted_proxies: self.trusted_proxies()?,
            throttle_delay: self.seconds("THROTTLE_DELAY_SECS")?,
            cache_max_age: self.parsed("HTTP_CACHE_MAX_AGE_SECS", "a whole number of seconds")?,
            cache_stale_if_error: self.parsed(
                "HTTP_CACHE_STALE_IF_ERROR_SECS",
                "a whole number of seconds",
            )?,
        })
    }

    fn trusted_proxies(&self) -> Result<TrustedProxies, ConfigError> {
        let header = match self.value("TRUSTED_PROXY_HEADER").trim() {
            name if name.eq_ignore_ascii_case("x-forwarded-for") => ForwardedHeader::XForwardedFor,
            name if name.eq_ignore_ascii_case("forwarded") => ForwardedHeader::Forwarded,
            other => {
                return Err(ConfigError::new(
                    "TRUSTED_PROXY_HEADER",
                    format!("must be `x-forwarded-for` or `forwarded` (got {other:?})"),
                ));
            }
        };
        let Some(list) = self.get("TRUSTED_PROXIES") else {
            return Ok(TrustedProxies::new(Vec::new(), header));
        };
        let ranges = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map(|range| range.trunc())
                    .map_err(|_| {
                        ConfigError::new(
                            "TRUSTED_PROXIES",
                            format!(
                                "must list addresses or CIDR ranges such as 10.0.0.0/8 \
                                 (got {item:?})"
                            ),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies::new(ranges, header))
    }

    /// A whole number of at least 1.
    fn count(&self, key: &'static str) -> Result<u32, ConfigError> {
        let value: u32 = self.parsed(key, "a whole number")?;
        if value == 0 {
            return Err(ConfigError::new(key, "must be at least 1"));
        }
        Ok(value)
    }

    fn throttle(&self) -> Result<ThrottleConfig, ConfigError> {
        Ok(ThrottleConfig {
            max_failures: self.count("LOGIN_MAX_FAILURES")?,
            max_failures_per_account: self.count("LOGIN_MAX_FAILURES_PER_ACCOUNT")?,
            max_failures_per_client: self.count("LOGIN_MAX_FAILURES_PER_CLIENT")?,
            failure_window: self.seconds("LOGIN_FAILURE_WINDOW_SECS")?,
            device_ttl: self.seconds("LOGIN_DEVICE_TTL_SECS")?,
            signup_max_per_client: self.count("SIGNUP_MAX_PER_CLIENT")?,
            signup_window: self.seconds("SIGNUP_WINDOW_SECS")?,
        })
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.parsed("LISTEN_ADDR", "an address such as 0.0.0.0:8080")
    }

    /// `variable`'s value checked as a MySQL URL: `mysql://`, parseable,
    /// and without TLS switches of its own. Never echoes the URL, which
    /// holds a password.
    fn mysql_url(variable: &'static str, url: &str) -> Result<mysql_async::Opts, ConfigError> {
        const EXAMPLE: &str = "mysql://catalog:PASSWORD@localhost:3306/catalog";
        if !url.starts_with("mysql://") {
            return Err(ConfigError::new(
                variable,
                format!("must be a mysql:// URL such as {EXAMPLE}"),
            ));
        }
        // TLS is set in one place: the driver's own URL switches would
        // quietly contradict DATABASE_TLS.
        if has_tls_parameter(url) {
            return Err(ConfigError::new(
                variable,
                "sets TLS in its parameters: set DATABASE_TLS (and DATABASE_CA_FILE) instead",
            ));
        }
        mysql_async::Opts::from_url(url).map_err(|_| {
            ConfigError::new(variable, format!("is not a valid URL (expected {EXAMPLE})"))
        })
    }

    pub fn database(&self) -> Result<DatabaseConfig, ConfigError> {
        let url = self.get("DATABASE_URL").ok_or_else(|| {
            ConfigError::new(
                "DATABASE_URL",
                "is not set (expected mysql://catalog:PASSWORD@localhost:3306/catalog)",
            )
        })?;
        let opts = Self::mysql_url("DATABASE_URL", &url)?;
        let tls = self.database_tls(&opts)?;
        let pool_size: usize = self.parsed("DATABASE_POOL_SIZE", "a whole number")?;
        if pool_size == 0 {
            return Err(ConfigError::new("DATABASE_POOL_SIZE", "must be at least 1"));
        }
        Ok(DatabaseConfig {
            url: SecretString::from(url),
            pool_size,
            acquire_timeout: self.seconds("DATABASE_ACQUIRE_TIMEOUT_SECS")?,
            startup_timeout: self.seconds("DATABASE_STARTUP_TIMEOUT_SECS")?,
            statement_timeout: self.seconds("DATABASE_STATEMENT_TIMEOUT_SECS")?,
            read_timeout: self.seconds("DATABASE_READ_TIMEOUT_SECS")?,
            // The one default that depends on another setting.
            scan_slots: match self.get("DATABASE_SCAN_SLOTS") {
                None => pool_size.div_ceil(4),
                Some(_) => self.count("DATABASE_SCAN_SLOTS")? as usize,
            },
            tls,
            replicas: self.replicas()?,
        })
    }

    fn replicas(&self) -> Result<ReplicaConfig, ConfigError> {
        let replicas = self
            .get("DATABASE_REPLICA_URLS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| {
                let opts = Self::mysql_url("DATABASE_REPLICA_URLS", url)?;
                Ok((
                    SecretString::from(url.to_owned()),
                    self.database_tls(&opts)?,
                ))
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let pool_size: usize = self.parsed("DATABASE_REPLICA_POOL_SIZE", "a whole number")?;
        if pool_size == 0 {
            return Err(ConfigError::new(
                "DATABASE_REPLICA_POOL_SIZE",
                "must be at least 1",
            ));
        }
        let causal_ms: u64 =
            self.parsed("DATABASE_CAUSAL_WAIT_MS", "a whole number of milliseconds")?;
        if !(1..=10_000).contains(&causal_ms) {
            return Err(ConfigError::new(
                "DATABASE_CAUSAL_WAIT_MS",
                format!("must be between 1 and 10000 (got {causal_ms})"),
            ));
        }
        Ok(ReplicaConfig {
            replicas,
            pool_size,
            max_lag: self.seconds("DATABASE_REPLICA_MAX_LAG_SECS")?,
            causal_wait: Duration::from_millis(causal_ms),
        })
    }

    /// `DATABASE_TLS` and `DATABASE_CA_FILE`, for the host `opts` names.
    fn database_tls(&self, opts: &mysql_async::Opts) -> Result<DatabaseTls, ConfigError> {
        let ca_file = match self.get("DATABASE_CA_FILE") {
            None => None,
            Some(path) => {
                let pem = std::fs::read_to_string(&path).map_err(|err| {
                    ConfigError::new("DATABASE_CA_FILE", format!("cannot be read: {err}"))
                })?;
                if !pem.contains("-----BEGIN CERTIFICATE-----") {
                    return Err(ConfigError::new(
                        "DATABASE_CA_FILE",
                        "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    ));
                }
                Some(std::path::PathBuf::from(path))
            }
        };
        let mode = match self.get("DATABASE_TLS") {
            Some(value) => {
                let value = value.trim().to_ascii_lowercase();
                TlsMode::NAMES
                    .iter()
                    .find(|(name, _)| *name == value)
                    .map(|(_, mode)| *mode)
                    .ok_or_else(|| {
                        ConfigError::new(
                            "DATABASE_TLS",
                            format!(
                                "must be disabled, preferred, required, verify-ca or \
                                 verify-full (got {value:?})"
                            ),
                        )
                    })?
            }
            None if ca_file.is_some() => TlsMode::VerifyFull,
            None if is_loopback(opts.ip_or_hostname()) => TlsMode::Preferred,
            None => TlsMode::Required,
        };
        if ca_file.is_some() && !matches!(mode, TlsMode::VerifyCa | TlsMode::VerifyFull) {
            return Err(ConfigError::new(
                "DATABASE_CA_FILE",
                format!(
                    "is set but DATABASE_TLS is `{}`, which checks no certificate: use \
                     verify-ca or verify-full",
                    mode.name()
                ),
            ));
        }
        Ok(DatabaseTls { mode, ca_file })
    }

    pub fn log_format(&self) -> Result<LogFormat, ConfigError> {
        match self.value("LOG_FORMAT").trim() {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError::new(
                "LOG_FORMAT",
                format!("must be `human` or `json` (got {other:?})"),
            )),
        }
    }

    fn jwt_previous_secrets(&self) -> Result<Vec<SecretString>, ConfigError> {
        let Some(list) = self.get("JWT_PREVIOUS_SECRET_KEYS") else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|secret| !secret.is_empty())
            .map(|secret| {
                if secret.len() < MIN_SECRET_BYTES {
                    Err(ConfigError::new(
                        "JWT_PREVIOUS_SECRET_KEYS",
                        format!("holds a key shorter than {MIN_SECRET_BYTES} bytes"),
                    ))
                } else {
                    Ok(SecretString::from(secret.to_owned()))
                }
            })
            .collect()
    }

    fn jwt_secret(&self) -> Result<SecretString, ConfigError> {
        const HOW: &str = "generate one with `openssl rand -base64 48`";
        let secret = self
            .get("JWT_SECRET_KEY")
            .ok_or_else(|| ConfigError::new("JWT_SECRET_KEY", format!("is not set: {HOW}")))?;
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::new(
                "JWT_SECRET_KEY",
                format!("must be at least {MIN_SECRET_BYTES} bytes long: {HOW}"),
            ));
        }
        Ok(SecretString::from(secret))
    }

    fn admin(&self) -> Result<Option<AdminConfig>, ConfigError> {
        let Some(password) = self.get("ADMIN_PASSWORD") else {
            return Ok(None);
        };
        let admin = AdminConfig {
            username: self.value("ADMIN_USERNAME"),
            email: self.value("ADMIN_EMAIL"),
            password: SecretString::from(password),
        };
        Ok(Some(admin))
    }

    pub fn config(&self) -> Result<Config, ConfigError> {
        let access_token_ttl = self.seconds("ACCESS_TOKEN_TTL_SECS")?;
        let refresh_token_ttl = self.seconds("REFRESH_TOKEN_TTL_SECS")?;
        if refresh_token_ttl <= access_token_ttl {
            return Err(ConfigError::new(
                "REFRESH_TOKEN_TTL_SECS",
                "must be longer than ACCESS_TOKEN_TTL_SECS",
            ));
        }
        Ok(Config {
            database: self.database()?,
            jwt_secret: self.jwt_secret()?,
            jwt_previous_secrets: self.jwt_previous_secrets()?,
            refresh_token_idle_ttl: self.seconds("REFRESH_TOKEN_IDLE_TTL_SECS")?,
            session_purge_interval: self.seconds("SESSION_PURGE_INTERVAL_SECS")?,
            throttle: self.throttle()?,
            listen_addr: self.listen_addr()?,
            metrics_addr: self.parsed("METRICS_ADDR", "an address such as 127.0.0.1:9000")?,
            access_token_ttl,
            refresh_token_ttl,
            cors_allowed_origins: self
                .get("CORS_ALLOWED_ORIGINS")
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|origin| !origin.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            admin: self.admin()?,
            shutdown_grace: self.seconds("SHUTDOWN_GRACE_SECS")?,
            http: self.http()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(pairs.iter().copied())
    }

    const URL: (&str, &str) = ("DATABASE_URL", "mysql://root@127.0.0.1:3306/catalog");
    const SECRET: (&str, &str) = ("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef");

    #[test]
    fn defaults_apply_when_only_the_required_variables_are_set() {
        let config = load(&[URL, SECRET]).unwrap();
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(1_209_600));
        assert_eq!(config.listen_addr.to_string(), default_of("LISTEN_ADDR"));
        assert!(config.cors_allowed_origins.is_empty());
        assert!(config.admin.is_none());
        assert_eq!(config.refresh_token_idle_ttl, Duration::from_secs(86_400));
        assert_eq!(config.throttle.max_failures, 10);
        assert_eq!(config.throttle.max_failures_per_account, 100);
        assert_eq!(config.throttle.max_failures_per_client, 50);
        assert_eq!(config.throttle.failure_window, Duration::from_secs(900));
        assert_eq!(config.throttle.signup_max_per_client, 20);
        assert_eq!(config.http.max_connections_per_client, 64);
        assert_eq!(config.http.throttle_delay, Duration::from_secs(1));
        assert!(config.http.trusted_proxies.is_empty());
        assert_eq!(config.database.statement_timeout, Duration::from_secs(5));
        assert!(config.jwt_previous_secrets.is_empty());
    }

    #[test]
    fn previous_keys_are_listed_and_must_be_long_enough() {
        let two = "0123456789abcdef0123456789abcdef-old1, 0123456789abcdef0123456789abcdef-old2";
        let config = load(&[URL, SECRET, ("JWT_PREVIOUS_SECRET_KEYS", two)]).unwrap();
        assert_eq!(config.jwt_previous_secrets.len(), 2);
        let err = load(&[URL, SECRET, ("JWT_PREVIOUS_SECRET_KEYS", "tiny-key")]).unwrap_err();
        assert_eq!(err.variable, "JWT_PREVIOUS_SECRET_KEYS");
        assert!(
            !err.to_string().contains("tiny-key"),
            "the key is not echoed"
        );
    }

    #[test]
    fn a_missing_or_short_secret_names_the_variable() {
        let err = load(&[URL]).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET_KEY");
        let err = load(&[URL, ("JWT_SECRET_KEY", "short")]).unwrap_err();
        assert_eq!(err.variable, "JWT_SECRET_KEY");
        assert!(
            err.to_string()
                .starts_with("JWT_SECRET_KEY must be at least 32 bytes")
        );
    }

    #[test]
    fn a_malformed_database_url_names_the_variable_without_echoing_it() {
        for url in [
            "postgres://x@y/z",
            "mysql://user:hunter2@[bad/db",
            "not a url",
        ] {
            let err = load(&[("DATABASE_URL", url), SECRET]).unwrap_err();
            assert_eq!(err.variable, "DATABASE_URL", "{url}");
            assert!(!err.to_string().contains("hunter2"));
        }
        assert_eq!(load(&[SECRET]).unwrap_err().variable, "DATABASE_URL");
    }

    #[test]
    fn an_admin_comes_with_a_password() {
        let config = load(&[URL, SECRET, ("ADMIN_PASSWORD", "a-long-enough-password")]).unwrap();
        let admin = config.admin.unwrap();
        assert_eq!(
            (admin.username.as_str(), admin.email.as_str()),
            ("admin", "admin@localhost")
        );
        assert!(load(&[URL, SECRET]).unwrap().admin.is_none());
    }

    #[test]
    fn read_replicas_are_optional_listed_and_checked_like_the_primary() {
        let plain = load(&[URL, SECRET]).unwrap().database.replicas;
        assert!(plain.replicas.is_empty());
        assert_eq!(plain.max_lag, Duration::from_secs(5));
        assert_eq!(plain.causal_wait, Duration::from_millis(200));
        assert_eq!(plain.pool_size, 10);
        let two =
            "mysql://reader:pw@10.0.0.7:3306/catalog, mysql://reader:pw@127.0.0.1:3307/catalog";
        let config = load(&[URL, SECRET, ("DATABASE_REPLICA_URLS", two)]).unwrap();
        let replicas = &config.database.replicas.replicas;
        assert_eq!(replicas.len(), 2);
        // Each host gets the TLS default of its own.
        assert_eq!(replicas[0].1.mode, TlsMode::Required);
        assert_eq!(replicas[1].1.mode, TlsMode::Preferred);
        for (variable, value) in [
            ("DATABASE_REPLICA_URLS", "postgres://x@y/z"),
            (
                "DATABASE_REPLICA_URLS",
                "mysql://reader:hunter2@db/catalog?require_ssl=true",
            ),
            ("DATABASE_REPLICA_POOL_SIZE", "0"),
            ("DATABASE_REPLICA_MAX_LAG_SECS", "0"),
            ("DATABASE_CAUSAL_WAIT_MS", "0"),
            ("DATABASE_CAUSAL_WAIT_MS", "20000"),
            ("DATABASE_CAUSAL_WAIT_MS", "0.5"),
        ] {
            let err = load(&[URL, SECRET, (variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn durations_take_fractions_of_a_second_but_not_zero_or_nonsense() {
        let config = load(&[URL, SECRET, ("KEEP_ALIVE_TIMEOUT_SECS", "0.25")]).unwrap();
        assert_eq!(config.http.keep_alive_timeout, Duration::from_millis(250));
        for bad in ["0", "0.0001", "-1", "ten", "NaN", "inf"] {
            let err = load(&[URL, SECRET, ("KEEP_ALIVE_TIMEOUT_SECS", bad)]).unwrap_err();
            assert_eq!(err.variable, "KEEP_ALIVE_TIMEOUT_SECS", "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_take_ranges_and_single_addresses() {
        let config = load(&[
            URL,
            SECRET,
            ("TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.7 ,fd00::/8,"),
        ])
        .unwrap();
        let trusted = &config.http.trusted_proxies;
        for inside in ["10.1.2.3", "192.0.2.7", "::ffff:10.0.0.1", "fd12::1"] {
            assert!(trusted.contains(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["11.0.0.1", "192.0.2.8", "2001:db8::1"] {
            assert!(!trusted.contains(outside.parse().unwrap()), "{outside}");
        }
        assert_eq!(trusted.header, ForwardedHeader::XForwardedFor);
        for bad in ["10.0.0.0/33", "proxy.internal", "10.0.0.0/8;"] {
            let err = load(&[URL, SECRET, ("TRUSTED_PROXIES", bad)]).unwrap_err();
            assert_eq!(err.variable, "TRUSTED_PROXIES", "{bad}");
        }
        let forwarded = load(&[URL, SECRET, ("TRUSTED_PROXY_HEADER", "Forwarded")]).unwrap();
        assert_eq!(
            forwarded.http.trusted_proxies.header,
            ForwardedHeader::Forwarded
        );
        let err = load(&[URL, SECRET, ("TRUSTED_PROXY_HEADER", "x-real-ip")]).unwrap_err();
        assert_eq!(err.variable, "TRUSTED_PROXY_HEADER");
    }

    #[test]
    fn limits_must_be_at_least_one() {
        for variable in [
            "LOGIN_MAX_FAILURES",
            "LOGIN_MAX_FAILURES_PER_ACCOUNT",
            "LOGIN_MAX_FAILURES_PER_CLIENT",
            "SIGNUP_MAX_PER_CLIENT",
            "MAX_CONNECTIONS_PER_CLIENT",
        ] {
            let err = load(&[URL, SECRET, (variable, "0")]).unwrap_err();
            assert_eq!(err.variable, variable);
        }
    }

    #[test]
    fn origins_are_split_and_trimmed() {
        let config = load(&[
            URL,
            SECRET,
            (
                "CORS_ALLOWED_ORIGINS",
                " https://a.example , https://b.example,",
            ),
        ])
        .unwrap();
        assert_eq!(
            config.cors_allowed_origins,
            ["https://a.example", "https://b.example"]
        );
    }

    /// The defaults as documented: each row of the configuration table and
    /// each commented-out line of `.env.example` that names a variable
    /// with a default shows the value [`DEFAULTS`] holds.
    #[test]
    fn the_documented_defaults_are_the_table() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
        let readme = read(CONFIGURATION_DOC);
        let example = read(".env.example");
        for (key, value) in DEFAULTS {
            let row = format!("| `{key}` | `{value}` |");
            assert!(readme.contains(&row), "{CONFIGURATION_DOC} lacks {row}");
            let line = format!("#{key}=");
            if let Some(start) = example.find(&line) {
                let shown = example[start + line.len()..].lines().next().unwrap();
                assert_eq!(shown, *value, ".env.example shows {key}={shown}");
            }
        }
        for row in readme.lines().filter(|line| line.starts_with("| `")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let key = cells[0].trim_start_matches("| ").trim_matches('`');
            if let Some(value) = cells.get(1).and_then(|v| v.strip_prefix('`')) {
                if let Some((_, known)) = DEFAULTS.iter().find(|(name, _)| *name == key) {
                    assert_eq!(value.trim_end_matches('`'), *known, "{key}");
                }
            }
        }
    }

    #[test]
    fn database_tls_defaults_follow_the_host_and_the_ca_file() {
        let tls = |pairs: &[(&str, &str)]| load(pairs).map(|c| c.database.tls.mode);
        let remote = ("DATABASE_URL", "mysql://u:p@db.example.com:3306/catalog");
        assert_eq!(tls(&[URL, SECRET]).unwrap(), TlsMode::Preferred);
        assert_eq!(
            tls(&[("DATABASE_URL", "mysql://u:p@[::1]:3306/c"), SECRET]).unwrap(),
            TlsMode::Preferred
        );
        assert_eq!(tls(&[remote, SECRET]).unwrap(), TlsMode::Required);
        let ca = std::env::temp_dir().join(format!("ca-{}.pem", uuid::Uuid::new_v4().simple()));
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let ca_file = ("DATABASE_CA_FILE", ca.to_str().unwrap());
        assert_eq!(
            tls(&[remote, SECRET, ca_file]).unwrap(),
            TlsMode::VerifyFull
        );
        assert_eq!(
            tls(&[remote, SECRET, ca_file, ("DATABASE_TLS", "verify-ca")]).unwrap(),
            TlsMode::VerifyCa
        );
        // A CA file is useless to a mode that checks no certificate.
        let err = tls(&[remote, SECRET, ca_file, ("DATABASE_TLS", "required")]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_CA_FILE");
        std::fs::remove_file(&ca).unwrap();
        for (name, mode) in TlsMode::NAMES {
            assert_eq!(
                tls(&[remote, SECRET, ("DATABASE_TLS", name)]).unwrap(),
                *mode
            );
        }
    }

    #[test]
    fn database_tls_refuses_what_it_cannot_use() {
        let variable = |pairs: &[(&str, &str)]| load(pairs).unwrap_err().variable;
        assert_eq!(
            variable(&[URL, SECRET, ("DATABASE_TLS", "on")]),
            "DATABASE_TLS"
        );
        assert_eq!(
            variable(&[URL, SECRET, ("DATABASE_CA_FILE", "/nonexistent/ca.pem")]),
            "DATABASE_CA_FILE"
        );
        // Not a certificate.
        assert_eq!(
            variable(&[URL, SECRET, ("DATABASE_CA_FILE", "Cargo.toml")]),
            "DATABASE_CA_FILE"
        );
        // TLS in the URL would contradict DATABASE_TLS.
        for query in [
            "require_ssl=true",
            "ssl-mode=REQUIRED",
            "verify_ca=false",
            "sslmode=disable",
        ] {
            let url = format!("mysql://u:p@db.example.com:3306/catalog?{query}");
            assert_eq!(
                variable(&[("DATABASE_URL", &url), SECRET]),
                "DATABASE_URL",
                "{query}"
            );
        }
    }
}
