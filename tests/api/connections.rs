//! Slow, silent and numerous clients against the real binary, reached
//! directly as `scripts/dev.sh` or a bare VM would reach it: the
//! header-read and keep-alive timeouts, the connection cap, and a
//! shutdown that half-sent requests do not hold up.

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::helpers::{TEST_SECRET, admin_sql, create_database, free_port, server_url};

/// The `catalog` binary serving its own database on a free port.
struct Binary {
    child: Child,
    port: u16,
    database: String,
}

impl Binary {
    async fn start(vars: &[(&str, &str)]) -> Self {
        Self::start_with_file_limit(vars, None).await
    }

    /// Starts the binary, under `ulimit -n` when a limit is given, with
    /// its stdout piped.
    async fn start_with_file_limit(vars: &[(&str, &str)], open_files: Option<u32>) -> Self {
        let database = create_database().await;
        let port = free_port();
        let binary = env!("CARGO_BIN_EXE_catalog");
        let mut command = match open_files {
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.args(["-c", &format!("ulimit -n {limit} && exec \"$0\""), binary]);
                sh
            }
            None => Command::new(binary),
        };
        let child = command
            .env_clear()
            .env("DATABASE_URL", format!("{}/{database}", server_url()))
            .env("JWT_SECRET_KEY", TEST_SECRET)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
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
        let binary = Self {
            child,
            port,
            database,
        };
        for _ in 0..200 {
            if binary.healthz_status().await == Some(200) {
                return binary;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the binary did not start");
    }

    /// Asserts that the process hardly uses the CPU for a second: a
    /// spinning accept loop burns ~100 ticks a second.
    async fn assert_idle_for_a_second(&self, while_: &str) {
        let pid = self.child.id().unwrap();
        let before = cpu_ticks(pid);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = cpu_ticks(pid) - before;
        assert!(busy < 20, "{busy} ticks of CPU in a second of {while_}");
    }

    /// Asserts that `/healthz` answers 200 within ten tries.
    async fn assert_answers_again(&self) {
        for _ in 0..10 {
            if self.healthz_status().await == Some(200) {
                return;
            }
        }
        panic!("/healthz never answered");
    }

    /// Stops the binary at once and returns what it logged.
    async fn kill_and_read_logs(&mut self) -> String {
        self.child.start_kill().unwrap();
        let mut logs = String::new();
        let mut stdout = self.child.stdout.take().unwrap();
        stdout.read_to_string(&mut logs).await.unwrap();
        self.child.wait().await.unwrap();
        logs
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.unwrap()
    }

    /// The status of `GET /healthz` on a fresh connection, if one comes
    /// within two seconds.
    async fn healthz_status(&self) -> Option<u16> {
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
    async fn terminate(&mut self) -> Duration {
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
        let database = self.database.clone();
        // Best effort: the database outlives a panicking test otherwise.
        tokio::spawn(async move {
            admin_sql(None, &[format!("DROP DATABASE IF EXISTS `{database}`")]).await;
        });
    }
}

const GET_HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// Reads until the peer closes the connection (or five seconds pass) and
/// answers how long that took and what arrived.
async fn until_closed(stream: &mut TcpStream) -> (Duration, Vec<u8>) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return (started.elapsed(), received),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_that_trickles_in_is_cut_off_at_the_header_timeout() {
    let binary = Binary::start(&[("HEADER_READ_TIMEOUT_SECS", "2")]).await;
    let mut stream = binary.connect().await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // One header line a second keeps bytes coming, but the head never ends.
    let mut closed = false;
    for i in 0..6 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if stream
            .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut probe = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(10), stream.read(&mut probe)).await
        {
            closed = true;
            break;
        }
    }
    let waited = started.elapsed();
    assert!(closed, "still open after {waited:?}");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
    // The server still serves others.
    assert_eq!(binary.healthz_status().await, Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_idle_connections_are_closed_at_the_keep_alive_timeout() {
    let binary = Binary::start(&[("KEEP_ALIVE_TIMEOUT_SECS", "2")]).await;
    // Connected, but never a byte.
    let mut silent = binary.connect().await;
    // One request answered, then nothing.
    let mut idle = binary.connect().await;
    idle.write_all(GET_HEALTHZ).await.unwrap();
    let ((silent_after, _), (idle_after, answer)) =
        tokio::join!(until_closed(&mut silent), until_closed(&mut idle));
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    for waited in [silent_after, idle_after] {
        assert!(
            (Duration::from_millis(1500)..Duration::from_secs(4)).contains(&waited),
            "{waited:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_trickles_in_gets_408() {
    let binary = Binary::start(&[("HEADER_READ_TIMEOUT_SECS", "2")]).await;
    let mut stream = binary.connect().await;
    stream
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"username\"",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (_, answer) = until_closed(&mut stream).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_cap_wait_to_be_accepted() {
    let binary =
        Binary::start(&[("MAX_CONNECTIONS", "3"), ("KEEP_ALIVE_TIMEOUT_SECS", "30")]).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = binary.connect().await;
        stream.write_all(GET_HEALTHZ).await.unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.unwrap();
        held.push(stream);
    }
    // The fourth is left in the listen backlog, unanswered…
    assert_eq!(binary.healthz_status().await, None);
    // …until a slot comes free.
    drop(held.pop());
    assert_eq!(binary.healthz_status().await, Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_fits_under_a_low_open_file_limit_and_the_server_stays_calm() {
    // With 100 descriptors allowed, the cap drops to what fits; a flood of
    // connections then waits in the backlog instead of failing accept()
    // in a busy loop.
    let mut binary = Binary::start_with_file_limit(
        &[
            ("KEEP_ALIVE_TIMEOUT_SECS", "2"),
            ("MAX_CONNECTIONS", "1000"),
        ],
        Some(100),
    )
    .await;
    let mut flood = Vec::new();
    for _ in 0..150 {
        flood.push(binary.connect().await);
    }
    binary.assert_idle_for_a_second("waiting").await;
    // Once the idle ones are closed, the queue moves and health answers.
    binary.assert_answers_again().await;
    drop(flood);
    let logs = binary.kill_and_read_logs().await;
    assert!(
        logs.contains("MAX_CONNECTIONS lowered to fit the open-file limit"),
        "{logs}"
    );
}

/// User and system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_half_sent_request_does_not_hold_up_shutdown() {
    let mut binary = Binary::start(&[("SHUTDOWN_GRACE_SECS", "20")]).await;
    let mut half = binary.connect().await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut idle = binary.connect().await;
    idle.write_all(GET_HEALTHZ).await.unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let took = binary.terminate().await;
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_errors_are_logged_and_retried_calmly() {
    // Start with room for the default cap, then take the descriptors
    // away from the running process (as a limit lowered from outside, or
    // descriptors used up elsewhere, would): accept() now fails.
    let mut binary = Binary::start(&[("KEEP_ALIVE_TIMEOUT_SECS", "30")]).await;
    let pid = binary.child.id().unwrap();
    let limited = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--nofile=40:40"])
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(limited.success());
    let mut flood = Vec::new();
    for _ in 0..60 {
        flood.push(binary.connect().await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    binary.assert_idle_for_a_second("failing accepts").await;
    // Descriptors come free: the server serves again.
    drop(flood);
    binary.assert_answers_again().await;
    let logs = binary.kill_and_read_logs().await;
    assert!(logs.contains("accepting a connection failed"), "{logs}");
    assert!(logs.contains("retry_in_ms"), "{logs}");
}
