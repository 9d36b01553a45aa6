//! The micro-cache of the project's nginx, measured: the release binary
//! with 1,000 products, behind a real nginx running the project's config,
//! 64 keep-alive connections.
//!
//! It prints requests per second, p50 and p99 of the front page
//! (`GET /api/products?limit=20`):
//! - through nginx with the micro-cache;
//! - through nginx without it (`snippets/micro-cache.conf` left out);
//! - straight to the service;
//! - and the raw driver bound: the same page statement through
//!   `mysql_async` alone, over 64 connections.
//!
//! Then the hit ratio of 1,000 product pages read in a Zipf pattern
//! (s = 1: the k-th most read page is read 1/k as often as the first).
//! With `CATALOG_BASELINE_BINARY` naming a build from before the page
//! tags and `Cache-Control`, it also compares the front page straight
//! from each build, in turns: what that work costs an uncached page.
//!
//! nginx runs as the nginx image runs it (a worker per core, 1,024
//! connections each) and without the config's per-address rate limits:
//! one machine's load generator is one address, which those limits exist
//! to stop. Every answer must be a 200. It asserts nothing else: the
//! figures are the result. Run with `scripts/bench.sh caching`;
//! `BENCH_SECONDS` sets each run's length (default 5, after 1 s of
//! warm-up).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/cpu.rs"]
mod cpu;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/nginx.rs"]
mod nginx;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/service.rs"]
mod service;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use cpu::local_database_pid;
use load::{Processes, Sample, driver_load, http_load, http_load_over, page_statement};
use nginx::Nginx;
use serde_json::{Value, json};
use server::{admin_sql, create_database, server_url};
use service::Service;

const CONNECTIONS: usize = 64;
const PAGE: i64 = 20;
const PRODUCTS: i64 = 1_000;
/// Paths drawn for the Zipf run; each connection walks them from its own
/// place.
const DRAWS: usize = 200_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// Renders nginx as the image runs it, without the per-address rate
/// limits, and with or without the micro-cache.
fn bench_config(cache: bool) -> impl FnOnce(&Path) {
    move |dir: &Path| {
        let edit = |file: &Path, change: &dyn Fn(&str) -> Option<String>| {
            let text = std::fs::read_to_string(file).unwrap();
            let edited: Vec<String> = text.lines().filter_map(change).collect();
            std::fs::write(file, edited.join("\n")).unwrap();
        };
        edit(&dir.join("nginx.conf"), &|line| {
            Some(match line.trim() {
                "worker_processes 1;" => "worker_processes auto;".to_owned(),
                "events { worker_connections 256; }" => {
                    "events { worker_connections 1024; }".to_owned()
                }
                _ => line.to_owned(),
            })
        });
        edit(&dir.join("conf.d/default.conf"), &|line| {
            let directive = line.trim_start();
            let drop = directive.starts_with("limit_req zone=")
                || (!cache && directive == "include snippets/micro-cache.conf;");
            (!drop).then(|| line.to_owned())
        });
    }
}

fn print_row(name: &str, sample: &Sample, bound: f64) {
    println!(
        "{name:<34} | {:>8.0} {:>8.2} {:>8.2} | {:>6.1}x",
        sample.per_second(),
        sample.ms(0.5),
        sample.ms(0.99),
        sample.per_second() / bound
    );
}

/// Ranks drawn from Zipf(s = 1) over `n` items, from a fixed seed.
fn zipf_draws(n: usize, draws: usize) -> Vec<usize> {
    let weights: Vec<f64> = (1..=n).map(|k| 1.0 / k as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(n);
    let mut sum = 0.0;
    for w in weights {
        sum += w / total;
        cumulative.push(sum);
    }
    // xorshift64*: enough randomness for a load pattern.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..draws)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let u = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64;
            cumulative.partition_point(|&c| c < u).min(n - 1)
        })
        .collect()
}

