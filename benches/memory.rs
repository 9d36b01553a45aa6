//! The service's memory through a day's worth of abuse, measured on the
//! release binary as its own process (so the load generator's memory is
//! not counted), against a real database.
//!
//! Prints the resident set size (RSS):
//! - of a fresh process;
//! - after 10,000 `GET /api/products` (goal: at most 32 MiB);
//! - at its peak during 200 concurrent logins (goal: at most 96 MiB);
//! - once that flood has drained (goal: at most 48 MiB), and again ten
//!   seconds later;
//!
//! the login throughput of the flood, and the open file descriptors at
//! each point (they should return to where they started, give or take
//! the database pool). The login throttle is raised for this run, since
//! all 200 logins are for one account; they come from four addresses
//! other than the list requests' one.
//!
//! Then 1,100 connections that send nothing, from one address and then
//! spread over 19, twice (memory the first spread keeps should be reused
//! by the second, not added to): RSS and descriptors while they are open
//! and once they are closed.
//!
//! Run with `scripts/bench.sh memory`. It creates and drops its own
//! database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/server.rs"]
mod server;

use std::net::IpAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use catalog::domain::passwords::Passwords;
use secrecy::SecretString;
use serde_json::json;
use server::{admin_sql, create_database, server_url};
use tokio::process::Command;

const PASSWORD: &str = "benchmark password";
const LIST_REQUESTS: usize = 10_000;
const LIST_CONCURRENCY: usize = 16;
const LOGINS: usize = 200;
const IDLE_CONNECTIONS: usize = 1100;
const MIB: f64 = 1024.0 * 1024.0;

/// A field of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"));
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn rss(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS:")
}

/// How many file descriptors the process holds open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

fn verdict(bytes: u64, goal_mib: u64) -> &'static str {
    if bytes <= goal_mib * 1024 * 1024 {
        "meets"
    } else {
        "MISSES"
    }
}

