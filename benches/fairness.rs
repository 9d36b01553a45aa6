//! One client against everyone else, on the release binary as its own
//! process, with its default limits, against a real database.
//!
//! Prints:
//! - `flood`: a real user's login latency (p50, p99) alone, then while
//!   another address guesses passwords over 32 connections (wrong
//!   passwords for 60 real accounts and for names nobody has), and what
//!   the guesser got (goal: p99 during the flood at most 2x alone);
//! - `throughput`: list requests and logins per second over 16
//!   connections, counting 2xx answers only, and the CPU time the service
//!   and the database server spent per answer (steadier than throughput
//!   on a machine the load generator shares), for comparing builds:
//!   `CATALOG_BINARY=<another build's binary>` runs the same load against
//!   it.
//!
//! `FAIRNESS_PARTS=flood` or `=throughput` runs one part;
//! `BENCH_SECONDS` sets each throughput run's length (default 5). Run
//! with `scripts/bench.sh fairness`. It creates and drops its own
//! database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/cpu.rs"]
mod cpu;
#[path = "../tests/support/latency.rs"]
mod latency;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/service.rs"]
mod service;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use catalog::domain::passwords::Passwords;
use cpu::{cpu_seconds, local_database_pid};
use latency::{ms, percentile};
use secrecy::SecretString;
use serde_json::json;
use server::{admin_sql, create_database, server_url};
use service::Service;

const PASSWORD: &str = "benchmark password";
const VICTIMS: usize = 60;
const FLOOD_CONNECTIONS: usize = 32;
const SAMPLES: usize = 200;
const CONCURRENCY: usize = 16;

fn client_from(address: [u8; 4], connections: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(address))
        .pool_max_idle_per_host(connections)
        .build()
        .unwrap()
}

/// `SAMPLES` logins of `user`, one after another, sorted by latency.
async fn login_latencies(client: &reqwest::Client, base: &str, user: &str) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let response = client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"username": user, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "the real user's login");
        response.bytes().await.unwrap();
        latencies.push(started.elapsed());
    }
    latencies.sort();
    latencies
}

/// What a throughput run measured.
struct Throughput {
    /// 2xx answers per second.
    per_second: f64,
    /// Answers that were not 2xx.
    other: usize,
    /// CPU microseconds per 2xx answer: the service's, the database's.
    service_us: Option<f64>,
    database_us: Option<f64>,
}

/// 2xx answers per second over `CONCURRENCY` connections for `seconds`:
/// `request(i)` builds worker `i`'s request. `pids` are the service's
/// and the database server's, whose CPU time is read around the run.
async fn throughput(
    client: &reqwest::Client,
    seconds: f64,
    pids: (u32, Option<u32>),
    request: impl Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder,
) -> Throughput {
    let cpu = || (cpu_seconds(pids.0), pids.1.and_then(cpu_seconds));
    let before = cpu();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..CONCURRENCY {
        let request = request(client, worker);
        workers.spawn(async move {
            let (mut ok, mut other) = (0usize, 0usize);
            while Instant::now() < deadline {
                let response = request.try_clone().unwrap().send().await.unwrap();
                if response.status().is_success() {
                    ok += 1;
                } else {
                    other += 1;
                }
                response.bytes().await.unwrap();
            }
            (ok, other)
        });
    }
    let counts = workers.join_all().await;
    let after = cpu();
    let ok: usize = counts.iter().map(|(ok, _)| ok).sum();
    let other: usize = counts.iter().map(|(_, other)| other).sum();
    let per_answer =
        |before: Option<f64>, after: Option<f64>| Some((after? - before?) / ok.max(1) as f64 * 1e6);
    Throughput {
        per_second: ok as f64 / seconds,
        other,
        service_us: per_answer(before.0, after.0),
        database_us: per_answer(before.1, after.1),
    }
}