async fn run() {
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let database = create_database("catalog_cache_bench").await;
    let database_url = format!("{}/{database}", server_url());
    // nginx is a trusted proxy, as Compose makes it, so the connections
    // it opens are not capped as one client's.
    let service = Service::start_with(&database_url, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let base = format!("http://{}", service.addr);
    let signup: Value = reqwest::Client::new()
        .post(format!("{base}/api/auth/signup"))
        .json(
            &json!({"username": "shopkeeper", "email": "shopkeeper@example.com",
                      "password": "benchmark password"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let owner = signup["id"].as_i64().unwrap();
    admin_sql(
        Some(&database),
        &[
            format!(
                "INSERT INTO products (owner_id, name, description, price_cents, created_at, updated_at) \
                 WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PRODUCTS}) \
                 SELECT {owner}, CONCAT('Product ', i), CONCAT('A sturdy product, number ', i), \
                 i * 37 % 100000, UTC_TIMESTAMP(6) - INTERVAL i SECOND, UTC_TIMESTAMP(6) FROM n"
            ),
            "ANALYZE TABLE users, products".to_owned(),
        ],
    )
    .await;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "micro-cache benchmark: {cores} cores, {PRODUCTS} products, {CONNECTIONS} connections, \
         {seconds} s per run after 1 s warm-up"
    );

    let processes = Processes {
        service: Some(service.child.id()),
        load: std::process::id(),
        database: local_database_pid(),
        proxy: None,
        replica: None,
    };
    let front = format!("/api/products?limit={PAGE}");
    let (statement, binds) = page_statement(None, None, PAGE);
    let driver = driver_load(
        &database_url,
        &statement,
        &binds,
        CONNECTIONS,
        seconds,
        Processes {
            service: None,
            ..processes
        },
    )
    .await;
    let bound = driver.per_second();
    let cached_nginx = Nginx::start_edited(service.addr, bench_config(true)).await;
    let plain_nginx = Nginx::start_edited(service.addr, bench_config(false)).await;
    let at = |nginx: &Nginx| -> SocketAddr { format!("127.0.0.1:{}", nginx.port).parse().unwrap() };
    let through = |nginx: &Nginx| Processes {
        proxy: Some(nginx.pid()),
        ..processes
    };
    let cached = http_load(
        at(&cached_nginx),
        &front,
        None,
        CONNECTIONS,
        seconds,
        through(&cached_nginx),
    )
    .await;
    let uncached = http_load(
        at(&plain_nginx),
        &front,
        None,
        CONNECTIONS,
        seconds,
        through(&plain_nginx),
    )
    .await;
    let direct = http_load(service.addr, &front, None, CONNECTIONS, seconds, processes).await;

    println!();
    println!(
        "{:<34} | {:>8} {:>8} {:>8} | {:>7}",
        "front page (limit=20)", "req/s", "p50 ms", "p99 ms", "x bound"
    );
    print_row("raw driver bound (same statement)", &driver, bound);
    print_row("service, straight", &direct, bound);
    print_row("nginx without the micro-cache", &uncached, bound);
    print_row("nginx with the micro-cache", &cached, bound);
    println!(
        "  cached answers: {:.1}% of {} (HIT)",
        cached.hits as f64 * 100.0 / cached.latencies.len() as f64,
        cached.latencies.len()
    );
    let ratio = cached.per_second() / bound;
    println!(
        "  goal: cached front page >= 10x the raw driver bound: {ratio:.1}x {}",
        if ratio >= 10.0 { "PASS" } else { "MISS" }
    );
    println!();
    println!("CPU per request, microseconds (all processes share the {cores} cores):");
    println!(
        "{:<34} | {:>8} {:>8} {:>8} {:>8}",
        "", "service", "database", "nginx", "client"
    );
    for (name, sample) in [
        ("raw driver bound", &driver),
        ("service, straight", &direct),
        ("nginx without the micro-cache", &uncached),
        ("nginx with the micro-cache", &cached),
    ] {
        println!(
            "{name:<34} | {:>8} {:>8} {:>8} {:>8}",
            sample.cpu_us(sample.cpu.service),
            sample.cpu_us(sample.cpu.database),
            sample.cpu_us(sample.cpu.proxy),
            sample.cpu_us(sample.cpu.load),
        );
    }

    // Zipf over 1,000 product pages, through the cache.
    let first_id = owner_first_product(&database_url).await;
    let draws = zipf_draws(usize::try_from(PRODUCTS).unwrap(), DRAWS);
    let paths: Vec<String> = draws
        .iter()
        .map(|rank| format!("/api/products/{}", first_id + i64::try_from(*rank).unwrap()))
        .collect();
    let distinct = {
        let mut seen = draws.clone();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    };
    let zipf = http_load_over(
        at(&cached_nginx),
        Arc::new(paths),
        None,
        CONNECTIONS,
        seconds,
        through(&cached_nginx),
    )
    .await;
    println!();
    println!(
        "Zipf (s = 1) over {PRODUCTS} product pages ({distinct} of them drawn), through the cache:"
    );
    println!(
        "  {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms; hit ratio {:.1}% ({} of {})",
        zipf.per_second(),
        zipf.ms(0.5),
        zipf.ms(0.99),
        zipf.hits as f64 * 100.0 / zipf.latencies.len() as f64,
        zipf.hits,
        zipf.latencies.len()
    );

    if let Ok(baseline) = std::env::var("CATALOG_BASELINE_BINARY") {
        baseline_comparison(&baseline, &database_url, &front, seconds, &service).await;
    } else {
        println!();
        println!(
            "(set CATALOG_BASELINE_BINARY to a build without page tags to measure their cost)"
        );
    }

    drop(cached_nginx);
    drop(plain_nginx);
    drop(service);
    admin_sql(None, &[format!("DROP DATABASE `{database}`")]).await;
}

/// The id of the first product inserted (ids are consecutive).
async fn owner_first_product(database_url: &str) -> i64 {
    use mysql_async::prelude::Queryable;
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(database_url).unwrap())
        .await
        .unwrap();
    let first: i64 = conn
        .query_first("SELECT MIN(id) FROM products")
        .await
        .unwrap()
        .unwrap();
    conn.disconnect().await.ok();
    first
}

/// The front page straight from this build and from `baseline`, in three
/// turns each, on the same database.
async fn baseline_comparison(
    baseline: &str,
    database_url: &str,
    front: &str,
    seconds: f64,
    service: &Service,
) {
    let before =
        Service::start_from(baseline, database_url, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    println!();
    println!("front page straight from each build, {CONNECTIONS} conns, in turns:");
    let (mut now, mut then) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        for (build, runs) in [(service, &mut now), (&before, &mut then)] {
            let processes = Processes {
                service: Some(build.child.id()),
                load: std::process::id(),
                database: local_database_pid(),
                proxy: None,
                replica: None,
            };
            let sample = http_load(build.addr, front, None, CONNECTIONS, seconds, processes).await;
            runs.push(sample.per_second());
        }
        println!(
            "  this build {:>8.0} req/s   baseline {:>8.0} req/s",
            now.last().unwrap(),
            then.last().unwrap()
        );
    }
    let mean = |runs: &[f64]| runs.iter().sum::<f64>() / runs.len() as f64;
    let cost = (1.0 - mean(&now) / mean(&then)) * 100.0;
    println!(
        "  mean {:.0} vs {:.0} req/s: tags and cache headers cost {cost:.1}% (goal <= 5%) {}",
        mean(&now),
        mean(&then),
        if cost <= 5.0 { "PASS" } else { "MISS" }
    );
}