#[tokio::main]
async fn main() {
    let database = create_database("catalog_bench").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_catalog"))
        .env_clear()
        .env("DATABASE_URL", format!("{}/{database}", server_url()))
        .env(
            "JWT_SECRET_KEY",
            uuid::Uuid::new_v4().to_string() + "-benchmark-secret",
        )
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("METRICS_ADDR", "127.0.0.1:0")
        .env("LOGIN_MAX_FAILURES", "1000000")
        .env("LOGIN_MAX_FAILURES_PER_ACCOUNT", "1000000")
        .env("LOGIN_MAX_FAILURES_PER_CLIENT", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the release binary runs");
    let pid = child.id().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(LOGINS)
        .build()
        .unwrap();
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await {
            ready = response.status() == 200;
            if ready {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the service did not become ready");
    let fresh = rss(pid);
    let fresh_fds = open_fds(pid);

    // One account and a page of products, written straight to the
    // database so that no password is hashed inside the service yet.
    let hash = Passwords::new()
        .unwrap()
        .hash(SecretString::from(PASSWORD))
        .await
        .unwrap();
    admin_sql(
        Some(&database),
        &[
            format!(
                "INSERT INTO users (username, username_key, email, email_key, password_hash, \
                 role, created_at, updated_at) VALUES ('bench', UNHEX(SHA2('bench', 256)), \
                 'bench@example.com', UNHEX(SHA2('bench@example.com', 256)), '{hash}', 'user', \
                 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))"
            ),
            "INSERT INTO products (owner_id, name, description, price_cents, created_at, updated_at) \
             WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) \
             SELECT (SELECT id FROM users), CONCAT('Product ', i), 'A product to list', i * 100, \
             UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) FROM n"
                .to_owned(),
        ],
    )
    .await;

    // 10,000 list requests.
    let started = Instant::now();
    let per_task = LIST_REQUESTS / LIST_CONCURRENCY;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..LIST_CONCURRENCY {
        let (client, url) = (client.clone(), format!("{base}/api/products?limit=20"));
        tasks.spawn(async move {
            for _ in 0..per_task {
                let response = client.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                response.bytes().await.unwrap();
            }
        });
    }
    tasks.join_all().await;
    let list_secs = started.elapsed().as_secs_f64();
    let after_lists = rss(pid);
    let after_lists_fds = open_fds(pid);

    // 200 concurrent logins, RSS sampled every 5 ms.
    let peak = Arc::new(AtomicU64::new(rss(pid)));
    let peak_fds = Arc::new(AtomicU64::new(open_fds(pid) as u64));
    let flooding = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, peak_fds, flooding) = (peak.clone(), peak_fds.clone(), flooding.clone());
        tokio::spawn(async move {
            while flooding.load(Ordering::Relaxed) {
                peak.fetch_max(rss(pid), Ordering::Relaxed);
                peak_fds.fetch_max(open_fds(pid) as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = Instant::now();
    let mut logins = tokio::task::JoinSet::new();
    let flooders: Vec<reqwest::Client> = (2..=5)
        .map(|octet| {
            reqwest::Client::builder()
                .local_address(IpAddr::from([127, 0, 0, octet]))
                .pool_max_idle_per_host(LOGINS)
                .build()
                .unwrap()
        })
        .collect();
    for i in 0..LOGINS {
        let (client, url) = (
            flooders[i % flooders.len()].clone(),
            format!("{base}/api/auth/login"),
        );
        logins.spawn(async move {
            let body = json!({"username": "bench", "password": PASSWORD});
            client.post(url).json(&body).send().await.unwrap().status()
        });
    }
    let statuses = logins.join_all().await;
    let flood_secs = started.elapsed().as_secs_f64();
    flooding.store(false, Ordering::Relaxed);
    sampler.await.unwrap();
    let ok = statuses.iter().filter(|s| s.as_u16() == 200).count();
    let high_water = status_bytes(pid, "VmHWM:");
    let peak = peak.load(Ordering::Relaxed).max(high_water);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let drained = rss(pid);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let settled = rss(pid);
    // The client's idle connections close, as they would at the end of a
    // real flood; the server's descriptors should follow.
    drop(client);
    drop(flooders);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled_fds = open_fds(pid);

    // 1,100 connections that never send a byte.
    rlimit::increase_nofile_limit(8192).unwrap();
    let mut idle_rows = Vec::new();
    for (label, addresses) in [
        ("from one address", 1u8),
        ("from 19 addresses", 19),
        ("from 19 addresses again", 19),
    ] {
        let before = (rss(pid), open_fds(pid));
        let mut silent = Vec::new();
        for i in 0..IDLE_CONNECTIONS {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            let octet = 10 + (i % usize::from(addresses)) as u8;
            socket.bind(([127, 0, 0, octet], 0).into()).unwrap();
            silent.push(socket.connect(([127, 0, 0, 1], port).into()).await.unwrap());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let open = (rss(pid), open_fds(pid));
        drop(silent);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let closed = (rss(pid), open_fds(pid));
        idle_rows.push((label, before, open, closed));
    }

    println!("memory of the release binary (RSS, from /proc/<pid>/status)");
    println!("  fresh process:                          {}", mib(fresh));
    println!(
        "  after {LIST_REQUESTS} list requests ({:.0} req/s):  {}  goal <= 32 MiB: {}",
        LIST_REQUESTS as f64 / list_secs,
        mib(after_lists),
        verdict(after_lists, 32)
    );
    println!(
        "  peak during {LOGINS} concurrent logins:    {}  goal <= 96 MiB: {}",
        mib(peak),
        verdict(peak, 96)
    );
    println!(
        "  2 s after the flood drained:            {}  goal <= 48 MiB: {}",
        mib(drained),
        verdict(drained, 48)
    );
    println!("  12 s after:                             {}", mib(settled));
    println!(
        "  the flood: {ok}/{LOGINS} logins succeeded in {flood_secs:.2} s ({:.0} logins/s)",
        LOGINS as f64 / flood_secs
    );
    println!(
        "open file descriptors: fresh {fresh_fds}, after the list requests {after_lists_fds}, \
         peak in the flood {}, once the clients left {settled_fds}",
        peak_fds.load(Ordering::Relaxed)
    );

    println!(
        "{IDLE_CONNECTIONS} silent connections (MAX_CONNECTIONS_PER_CLIENT 64, MAX_CONNECTIONS 1024):"
    );
    for (label, before, open, closed) in idle_rows {
        println!(
            "  {label}: before {} and {} fds; while open {} and {} fds; 1 s after closing {} and {} fds",
            mib(before.0),
            before.1,
            mib(open.0),
            open.1,
            mib(closed.0),
            closed.1
        );
    }

    child.start_kill().unwrap();
    child.wait().await.unwrap();
    admin_sql(None, &[format!("DROP DATABASE `{database}`")]).await;
}
