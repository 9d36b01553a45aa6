//! TLS to the database, against a private MariaDB that requires it
//! (`--require-secure-transport=ON`), with a throwaway CA and server
//! certificate made by `openssl` for each test: what each `DATABASE_TLS`
//! setting connects to, what it refuses with one line naming it, and a
//! pool that reconnects over TLS after the server restarts.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::binary::Binary;
use crate::helpers::server::admin_sql_at;
use crate::mariadb::PrivateMariaDb;

/// A CA, a server certificate it signed for `localhost` (only), and an
/// unrelated CA, in a temporary folder removed on drop.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn make() -> Self {
        let dir =
            std::env::temp_dir().join(format!("catalog-certs-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let status = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .expect("openssl runs");
            assert!(status.success(), "openssl {args:?}");
        };
        for ca in ["ca", "other-ca"] {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                &format!("/CN=catalog test {ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.pem"),
            ]);
        }
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ]);
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The options that make a server use these and require TLS.
    fn server_options(&self) -> Vec<String> {
        vec![
            format!("--ssl-ca={}", self.path("ca.pem")),
            format!("--ssl-cert={}", self.path("server.pem")),
            format!("--ssl-key={}", self.path("server.key")),
            "--require-secure-transport=ON".to_owned(),
        ]
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn tls_server() -> (Certificates, PrivateMariaDb) {
    let certificates = Certificates::make();
    let server = PrivateMariaDb::start_with(certificates.server_options()).await;
    admin_sql_at(
        &server.socket_url(),
        &["CREATE DATABASE catalog CHARACTER SET utf8mb4 COLLATE utf8mb4_bin".to_owned()],
    )
    .await;
    (certificates, server)
}

/// `catalog migrate` against `host` of `server` with `vars`: what a
/// start-up does before it serves.
fn migrate(server: &PrivateMariaDb, host: &str, vars: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_catalog"))
        .arg("migrate")
        .env_clear()
        .env(
            "DATABASE_URL",
            format!("mysql://root@{host}:{}/catalog", server.port),
        )
        .env("DATABASE_STARTUP_TIMEOUT_SECS", "5")
        .envs(vars.iter().copied())
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the binary runs")
}

/// The one line a refused start-up printed; it must name DATABASE_TLS.
fn refusal(output: &Output) -> String {
    assert!(!output.status.success(), "it started");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("DATABASE_TLS"), "{stderr}");
    stderr
}

/// The server's count of TLS handshakes it accepted since it started.
async fn tls_accepts(server: &PrivateMariaDb) -> u64 {
    use mysql_async::prelude::Queryable;
    let mut conn =
        mysql_async::Conn::new(mysql_async::Opts::from_url(&server.socket_url()).unwrap())
            .await
            .unwrap();
    let accepts: Option<(String, u64)> = conn
        .query_first("SHOW GLOBAL STATUS LIKE 'Ssl_accepts'")
        .await
        .unwrap();
    conn.disconnect().await.ok();
    accepts.map_or(0, |(_, n)| n)
}

#[tokio::test(flavor = "multi_thread")]
async fn required_serves_over_tls_and_reconnects_after_a_restart() {
    let (_certificates, mut server) = tls_server().await;
    let binary = Binary::start_on(
        &format!("mysql://root@127.0.0.1:{}/catalog", server.port),
        &[("DATABASE_TLS", "required"), ("RUST_LOG", "info")],
    )
    .await;
    // It says what it negotiated.
    binary.wait_for_log("\"version\":\"TLSv1.").await;
    let client = reqwest::Client::new();
    let products = client
        .get(binary.url("/api/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(products.status(), 200);

    server.restart().await;
    assert_eq!(tls_accepts(&server).await, 0, "a fresh count");
    let restarted = Instant::now();
    loop {
        let status = client
            .get(binary.url("/api/products"))
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(10),
            "not serving after the restart: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The server takes TCP only over TLS, and it counted the handshakes.
    assert!(tls_accepts(&server).await >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_setting_connects_or_is_refused_with_one_line() {
    let (certificates, server) = tls_server().await;
    let ca = certificates.path("ca.pem");
    let other_ca = certificates.path("other-ca.pem");

    // Plain TCP: the server refuses it.
    let line = refusal(&migrate(
        &server,
        "127.0.0.1",
        &[("DATABASE_TLS", "disabled")],
    ));
    assert!(line.contains("accepts only TLS"), "{line}");
    // A CA that did not sign the server's certificate.
    let line = refusal(&migrate(
        &server,
        "localhost",
        &[
            ("DATABASE_TLS", "verify-full"),
            ("DATABASE_CA_FILE", &other_ca),
        ],
    ));
    assert!(line.contains("certificate"), "{line}");
    // The right CA, but the certificate names localhost, not 127.0.0.1.
    let line = refusal(&migrate(
        &server,
        "127.0.0.1",
        &[("DATABASE_TLS", "verify-full"), ("DATABASE_CA_FILE", &ca)],
    ));
    assert!(line.contains("certificate"), "{line}");

    // What verifies connects: the name under verify-full, the CA alone
    // under verify-ca, nothing under required and preferred.
    for (host, vars) in [
        (
            "localhost",
            vec![
                ("DATABASE_TLS", "verify-full"),
                ("DATABASE_CA_FILE", ca.as_str()),
            ],
        ),
        (
            "127.0.0.1",
            vec![
                ("DATABASE_TLS", "verify-ca"),
                ("DATABASE_CA_FILE", ca.as_str()),
            ],
        ),
        ("127.0.0.1", vec![("DATABASE_TLS", "required")]),
        ("127.0.0.1", vec![("DATABASE_TLS", "preferred")]),
        // A CA file alone makes verify-full the default.
        ("localhost", vec![("DATABASE_CA_FILE", ca.as_str())]),
    ] {
        let output = migrate(&server, host, &vars);
        assert!(
            output.status.success(),
            "{host} {vars:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn required_against_a_server_without_tls_is_refused_at_once() {
    let server = PrivateMariaDb::start().await;
    admin_sql_at(
        &server.url(),
        &["CREATE DATABASE catalog CHARACTER SET utf8mb4 COLLATE utf8mb4_bin".to_owned()],
    )
    .await;
    let started = Instant::now();
    let line = refusal(&migrate(
        &server,
        "127.0.0.1",
        &[("DATABASE_TLS", "required")],
    ));
    assert!(line.contains("does not offer TLS"), "{line}");
    assert!(started.elapsed() < Duration::from_secs(3), "it waited");
    // `preferred` falls back to plain there.
    let output = migrate(&server, "127.0.0.1", &[("DATABASE_TLS", "preferred")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
