//! TLS to the database, in the terms of MySQL's `--ssl-mode`, and the one
//! function that opens a connection with it: the pool and the start-up
//! probe both connect through [`connect`].

use std::path::PathBuf;

use diesel::ConnectionError;
use diesel_async::AsyncMysqlConnection;
use mysql_async::prelude::Queryable;
use mysql_async::{DriverError, Opts, OptsBuilder, SslOpts};

/// How connections to the database are secured (`DATABASE_TLS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP.
    Disabled,
    /// TLS when the server offers it, plain otherwise; the certificate is
    /// not checked. Protects against eavesdroppers only, and only where
    /// the server has TLS.
    Preferred,
    /// TLS or no connection; the certificate is not checked. Protects
    /// against eavesdroppers, not against someone posing as the server.
    Required,
    /// TLS with a certificate signed by a trusted CA (`DATABASE_CA_FILE`,
    /// else the public web roots), whatever name it carries.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host of
    /// `DATABASE_URL`.
    VerifyFull,
}

impl TlsMode {
    pub const NAMES: &[(&str, TlsMode)] = &[
        ("disabled", TlsMode::Disabled),
        ("preferred", TlsMode::Preferred),
        ("required", TlsMode::Required),
        ("verify-ca", TlsMode::VerifyCa),
        ("verify-full", TlsMode::VerifyFull),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, mode)| *mode == self)
            .map_or("disabled", |(name, _)| name)
    }
}

/// `DATABASE_TLS` and `DATABASE_CA_FILE`.
#[derive(Debug, Clone)]
pub struct DatabaseTls {
    pub mode: TlsMode,
    /// PEM certificates of the CA that signs the server's certificate;
    /// without it, the public web roots are trusted.
    pub ca_file: Option<PathBuf>,
}

impl DatabaseTls {
    fn ssl_opts(&self) -> Option<SslOpts> {
        let trusted = || match &self.ca_file {
            Some(path) => SslOpts::default()
                .with_root_certs(vec![path.clone().into()])
                .with_disable_built_in_roots(true),
            None => SslOpts::default(),
        };
        match self.mode {
            TlsMode::Disabled => None,
            TlsMode::Preferred | TlsMode::Required => Some(
                SslOpts::default()
                    .with_danger_accept_invalid_certs(true)
                    .with_danger_skip_domain_validation(true),
            ),
            TlsMode::VerifyCa => Some(trusted().with_danger_skip_domain_validation(true)),
            TlsMode::VerifyFull => Some(trusted()),
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum ConnectFailure {
    /// The TLS setting cannot be met with this server; retrying will not
    /// help. Says why, in words for an operator.
    Tls(String),
    /// Anything else (the server is down, starting, refusing the login).
    Other(mysql_async::Error),
}

/// Opens a connection to `url` secured as `tls` says, set up as diesel
/// expects (its own statement cache, affected rows counted as found).
pub async fn connect(url: &str, tls: &DatabaseTls) -> Result<mysql_async::Conn, ConnectFailure> {
    let opts = Opts::from_url(url).map_err(|err| ConnectFailure::Other(err.into()))?;
    let builder = OptsBuilder::from_opts(opts)
        .stmt_cache_size(0)
        .client_found_rows(true);
    let mut secured = builder.clone().ssl_opts(tls.ssl_opts());
    if !matches!(tls.mode, TlsMode::Disabled | TlsMode::Preferred) {
        // A local socket would bypass TLS, which this mode requires.
        secured = secured.prefer_socket(false);
    }
    match mysql_async::Conn::new(secured).await {
        Ok(conn) => Ok(conn),
        Err(mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer))
            if tls.mode == TlsMode::Preferred =>
        {
            mysql_async::Conn::new(builder)
                .await
                .map_err(ConnectFailure::Other)
        }
        // MariaDB refuses a plain login under require_secure_transport as
        // it refuses a wrong password; the same login over TLS tells
        // which it was. (That try reveals no more than `disabled` already
        // sends in the clear.)
        Err(mysql_async::Error::Server(server))
            if server.code == ACCESS_DENIED && tls.mode == TlsMode::Disabled =>
        {
            let over_tls = builder.ssl_opts(
                DatabaseTls {
                    mode: TlsMode::Required,
                    ca_file: None,
                }
                .ssl_opts(),
            );
            match mysql_async::Conn::new(over_tls).await {
                Ok(conn) => {
                    conn.disconnect().await.ok();
                    Err(ConnectFailure::Tls(
                        "is `disabled` but the server accepts only TLS connections (it took \
                         the same login over TLS)"
                            .to_owned(),
                    ))
                }
                Err(_) => Err(ConnectFailure::Other(mysql_async::Error::Server(server))),
            }
        }
        // The driver checks the name whenever it checks the chain. A name
        // mismatch is reported only once the chain has verified, so under
        // verify-ca the certificate is trusted: connect again under a name
        // it presents.
        Err(err) if tls.mode == TlsMode::VerifyCa => match presented_name(&err) {
            Some(name) => {
                let renamed = tls
                    .ssl_opts()
                    .map(|opts| opts.with_danger_tls_hostname_override(Some(name)));
                mysql_async::Conn::new(builder.ssl_opts(renamed).prefer_socket(false))
                    .await
                    .map_err(|err| classify(err, tls))
            }
            None => Err(classify(err, tls)),
        },
        Err(err) => Err(classify(err, tls)),
    }
}

/// The rustls error inside a failed connection, if TLS failed.
fn rustls_error(err: &mysql_async::Error) -> Option<&rustls::Error> {
    match err {
        mysql_async::Error::Io(mysql_async::IoError::Tls(mysql_async::TlsError::Tls(tls))) => {
            Some(tls)
        }
        mysql_async::Error::Io(mysql_async::IoError::Io(io)) => {
            io.get_ref()?.downcast_ref::<rustls::Error>()
        }
        _ => None,
    }
}

/// A DNS name the server's certificate presents, when the certificate was
/// refused only for not naming the host connected to.
fn presented_name(err: &mysql_async::Error) -> Option<String> {
    let rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
        presented,
        ..
    }) = rustls_error(err)?
    else {
        return None;
    };
    // rustls lists them as `DnsName("db.example.com")`.
    presented.iter().find_map(|name| {
        let dns = name.strip_prefix("DnsName(\"")?.strip_suffix("\")")?;
        (!dns.contains('*')).then(|| dns.to_owned())
    })
}

