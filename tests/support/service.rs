//! The release binary as a benchmark runs it: its own process on a free
//! port, with a fresh JWT secret, until dropped. Included by path from
//! `benches/pages.rs`, `benches/catalog.rs`, `benches/fairness.rs` and
//! `benches/caching.rs`.
//! `CATALOG_BINARY` runs another build instead (an earlier commit's, to
//! compare two builds under the same load).

// Each includer uses a part.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The release binary, serving on a free port until dropped.
pub struct Service {
    pub child: Child,
    pub addr: SocketAddr,
    /// Where it serves `/metrics`.
    pub metrics: SocketAddr,
    /// Its JWT secret, which also keys its page cursors.
    pub secret: String,
}

impl Service {
    pub async fn start(database_url: &str) -> Self {
        Self::start_with(database_url, &[]).await
    }

    /// Starts it with `vars` set on top of the defaults.
    pub async fn start_with(database_url: &str, vars: &[(&str, &str)]) -> Self {
        let binary = std::env::var("CATALOG_BINARY")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_catalog").to_owned());
        Self::start_from(&binary, database_url, vars).await
    }

    /// Starts the build at `binary` (another commit's, say).
    pub async fn start_from(binary: &str, database_url: &str, vars: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let metrics: SocketAddr = ([127, 0, 0, 1], metrics_port).into();
        let secret = format!("{}{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("JWT_SECRET_KEY", &secret)
            .env("LISTEN_ADDR", addr.to_string())
            .env("METRICS_ADDR", metrics.to_string())
            .env("LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Ok(size) = std::env::var("DATABASE_POOL_SIZE") {
            command.env("DATABASE_POOL_SIZE", size);
        }
        command.envs(vars.iter().copied());
        let service = Self {
            child: command.spawn().expect("the service starts"),
            addr,
            metrics,
            secret,
        };
        let client = reqwest::Client::new();
        let ready = format!("http://{addr}/readyz");
        for _ in 0..300 {
            if let Ok(response) = client.get(&ready).send().await
                && response.status() == 200
            {
                return service;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the service did not become ready");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
