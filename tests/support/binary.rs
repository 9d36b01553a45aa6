//! The `catalog` binary as its own process, for tests about what only a
//! real process shows: sockets, signals, file limits, its logs and its
//! metrics. Shared by the `api` and `outage` test targets.

// Each includer uses a part.
#![allow(dead_code)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::helpers::{TEST_SECRET, create_database, drop_database, free_port, server_url};

pub const GET_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// A sample's value in Prometheus's text format (`/metrics`), or 0.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The `catalog` binary serving its own database on a free port, its
/// log lines collected as they come. `vars` come after the defaults, so
/// they override them.
pub struct Binary {
    pub child: Child,
    pub port: u16,
    /// Where it serves `/metrics`.
    pub metrics_addr: String,
    /// Its database on the shared test server; `None` on another server.
    database: Option<String>,
    logs: Arc<Mutex<String>>,
    log_reader: Option<JoinHandle<()>>,
}

impl Binary {
    pub async fn start(vars: &[(&str, &str)]) -> Self {
        Self::start_with_file_limit(vars, None).await
    }

    /// Starts the binary on a database of the shared test server, under
    /// `ulimit -n` when a limit is given.
    pub async fn start_with_file_limit(vars: &[(&str, &str)], open_files: Option<u32>) -> Self {
        let database = create_database().await;
        let url = format!("{}/{database}", server_url());
        let mut binary = Self::launch(&url, vars, open_files).await;
        binary.database = Some(database);
        binary
    }

    /// Starts the binary on the database at `database_url`, which someone
    /// else cleans up.
    pub async fn start_on(database_url: &str, vars: &[(&str, &str)]) -> Self {
        Self::launch(database_url, vars, None).await
    }

    /// Runs the binary with its stdout piped, and waits until it serves.
    async fn launch(database_url: &str, vars: &[(&str, &str)], open_files: Option<u32>) -> Self {
        let port = free_port();
        let metrics_addr = vars
            .iter()
            .find(|(name, _)| *name == "METRICS_ADDR")
            .map_or_else(
                || format!("127.0.0.1:{}", free_port()),
                |(_, addr)| (*addr).to_owned(),
            );
        let binary = env!("CARGO_BIN_EXE_catalog");
        let mut command = match open_files {
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", &format!("ulimit -n {limit} && exec \"$0\""), binary]);
                sh
            }
            None => Command::new(binary),
        };
        let mut child = command
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("JWT_SECRET_KEY", TEST_SECRET)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("METRICS_ADDR", &metrics_addr)
            .env("DATABASE_POOL_SIZE", "2")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .envs(vars.iter().copied())
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary runs");
        let logs = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let log_reader = tokio::spawn({
            let logs = logs.clone();
            async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut logs = logs.lock().unwrap();
                    logs.push_str(&line);
                    logs.push('\n');
                }
            }
        });
        let binary = Self {
            child,
            port,
            metrics_addr,
            database: None,
            logs,
            log_reader: Some(log_reader),
        };
        for _ in 0..200 {
            if binary.healthz_status().await == Some(200) {
                binary.wait_for_probes_to_close().await;
                return binary;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the binary did not start");
    }

    /// Waits (up to a second) until the server has seen the start-up
    /// probes' connections close, so that a test counting connections
    /// starts from none. A busy machine may take a moment to read their
    /// ends.
    async fn wait_for_probes_to_close(&self) {
        let open = "catalog_connections_open{listener=\"api\"}";
        for _ in 0..100 {
            let Ok(response) = reqwest::get(format!("http://{}/metrics", self.metrics_addr)).await
            else {
                return;
            };
            let Ok(text) = response.text().await else {
                return;
            };
            if metric(&text, open) == 0.0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Asserts that the process hardly uses the CPU for 100 ms: a
    /// spinning accept loop would use all of them.
    pub async fn assert_idle(&self, while_: &str) {
        let pid = self.child.id().unwrap();
        let before = cpu_time(pid);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let busy = cpu_time(pid) - before;
        assert!(
            busy < Duration::from_millis(20),
            "{busy:?} of CPU in 100 ms of {while_}"
        );
    }

    /// Asserts that `/healthz` answers 200 within ten tries.
    pub async fn assert_answers_again(&self) {
        for _ in 0..10 {
            if self.healthz_status().await == Some(200) {
                return;
            }
        }
        panic!("/healthz never answered");
    }

    /// Waits (up to five seconds) until the binary has logged `needle`.
    pub async fn wait_for_log(&self, needle: &str) {
        for _ in 0..250 {
            if self.logs.lock().unwrap().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("never logged {needle:?}: {}", self.logs.lock().unwrap());
    }

    /// Its database on the shared test server, if it has one there.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The binary's own address, for requests.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// What `/metrics` says now.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.metrics_addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Stops the binary at once and returns everything it logged.
    pub async fn kill_and_read_logs(&mut self) -> String {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        if let Some(reader) = self.log_reader.take() {
            reader.await.unwrap();
        }
        self.logs.lock().unwrap().clone()
    }

    /// How many connections wait in the listen backlog, not yet
    /// accepted: the receive queue of the listening socket, as the
    /// kernel reports it in /proc/net/tcp.
    pub fn accept_queue(&self) -> u32 {
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let local = format!("0100007F:{:04X}", self.port);
        table
            .lines()
            .skip(1)
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .find(|fields| fields[1] == local && fields[3] == "0A")
            .map(|fields| {
                let rx = fields[4].split(':').nth(1).unwrap();
                u32::from_str_radix(rx, 16).unwrap()
            })
            .expect("the listening socket")
    }

    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.unwrap()
    }

    /// A connection from another loopback address, as another client.
    pub async fn connect_from(&self, source: [u8; 4]) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind((source, 0).into()).unwrap();
        socket
            .connect(([127, 0, 0, 1], self.port).into())
            .await
            .unwrap()
    }

    /// Waits (up to five seconds) until the listen backlog is empty.
    pub async fn wait_for_empty_backlog(&self) {
        for _ in 0..250 {
            if self.accept_queue() == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "{} connections still wait to be accepted",
            self.accept_queue()
        );
    }

    /// The status of `GET /healthz` on a fresh connection, if one comes
    /// within two seconds.
    pub async fn healthz_status(&self) -> Option<u16> {
        let exchange = async {
            let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
            stream.write_all(GET_HEALTHZ).await.ok()?;
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).await.ok()?;
            std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
        };
        tokio::time::timeout(Duration::from_secs(2), exchange)
            .await
            .ok()
            .flatten()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(&mut self) -> Duration {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the binary exits")
            .unwrap();
        started.elapsed()
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // Waited for: a task spawned here would die with the test's
        // runtime and leave the database behind.
        if let Some(database) = self.database.take() {
            drop_database(database);
        }
    }
}

/// The CPU time all of a process's threads have run, from the
/// scheduler's nanosecond counts (/proc/PID/task/TID/schedstat).
pub fn cpu_time(pid: u32) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    let nanos = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}
