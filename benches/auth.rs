//! Authentication under load, against the real service and database.
//!
//! Prints:
//! - the Argon2 bound for this machine (cores / time per hash) next to the
//!   login throughput actually reached;
//! - the p99 latency of `GET /api/products` alone and during a login
//!   flood (target: under 3x);
//! - the median login latency for an unknown user and for a wrong
//!   password over 200 attempts each (target: within 10%).
//!
//! Run with `scripts/bench.sh` (or `cargo bench --bench auth` with
//! `TEST_DATABASE_URL` set). It creates and drops its own database.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/latency.rs"]
mod latency;
#[path = "../tests/support/server.rs"]
mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use catalog::Application;
use catalog::config::Config;
use catalog::domain::passwords::Passwords;
use latency::{ms, percentile};
use secrecy::SecretString;
use serde_json::{Value, json};
use server::{admin_sql, create_database, server_url};

const PASSWORD: &str = "benchmark password";

/// The binary's configuration for a throwaway database, read through
/// the same loader from these variables; everything else is default.
fn config(database: &str) -> Config {
    let url = format!("{}/{database}", server_url());
    let secret = uuid::Uuid::new_v4().to_string() + "-benchmark-secret";
    Config::from_vars([
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET_KEY", secret.as_str()),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("DATABASE_POOL_SIZE", "16"),
        ("DATABASE_ACQUIRE_TIMEOUT_SECS", "30"),
        // The enumeration run makes hundreds of failed logins on purpose,
        // and every client here is one address.
        ("LOGIN_MAX_FAILURES", "4294967295"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "4294967295"),
        ("LOGIN_MAX_FAILURES_PER_CLIENT", "4294967295"),
        ("MAX_CONNECTIONS_PER_CLIENT", "1000"),
    ])
    .expect("a valid benchmark configuration")
}

/// Latencies of `total` GETs of the product list, `concurrency` at a time.
async fn product_latencies(
    client: &reqwest::Client,
    base: &str,
    total: usize,
    concurrency: usize,
) -> Vec<Duration> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, next) = (
            client.clone(),
            format!("{base}/api/products?limit=20"),
            next.clone(),
        );
        workers.spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let started = Instant::now();
                let response = client.get(&url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                response.bytes().await.unwrap();
                latencies.push(started.elapsed());
            }
            latencies
        });
    }
    let mut all: Vec<Duration> = workers.join_all().await.into_iter().flatten().collect();
    all.sort();
    all
}

async fn login(
    client: &reqwest::Client,
    base: &str,
    username: &str,
    password: &str,
) -> (u16, Duration) {
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    response.bytes().await.unwrap();
    (status, started.elapsed())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let database = create_database("catalog_bench").await;

    let app = Application::build(config(&database))
        .await
        .expect("the app starts");
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();

    // Seed: one account and a page of products.
    let signup: Value = client
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"username": "bench", "email": "bench@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["access_token"].as_str().unwrap().to_owned();
    for i in 0..50 {
        let response = client
            .post(format!("{base}/api/products"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("product {i}"), "price": 9.99, "description": "seeded"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    println!("catalog authentication benchmark ({cores} cores)");

    // 1. The Argon2 bound.
    let passwords = Passwords::new().unwrap();
    let hashes = 20;
    let started = Instant::now();
    for _ in 0..hashes {
        passwords.hash(SecretString::from(PASSWORD)).await.unwrap();
    }
    let per_hash = started.elapsed() / hashes;
    let bound = cores as f64 / per_hash.as_secs_f64();
    println!(
        "argon2id (m=19456 KiB, t=2, p=1): {:.1} ms per hash -> bound {bound:.1} logins/s",
        ms(per_hash)
    );

    // 2. Login throughput with plenty of concurrent clients.
    let logins = 200;
    let concurrency = 16;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, base, next) = (client.clone(), base.clone(), next.clone());
        workers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < logins {
                let (status, _) = login(&client, &base, "bench", PASSWORD).await;
                assert_eq!(status, 200);
            }
        });
    }
    workers.join_all().await;
    let throughput = logins as f64 / started.elapsed().as_secs_f64();
    println!(
        "login throughput: {throughput:.1} logins/s over {logins} logins ({concurrency} clients) = {:.0}% of the bound",
        throughput / bound * 100.0
    );

    // 3. GET /api/products alone, then during a login flood.
    let requests = 2000;
    product_latencies(&client, &base, 200, 4).await; // warm-up
    let alone = product_latencies(&client, &base, requests, 4).await;
    let flooding = Arc::new(AtomicBool::new(true));
    let flood_logins = Arc::new(AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (client, base, flooding, count) = (
            client.clone(),
            base.clone(),
            flooding.clone(),
            flood_logins.clone(),
        );
        flood.spawn(async move {
            while flooding.load(Ordering::Relaxed) {
                login(&client, &base, "bench", PASSWORD).await;
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flood_started = Instant::now();
    let logins_before = flood_logins.load(Ordering::Relaxed);
    let during = product_latencies(&client, &base, requests, 4).await;
    let flood_secs = flood_started.elapsed().as_secs_f64();
    let flood_count = flood_logins.load(Ordering::Relaxed) - logins_before;
    flooding.store(false, Ordering::Relaxed);
    flood.join_all().await;
    let (p99_alone, p99_during) = (percentile(&alone, 0.99), percentile(&during, 0.99));
    println!(
        "GET /api/products alone:        p50 {:.2} ms, p99 {:.2} ms ({requests} requests, 4 clients)",
        ms(percentile(&alone, 0.5)),
        ms(p99_alone)
    );
    println!(
        "GET /api/products during flood: p50 {:.2} ms, p99 {:.2} ms (32 clients logging in, ~{:.0} logins/s)",
        ms(percentile(&during, 0.5)),
        ms(p99_during),
        flood_count as f64 / flood_secs
    );
    let ratio = p99_during.as_secs_f64() / p99_alone.as_secs_f64();
    println!(
        "p99 during flood / alone: {ratio:.2}x (target < 3x) {}",
        if ratio < 3.0 { "PASS" } else { "FAIL" }
    );

    // 4. Unknown user versus wrong password, interleaved so drift hits both.
    let attempts = 200;
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    for i in 0..attempts {
        let (status, took) = login(&client, &base, &format!("nobody{i}"), "not the password").await;
        assert_eq!(status, 401);
        unknown.push(took);
        let (status, took) = login(&client, &base, "bench", "not the password").await;
        assert_eq!(status, 401);
        wrong.push(took);
    }
    unknown.sort();
    wrong.sort();
    let (m_unknown, m_wrong) = (percentile(&unknown, 0.5), percentile(&wrong, 0.5));
    let diff =
        (m_unknown.as_secs_f64() - m_wrong.as_secs_f64()).abs() / m_wrong.as_secs_f64() * 100.0;
    println!(
        "login median, unknown user: {:.2} ms; wrong password: {:.2} ms; difference {diff:.1}% (target < 10%) {}",
        ms(m_unknown),
        ms(m_wrong),
        if diff < 10.0 { "PASS" } else { "FAIL" }
    );

    let _ = stop.send(());
    server.await.unwrap();
    admin_sql(None, &[format!("DROP DATABASE `{database}`")]).await;
}
