//! Read replicas, measured: the release binary on a replicating MariaDB
//! primary and replica (scripts/replica-pair.sh, two `mariadbd`
//! processes on this machine), 1,000 products.
//!
//! It prints:
//! - the front page (`GET /api/products?limit=20`) at 64 connections with
//!   the primary alone, and with the primary plus the replica, each with
//!   the CPU per request of the service, the primary and the replica;
//! - what a consistency token adds to a read when the replica has caught
//!   up: the same product read with and without one, 8 connections
//!   (goal: p99 at most 1 ms more);
//! - write-then-read pairs with tokens while the replica lags up to
//!   100 ms (its applier stopped for 100 ms, then let catch up, over and
//!   over): how many reads the replica served, and how many fell back to
//!   the primary and why, at the default causal wait (200 ms) and at
//!   50 ms, with a waiting slot for every writer and with the default
//!   pool's five;
//! - from the measured CPU per page of a database server, the read
//!   capacity of one primary and N replicas on paper.
//!
//! Every answer must be a 200. It asserts nothing else: the figures are
//! the result. Run with `scripts/bench.sh replicas`; `BENCH_SECONDS` sets
//! each run's length (default 5, after 1 s of warm-up).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/cpu.rs"]
mod cpu;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/service.rs"]
mod service;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use load::{Processes, Sample, http_load, http_load_with};
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};
use server::admin_sql_at;
use service::Service;

const CONNECTIONS: usize = 64;
const PRODUCTS: i64 = 1_000;
const DATABASE: &str = "catalog_bench";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

/// The pair scripts/replica-pair.sh starts, stopped when dropped.
struct Pair {
    dir: PathBuf,
    primary: String,
    replica: String,
    primary_pid: u32,
    replica_pid: u32,
}