fn micros(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_owned(), |us| format!("{us:.0} µs"))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let parts = std::env::var("FAIRNESS_PARTS").unwrap_or_else(|_| "flood,throughput".into());
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let database = create_database("catalog_bench").await;
    let service = Service::start(&format!("{}/{database}", server_url())).await;
    let base = format!("http://{}", service.addr);

    // Accounts with a real password, written straight to the database:
    // `real` and `real0`.. for the measured logins, `victim0`.. for the
    // guesser. And a page of products to list.
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
                 role, created_at, updated_at) \
                 WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {}) \
                 SELECT name, UNHEX(SHA2(name, 256)), CONCAT(name, '@example.com'), \
                 UNHEX(SHA2(CONCAT(name, '@example.com'), 256)), '{hash}', 'user', \
                 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) \
                 FROM (SELECT IF(i < {VICTIMS}, CONCAT('victim', i), \
                       IF(i < {VICTIMS} + {CONCURRENCY}, CONCAT('real', i - {VICTIMS}), 'real')) \
                       AS name FROM n) AS names",
                VICTIMS + CONCURRENCY
            ),
            "INSERT INTO products (owner_id, name, description, price_cents, created_at, updated_at) \
             WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) \
             SELECT (SELECT MIN(id) FROM users), CONCAT('Product ', i), 'A product to list', \
             i * 100, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) FROM n"
                .to_owned(),
        ],
    )
    .await;
    let binary = std::env::var("CATALOG_BINARY").unwrap_or_else(|_| "this build".into());
    println!("fairness benchmark ({binary})");
    let user = client_from([127, 0, 0, 1], CONCURRENCY);

    if parts.contains("flood") {
        login_latencies(&user, &base, "real").await; // warm-up
        let alone = login_latencies(&user, &base, "real").await;
        let flooding = Arc::new(AtomicBool::new(true));
        let counts: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
        let guesser = client_from([127, 0, 0, 2], FLOOD_CONNECTIONS);
        let mut flood = tokio::task::JoinSet::new();
        for worker in 0..FLOOD_CONNECTIONS {
            let (client, base, flooding, counts) = (
                guesser.clone(),
                base.clone(),
                flooding.clone(),
                counts.clone(),
            );
            flood.spawn(async move {
                let mut attempt = worker;
                while flooding.load(Ordering::Relaxed) {
                    // Every other guess is for a name nobody has.
                    let name = if attempt % 2 == 0 {
                        format!("victim{}", attempt / 2 % VICTIMS)
                    } else {
                        format!("ghost{attempt}")
                    };
                    let body = json!({"username": name, "password": format!("guess {attempt}")});
                    let Ok(response) = client
                        .post(format!("{base}/api/auth/login"))
                        .json(&body)
                        .send()
                        .await
                    else {
                        counts[2].fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let slot = match response.status().as_u16() {
                        401 => 0,
                        429 => 1,
                        _ => 2,
                    };
                    counts[slot].fetch_add(1, Ordering::Relaxed);
                    let _ = response.bytes().await;
                    attempt += FLOOD_CONNECTIONS;
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let during = login_latencies(&user, &base, "real").await;
        let flood_secs = started.elapsed().as_secs_f64();
        flooding.store(false, Ordering::Relaxed);
        flood.join_all().await;
        let (p99_alone, p99_during) = (percentile(&alone, 0.99), percentile(&during, 0.99));
        println!(
            "real user's login alone:        p50 {:.1} ms, p99 {:.1} ms ({SAMPLES} logins)",
            ms(percentile(&alone, 0.5)),
            ms(p99_alone)
        );
        println!(
            "real user's login during flood: p50 {:.1} ms, p99 {:.1} ms",
            ms(percentile(&during, 0.5)),
            ms(p99_during)
        );
        let [unauthorized, throttled, other] = &*counts;
        let total = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        println!(
            "the guesser ({FLOOD_CONNECTIONS} connections, another address) got {} x 401, {} x 429, {} other in {flood_secs:.1} s",
            total(unauthorized),
            total(throttled),
            total(other)
        );
        let ratio = p99_during.as_secs_f64() / p99_alone.as_secs_f64();
        println!(
            "p99 during the flood / alone: {ratio:.2}x (goal <= 2x) {}",
            if ratio <= 2.0 { "meets" } else { "MISSES" }
        );
    }

    if parts.contains("throughput") {
        let pids = (service.child.id(), local_database_pid());
        let list =
            |client: &reqwest::Client, _| client.get(format!("{base}/api/products?limit=20"));
        throughput(&user, 1.0, pids, list).await; // warm-up
        let lists = throughput(&user, seconds, pids, list).await;
        // Each worker logs in to its own account, as separate users do.
        let login = |client: &reqwest::Client, worker: usize| {
            client
                .post(format!("{base}/api/auth/login"))
                .json(&json!({"username": format!("real{worker}"), "password": PASSWORD}))
        };
        let logins = throughput(&user, seconds, pids, login).await;
        for (name, run) in [("list", lists), ("login", logins)] {
            println!(
                "{name} throughput: {:.1} 2xx/s over {CONCURRENCY} connections ({} other); \
                 CPU per answer: service {}, database {}",
                run.per_second,
                run.other,
                micros(run.service_us),
                micros(run.database_us)
            );
        }
    }

    drop(service);
    admin_sql(None, &[format!("DROP DATABASE `{database}`")]).await;
}
