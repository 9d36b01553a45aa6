//! Slow, silent and numerous clients against the real binary, reached
//! directly as `scripts/dev.sh` or a bare VM would reach it: the
//! header-read and keep-alive timeouts, the connection cap, and a
//! shutdown that half-sent requests do not hold up.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::helpers::{TEST_SECRET, create_database, drop_database, free_port, server_url};

/// The `catalog` binary serving its own database on a free port, its
/// log lines collected as they come. `vars` come after the defaults, so
/// they override them.
pub struct Binary {
    child: Child,
    pub port: u16,
    database: String,
    logs: Arc<Mutex<String>>,
    log_reader: Option<JoinHandle<()>>,
}

impl Binary {
    pub async fn start(vars: &[(&str, &str)]) -> Self {
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
        let mut child = command
            .env_clear()
            .env("DATABASE_URL", format!("{}/{database}", server_url()))
            .env("JWT_SECRET_KEY", TEST_SECRET)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("METRICS_ADDR", "127.0.0.1:0")
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
            database,
            logs,
            log_reader: Some(log_reader),
        };
        for _ in 0..200 {
            if binary.healthz_status().await == Some(200) {
                return binary;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the binary did not start");
    }

    /// Asserts that the process hardly uses the CPU for 100 ms: a
    /// spinning accept loop would use all of them.
    async fn assert_idle(&self, while_: &str) {
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
    async fn assert_answers_again(&self) {
        for _ in 0..10 {
            if self.healthz_status().await == Some(200) {
                return;
            }
        }
        panic!("/healthz never answered");
    }

    /// Waits (up to five seconds) until the binary has logged `needle`.
    async fn wait_for_log(&self, needle: &str) {
        for _ in 0..250 {
            if self.logs.lock().unwrap().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("never logged {needle:?}: {}", self.logs.lock().unwrap());
    }

    /// Stops the binary at once and returns everything it logged.
    async fn kill_and_read_logs(&mut self) -> String {
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
    fn accept_queue(&self) -> u32 {
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
        // Waited for: a task spawned here would die with the test's
        // runtime and leave the database behind.
        drop_database(std::mem::take(&mut self.database));
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
    let binary = Binary::start(&[("HEADER_READ_TIMEOUT_SECS", "0.5")]).await;
    let mut stream = binary.connect().await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // A header line every 50 ms keeps bytes coming, but the head never
    // ends.
    let mut closed = false;
    for i in 0..60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
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
    assert!(
        (Duration::from_millis(400)..Duration::from_millis(1500)).contains(&waited),
        "{waited:?}"
    );
    // The server still serves others.
    assert_eq!(binary.healthz_status().await, Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_and_idle_connections_are_closed_at_the_keep_alive_timeout() {
    let binary = Binary::start(&[("KEEP_ALIVE_TIMEOUT_SECS", "0.5")]).await;
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
            (Duration::from_millis(400)..Duration::from_millis(1500)).contains(&waited),
            "{waited:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_trickles_in_gets_408() {
    let binary = Binary::start(&[("HEADER_READ_TIMEOUT_SECS", "0.5")]).await;
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
    assert!(started.elapsed() < Duration::from_millis(1500));
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
    // The fourth is left in the listen backlog, unaccepted…
    let mut fourth = binary.connect().await;
    fourth.write_all(GET_HEALTHZ).await.unwrap();
    for _ in 0..250 {
        if binary.accept_queue() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(binary.accept_queue(), 1, "the fourth was not left waiting");
    let mut head = [0u8; 12];
    let early = tokio::time::timeout(Duration::from_millis(50), fourth.read(&mut head)).await;
    assert!(early.is_err(), "the fourth was answered: {early:?}");
    // …until a slot comes free.
    drop(held.pop());
    tokio::time::timeout(Duration::from_secs(5), fourth.read_exact(&mut head))
        .await
        .expect("answered once a slot is free")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert_eq!(binary.accept_queue(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cap_fits_under_a_low_open_file_limit_and_the_server_stays_calm() {
    // With 100 descriptors allowed, the cap drops to what fits; a flood of
    // connections then waits in the backlog instead of failing accept()
    // in a busy loop.
    let mut binary = Binary::start_with_file_limit(
        &[
            ("KEEP_ALIVE_TIMEOUT_SECS", "0.5"),
            ("MAX_CONNECTIONS", "1000"),
        ],
        Some(100),
    )
    .await;
    let mut flood = Vec::new();
    for _ in 0..150 {
        flood.push(binary.connect().await);
    }
    binary.assert_idle("waiting").await;
    // Once the idle ones are closed, the queue moves and health answers.
    binary.assert_answers_again().await;
    drop(flood);
    let logs = binary.kill_and_read_logs().await;
    assert!(
        logs.contains("MAX_CONNECTIONS lowered to fit the open-file limit"),
        "{logs}"
    );
}

/// The CPU time all of a process's threads have run, from the
/// scheduler's nanosecond counts (/proc/PID/task/TID/schedstat).
fn cpu_time(pid: u32) -> Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    let nanos = tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
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
    tokio::time::sleep(Duration::from_millis(50)).await;
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
    binary.wait_for_log("accepting a connection failed").await;
    binary.assert_idle("failing accepts").await;
    // Descriptors come free: the server serves again.
    drop(flood);
    binary.assert_answers_again().await;
    let logs = binary.kill_and_read_logs().await;
    assert!(logs.contains("accepting a connection failed"), "{logs}");
    assert!(logs.contains("retry_in_ms"), "{logs}");
}