impl Pair {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "catalog-replica-bench-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/replica-pair.sh");
        let output = std::process::Command::new(&script)
            .arg("start")
            .arg(&dir)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let value = |key: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .unwrap()
                .to_owned()
        };
        let pid = |name: &str| {
            std::fs::read_to_string(dir.join(name).join("server.pid"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        Self {
            primary: value("PRIMARY_URL="),
            replica: value("REPLICA_URL="),
            primary_pid: pid("primary"),
            replica_pid: pid("replica"),
            dir,
        }
    }

    async fn on_replica(&self, statement: &str) {
        admin_sql_at(&self.replica, &[statement.to_owned()]).await;
    }

    /// Waits until the replica has applied all the primary has.
    async fn caught_up(&self) {
        let mut primary = conn(&self.primary).await;
        let position: String = primary
            .query_first("SELECT @@gtid_binlog_pos")
            .await
            .unwrap()
            .unwrap();
        let mut replica = conn(&self.replica).await;
        let applied: Option<i64> = replica
            .query_first(format!("SELECT MASTER_GTID_WAIT('{position}', 30)"))
            .await
            .unwrap();
        assert_eq!(applied, Some(0), "the replica caught up");
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/replica-pair.sh");
        let _ = std::process::Command::new(script)
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

async fn conn(url: &str) -> mysql_async::Conn {
    mysql_async::Conn::new(mysql_async::Opts::from_url(url).unwrap())
        .await
        .unwrap()
}

/// The value of one series in `/metrics` text (0 when absent).
async fn metric(service: &Service, series: &str) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", service.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn print_row(name: &str, sample: &Sample) {
    println!(
        "{name:<30} | {:>8.0} {:>7.2} {:>7.2} | {:>7} {:>7} {:>7} {:>7}",
        sample.per_second(),
        sample.ms(0.5),
        sample.ms(0.99),
        sample.cpu_us(sample.cpu.service),
        sample.cpu_us(sample.cpu.database),
        sample.cpu_us(sample.cpu.replica),
        sample.cpu_us(sample.cpu.load),
    );
}

/// A signed-in owner's access token.
async fn owner_token(base: &str) -> String {
    let client = reqwest::Client::new();
    let account = json!({"username": "shopkeeper", "email": "shopkeeper@example.com",
                         "password": "benchmark password"});
    let _ = client
        .post(format!("{base}/api/auth/signup"))
        .json(&account)
        .send()
        .await
        .unwrap();
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "shopkeeper", "password": "benchmark password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

async fn run() {
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let pair = Pair::start();
    admin_sql_at(
        &pair.primary,
        &[format!(
            "CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )],
    )
    .await;
    let primary_url = format!("{}/{DATABASE}", pair.primary);
    let replica_url = format!("{}/{DATABASE}", pair.replica);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // The catalog, made through the primary alone and replicated.
    let alone = Service::start(&primary_url).await;
    let base = format!("http://{}", alone.addr);
    owner_token(&base).await;
    admin_sql_at(
        &primary_url,
        &[
            format!(
                "INSERT INTO products (owner_id, name, description, price_cents, created_at, updated_at) \
                 WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {PRODUCTS}) \
                 SELECT (SELECT MIN(id) FROM users), CONCAT('Product ', i), \
                 CONCAT('A sturdy product, number ', i), i * 37 % 100000, \
                 UTC_TIMESTAMP(6) - INTERVAL i SECOND, UTC_TIMESTAMP(6) FROM n"
            ),
            "ANALYZE TABLE users, products".to_owned(),
        ],
    )
    .await;
    pair.caught_up().await;
    pair.on_replica(&format!(
        "ANALYZE TABLE {DATABASE}.users, {DATABASE}.products"
    ))
    .await;
    println!(
        "read-replica benchmark: {cores} cores shared by the service, the primary, the replica \
         and the load; {PRODUCTS} products; {CONNECTIONS} connections; {seconds} s per run \
         after 1 s of warm-up"
    );

    let front = "/api/products?limit=20";
    let processes = |service: &Service| Processes {
        service: Some(service.child.id()),
        load: std::process::id(),
        database: Some(pair.primary_pid),
        proxy: None,
        replica: Some(pair.replica_pid),
    };
    let primary_only = http_load(
        alone.addr,
        front,
        None,
        CONNECTIONS,
        seconds,
        processes(&alone),
    )
    .await;
    drop(alone);
    let with_replica = Service::start_with(
        &primary_url,
        &[("DATABASE_REPLICA_URLS", replica_url.as_str())],
    )
    .await;
    let split = http_load(
        with_replica.addr,
        front,
        None,
        CONNECTIONS,
        seconds,
        processes(&with_replica),
    )
    .await;
    let replica_reads = metric(&with_replica, "catalog_db_reads_total{target=\"replica\"}").await;
    println!();
    println!(
        "{:<30} | {:>8} {:>7} {:>7} | {:>29}",
        "front page (limit=20)", "req/s", "p50 ms", "p99 ms", "CPU us per request"
    );
    println!(
        "{:<30} | {:>8} {:>7} {:>7} | {:>7} {:>7} {:>7} {:>7}",
        "", "", "", "", "service", "primary", "replica", "load"
    );
    print_row("primary alone", &primary_only);
    print_row("primary + replica", &split);
    println!("  reads served by the replica in the second run: {replica_reads:.0}");

    // What a token costs when the replica has it already. (Each service
    // signs with a secret of its own: a fresh login for each.)
    let base = format!("http://{}", with_replica.addr);
    let token = owner_token(&base).await;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/api/products"))
        .bearer_auth(&token)
        .json(&json!({"name": "Token lamp", "price": 5.0}))
        .send()
        .await
        .unwrap();
    let consistency = created
        .headers()
        .get("catalog-consistency")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    pair.caught_up().await;
    let path = Arc::new(vec![format!("/api/products/{id}")]);
    let plain = http_load_with(
        with_replica.addr,
        path.clone(),
        Vec::new(),
        8,
        seconds,
        processes(&with_replica),
    )
    .await;
    let tokened = http_load_with(
        with_replica.addr,
        path,
        vec![("catalog-consistency".to_owned(), consistency)],
        8,
        seconds,
        processes(&with_replica),
    )
    .await;
    println!();
    println!(
        "{:<30} | {:>8} {:>7} {:>7} | {:>29}",
        "one product, replica caught up", "req/s", "p50 ms", "p99 ms", "CPU us per request"
    );
    print_row("without a token", &plain);
    print_row("with a consistency token", &tokened);
    let added = tokened.ms(0.99) - plain.ms(0.99);
    println!(
        "  a token adds {:.3} ms at p50 and {added:.3} ms at p99 (goal: p99 <= 1 ms more): {}",
        tokened.ms(0.5) - plain.ms(0.5),
        if added <= 1.0 { "PASS" } else { "MISS" }
    );
    drop(with_replica);

    // Write-then-read pairs while the replica lags up to 100 ms.
    println!();
    println!(
        "write-then-read pairs with tokens, 8 writers, the replica's applier stopped 100 ms, \
         then caught up, over and over:"
    );
    // A pool of 16 gives the 8 writers a waiting slot each (half the
    // pool); the default 10 gives 5, and the others go to the primary.
    for (wait, pool) in [("200", "16"), ("50", "16"), ("200", "10")] {
        let service = Service::start_with(
            &primary_url,
            &[
                ("DATABASE_REPLICA_URLS", replica_url.as_str()),
                ("DATABASE_CAUSAL_WAIT_MS", wait),
                ("DATABASE_REPLICA_POOL_SIZE", pool),
                ("DATABASE_REPLICA_MAX_LAG_SECS", "60"),
            ],
        )
        .await;
        let token = owner_token(&format!("http://{}", service.addr)).await;
        lagging_pairs(&pair, &service, &token, seconds, (wait, pool)).await;
    }

    // On paper: a database server's CPU per page read, from the runs.
    let per_read = |sample: &Sample, cpu: Option<f64>| -> Option<f64> {
        Some(cpu? / sample.latencies.len() as f64)
    };
    if let (Some(primary), Some(replica)) = (
        per_read(&primary_only, primary_only.cpu.database),
        per_read(&split, split.cpu.replica),
    ) {
        println!();
        println!(
            "on paper: a page costs the primary {:.0} us of CPU alone, a replica {:.0} us; one \
             server of {cores} cores then reads at most {:.0} pages/s.",
            primary * 1e6,
            replica * 1e6,
            cores as f64 / replica
        );
        for replicas in [1, 2, 4, 8] {
            println!(
                "  1 primary + {replicas} replica(s) of {cores} cores: about {:.0} public pages/s \
                 on the replicas, the primary left to writes, logins and owners' lists \
                 (the app tier scaled to match)",
                replicas as f64 * cores as f64 / replica
            );
        }
    }
}

/// Eight writers each create a product and read it back with its token,
/// for `seconds`, while the replica's applier stops for 100 ms and then
/// catches up, over and over: a lag of up to 100 ms.
async fn lagging_pairs(
    pair: &Pair,
    service: &Service,
    token: &str,
    seconds: f64,
    (wait, pool): (&str, &str),
) {
    let base = format!("http://{}", service.addr);
    let client = reqwest::Client::new();
    let done = Arc::new(AtomicBool::new(false));
    let lag = {
        let (done, replica) = (done.clone(), pair.replica.clone());
        let primary = pair.primary.clone();
        tokio::spawn(async move {
            let mut conn = conn(&replica).await;
            let mut primary = self::conn(&primary).await;
            while !done.load(Ordering::Relaxed) {
                conn.query_drop("STOP SLAVE SQL_THREAD").await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
                let position: String = primary
                    .query_first("SELECT @@gtid_binlog_pos")
                    .await
                    .unwrap()
                    .unwrap();
                conn.query_drop("START SLAVE SQL_THREAD").await.unwrap();
                let _: Option<i64> = conn
                    .query_first(format!("SELECT MASTER_GTID_WAIT('{position}', 5)"))
                    .await
                    .unwrap();
            }
        })
    };
    let (pairs, stale) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let (client, base, token) = (client.clone(), base.clone(), token.to_owned());
            let (pairs, stale) = (pairs.clone(), stale.clone());
            tokio::spawn(async move {
                let mut round = 0;
                while Instant::now() < until {
                    round += 1;
                    let created = client
                        .post(format!("{base}/api/products"))
                        .bearer_auth(&token)
                        .json(&json!({"name": format!("Lag {writer}-{round}"), "price": 1.0}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(created.status(), 201);
                    let consistency = created.headers()["catalog-consistency"].clone();
                    let id = created.json::<Value>().await.unwrap()["id"].clone();
                    let read = client
                        .get(format!("{base}/api/products/{id}"))
                        .header("catalog-consistency", consistency)
                        .send()
                        .await
                        .unwrap();
                    if read.status() != 200 {
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                    pairs.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    lag.await.unwrap();
    pair.on_replica("START SLAVE SQL_THREAD").await;
    let series = |name: &'static str| metric(service, name);
    let replica = series("catalog_db_reads_total{target=\"replica\"}").await;
    let primary = series("catalog_db_reads_total{target=\"primary\"}").await;
    let timed_out = series("catalog_db_read_fallbacks_total{reason=\"causal_timeout\"}").await;
    let busy = series("catalog_db_read_fallbacks_total{reason=\"replica_busy\"}").await;
    let pairs = pairs.load(Ordering::Relaxed);
    println!(
        "  wait {wait:>3} ms, replica pool {pool:>2}: {pairs} pairs ({:.0}/s), {} stale; the \
         replica served {replica:.0} reads, the primary {primary:.0} ({:.1}%: {timed_out:.0} \
         timed out, {busy:.0} found every waiting slot taken)",
        pairs as f64 / seconds,
        stale.load(Ordering::Relaxed),
        primary * 100.0 / (primary + replica).max(1.0)
    );
}