/// ER_ACCESS_DENIED_ERROR.
const ACCESS_DENIED: u16 = 1045;

/// Sorts a failed connection into one the TLS setting caused and anything
/// else.
fn classify(err: mysql_async::Error, tls: &DatabaseTls) -> ConnectFailure {
    // MySQL's ER_SECURE_TRANSPORT_REQUIRED (MariaDB answers 1045, which
    // `connect` tells apart).
    const SECURE_TRANSPORT_REQUIRED: [u16; 1] = [3159];
    match &err {
        mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) => ConnectFailure::Tls(
            format!("is `{}` but the server does not offer TLS", tls.mode.name()),
        ),
        mysql_async::Error::Server(server) if SECURE_TRANSPORT_REQUIRED.contains(&server.code) => {
            ConnectFailure::Tls(format!(
                "is `{}` but the server accepts only TLS connections ({})",
                tls.mode.name(),
                server.message
            ))
        }
        _ if rustls_error(&err).is_some() => ConnectFailure::Tls(format!(
            "is `{}` and the TLS handshake failed: {}",
            tls.mode.name(),
            rustls_error(&err)
                .map(ToString::to_string)
                .unwrap_or_default()
        )),
        mysql_async::Error::Io(mysql_async::IoError::Tls(tls_err)) => ConnectFailure::Tls(format!(
            "is `{}` and TLS could not be set up: {tls_err}",
            tls.mode.name()
        )),
        _ => ConnectFailure::Other(err),
    }
}

/// A connection for the pool.
pub async fn connect_for_pool(
    url: &str,
    tls: &DatabaseTls,
) -> Result<AsyncMysqlConnection, ConnectionError> {
    let conn = connect(url, tls).await.map_err(|failure| match failure {
        ConnectFailure::Tls(why) => ConnectionError::BadConnection(format!("DATABASE_TLS {why}")),
        ConnectFailure::Other(err) => ConnectionError::BadConnection(err.to_string()),
    })?;
    AsyncMysqlConnection::try_from(conn).await
}

/// The TLS version and cipher a connection negotiated, or `None` when it
/// is plain.
pub async fn negotiated(
    conn: &mut mysql_async::Conn,
) -> Result<Option<(String, String)>, mysql_async::Error> {
    let rows: Vec<(String, String)> = conn
        .query("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')")
        .await?;
    let value = |name: &str| {
        rows.iter()
            .find(|(variable, _)| variable.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
            .filter(|value| !value.is_empty())
    };
    Ok(value("Ssl_version").zip(value("Ssl_cipher")))
}

/// Opens one connection as the pool will and answers the TLS version and
/// cipher it negotiated (`None`: plain), so start-up learns before serving
/// whether the setting can be met, and says what it got.
pub async fn probe(
    url: &str,
    tls: &DatabaseTls,
) -> Result<Option<(String, String)>, ConnectFailure> {
    let mut conn = connect(url, tls).await?;
    let negotiated = negotiated(&mut conn).await.map_err(ConnectFailure::Other)?;
    conn.disconnect().await.ok();
    Ok(negotiated)
}
