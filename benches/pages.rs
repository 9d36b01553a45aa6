//! Pages of the catalog at scale: the release binary against its own
//! database, first at 20 products, then at 1,000,000 from 1,000 owners.
//!
//! For each request at 1, 16 and 64 client connections it prints
//! requests per second, p50 and p99, next to the raw driver bound: the
//! same page statement, built by the same code, run through `mysql_async`
//! alone (no HTTP) over as many connections. The requests:
//! - the first page (`GET /api/products?limit=20`), at 20 and at 1M rows;
//! - a page reached by a cursor 500,000 rows deep;
//! - `/api/products/my` for an owner of 1,000 products (the service also
//!   checks the access token's version, one more primary-key read).
//!
//! Then it compares the figures with the goals, and shows the CPU time
//! each process (service, database, load generator or driver client)
//! spent per request, read from `/proc` where it can be. It asserts
//! nothing: the figures are the result. Run with `scripts/bench.sh pages` (or
//! `cargo bench --bench pages` with `TEST_DATABASE_URL` set); it creates
//! and drops its own database. `BENCH_SECONDS` sets each run's length
//! (default 5, after a 1 s warm-up); `DATABASE_POOL_SIZE` is passed to the
//! service (default: the service's own).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/cpu.rs"]
mod cpu;
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/service.rs"]
mod service;

use std::time::{Duration, Instant};

use catalog::domain::catalog::{Filters, PageRequest, Scope, Sort};
use catalog::domain::cursor::{Cursors, Position};
use cpu::local_database_pid;
use load::{Before, Processes, Sample, driver_load, http_load, page_statement};
use mysql_async::prelude::Queryable;
use secrecy::SecretString;
use serde_json::{Value, json};
use server::{admin_sql, create_database, insert_owners, server_url};
use service::Service;

const OWNERS: i64 = 1_000;
const SMALL: i64 = 20;
const LARGE: i64 = 1_000_000;
const PAGE: i64 = 20;
const CONNECTIONS: [usize; 3] = [1, 16, 64];

/// Products are created a second apart from this moment on (see
/// [`insert_products`]).
const EPOCH: &str = "2026-01-01 00:00:00";

/// The cursor the service hands out after the product created at `at`
/// with `id`, newest first.
fn cursor_before(secret: &str, (at, id): Before) -> String {
    let request = PageRequest {
        scope: Scope::All,
        filters: Filters::default(),
        sort: Sort::NewestFirst,
        limit: PAGE as u32,
        cursor: None,
    };
    let position = Position::Time(at.and_utc().timestamp_micros(), id);
    Cursors::new(&SecretString::from(secret.to_owned()), &[]).encode(&position, &request.binding())
}

/// One request measured through the service and through the driver.
struct Row {
    name: String,
    connections: usize,
    service: Sample,
    driver: Sample,
}

struct Scenario<'a> {
    name: &'a str,
    path: String,
    token: Option<&'a str>,
    owner: Option<i64>,
    before: Option<Before>,
}

async fn measure(
    service: &Service,
    database_url: &str,
    scenario: &Scenario<'_>,
    seconds: f64,
    rows: &mut Vec<Row>,
) {
    let (statement, binds) = page_statement(scenario.owner, scenario.before, PAGE);
    let with_service = Processes {
        service: Some(service.child.id()),
        load: std::process::id(),
        database: local_database_pid(),
        proxy: None,
        replica: None,
    };
    let without_service = Processes {
        service: None,
        ..with_service
    };
    for connections in CONNECTIONS {
        let http = http_load(
            service.addr,
            &scenario.path,
            scenario.token,
            connections,
            seconds,
            with_service,
        )
        .await;
        let driver = driver_load(
            database_url,
            &statement,
            &binds,
            connections,
            seconds,
            without_service,
        )
        .await;
        let row = Row {
            name: scenario.name.to_owned(),
            connections,
            service: http,
            driver,
        };
        print_row(&row);
        rows.push(row);
    }
}

fn print_header() {
    println!(
        "{:<28} {:>5} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>7}",
        "request", "conns", "req/s", "p50 ms", "p99 ms", "drv q/s", "drv p50", "drv p99", "service"
    );
}

fn print_row(row: &Row) {
    println!(
        "{:<28} {:>5} | {:>8.0} {:>8.2} {:>8.2} | {:>8.0} {:>8.2} {:>8.2} | {:>6.0}%",
        row.name,
        row.connections,
        row.service.per_second(),
        row.service.ms(0.5),
        row.service.ms(0.99),
        row.driver.per_second(),
        row.driver.ms(0.5),
        row.driver.ms(0.99),
        row.service.per_second() / row.driver.per_second() * 100.0
    );
}

/// Products `from..=to`: product `k` belongs to owner `first_owner + k %
/// 1000`, so every owner's products are spread over the whole id range,
/// and was created at `EPOCH + k` seconds.
/// Portable SQL: MySQL's recursive CTEs stop at 1,000 levels.
fn insert_products(first_owner: i64, from: i64, to: i64) -> String {
    format!(
        "INSERT INTO products (owner_id, name, description, price_cents, created_at, updated_at) \
         WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999) \
         SELECT {first_owner} + (k % {OWNERS}), CONCAT('Product ', k), \
         IF(k % 3 = 0, NULL, CONCAT('A sturdy, well-made product, number ', k)), (k * 37) % 100000, \
         TIMESTAMP('{EPOCH}') + INTERVAL k SECOND, UTC_TIMESTAMP(6) \
         FROM (SELECT a.i * 1000 + b.i + 1 AS k FROM n a CROSS JOIN n b) numbers \
         WHERE k BETWEEN {from} AND {to} ORDER BY k"
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn find<'a>(rows: &'a [Row], name: &str, connections: usize) -> &'a Row {
    rows.iter()
        .find(|r| r.name == name && r.connections == connections)
        .unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let database = create_database("catalog_bench").await;
    let database_url = format!("{}/{database}", server_url());
    let service = Service::start(&database_url).await;
    let base = format!("http://{}", service.addr);

    // The owner whose /my is measured signs up for real; the other 999
    // owners are rows.
    let signup: Value = reqwest::Client::new()
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"username": "owner0", "email": "owner0@example.com",
                      "password": "benchmark password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["access_token"].as_str().unwrap().to_owned();
    let first_owner = signup["id"].as_i64().unwrap();
    admin_sql(
        Some(&database),
        &[
            insert_owners(OWNERS - 1),
            insert_products(first_owner, 1, SMALL),
            "ANALYZE TABLE users, products".to_owned(),
        ],
    )
    .await;

    let version: String = {
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&server_url()).unwrap())
            .await
            .unwrap();
        let version = conn.query_first("SELECT VERSION()").await.unwrap().unwrap();
        conn.disconnect().await.ok();
        version
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "catalog page benchmark: {cores} cores, server {version}, {seconds} s per run after 1 s warm-up, \
         service pool {}",
        std::env::var("DATABASE_POOL_SIZE").unwrap_or_else(|_| "default".into())
    );
    print_header();

    let mut rows = Vec::new();
    let first_page = |name| Scenario {
        name,
        path: format!("/api/products?limit={PAGE}"),
        token: None,
        owner: None,
        before: None,
    };
    measure(
        &service,
        &database_url,
        &first_page("first page, 20 rows"),
        seconds,
        &mut rows,
    )
    .await;

    let loading = Instant::now();
    admin_sql(
        Some(&database),
        &[
            insert_products(first_owner, SMALL + 1, LARGE),
            "ANALYZE TABLE users, products".to_owned(),
        ],
    )
    .await;
    println!(
        "(loaded {} more products in {:.1} s)",
        LARGE - SMALL,
        loading.elapsed().as_secs_f64()
    );

    // The product 500,000 rows into the newest-first order.
    let deep: Before = {
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&database_url).unwrap())
            .await
            .unwrap();
        let row: (String, i64) = conn
            .query_first(format!(
                "SELECT DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s.%f'), id FROM products \
                 ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET {}",
                LARGE / 2
            ))
            .await
            .unwrap()
            .unwrap();
        conn.disconnect().await.ok();
        let at = chrono::NaiveDateTime::parse_from_str(&row.0, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        (at, row.1)
    };
    let scenarios = [
        first_page("first page, 1M rows"),
        Scenario {
            name: "cursor 500k deep, 1M rows",
            path: format!(
                "/api/products?limit={PAGE}&cursor={}",
                cursor_before(&service.secret, deep)
            ),
            token: None,
            owner: None,
            before: Some(deep),
        },
        Scenario {
            name: "/my (1,000 of 1M rows)",
            path: format!("/api/products/my?limit={PAGE}"),
            token: Some(&token),
            owner: Some(first_owner),
            before: None,
        },
    ];
    for scenario in &scenarios {
        measure(&service, &database_url, scenario, seconds, &mut rows).await;
    }

    println!();
    println!("goals:");
    let small = find(&rows, "first page, 20 rows", 1);
    let large = find(&rows, "first page, 1M rows", 1);
    let deep = find(&rows, "cursor 500k deep, 1M rows", 1);
    let ratio = large.service.ms(0.99) / small.service.ms(0.99);
    println!(
        "  first page p99 at 1M / at 20 rows (1 conn): {ratio:.2}x (goal <= 1.5x) {}",
        verdict(ratio <= 1.5)
    );
    let ratio = deep.service.ms(0.99) / large.service.ms(0.99);
    println!(
        "  deep page p99 / first page p99 (1 conn):     {ratio:.2}x (goal <= 1.5x) {}",
        verdict(ratio <= 1.5)
    );
    for row in rows.iter().filter(|r| r.connections == 1) {
        let p99 = row.service.ms(0.99);
        println!(
            "  p99 at 1 conn, {:<28} {p99:.2} ms (goal < 5 ms) {}",
            format!("{}:", row.name),
            verdict(p99 < 5.0)
        );
    }
    for row in rows.iter().filter(|r| r.connections > 1) {
        let share = row.service.per_second() / row.driver.per_second() * 100.0;
        println!(
            "  service / driver at {:>2} conns, {:<28} {share:.0}% (goal >= 85%) {}",
            row.connections,
            format!("{}:", row.name),
            verdict(share >= 85.0)
        );
    }
    println!(
        "  first page req/s at 1/16/64 conns: 20 rows {:.0}/{:.0}/{:.0}, 1M rows {:.0}/{:.0}/{:.0}",
        small.service.per_second(),
        find(&rows, "first page, 20 rows", 16).service.per_second(),
        find(&rows, "first page, 20 rows", 64).service.per_second(),
        large.service.per_second(),
        find(&rows, "first page, 1M rows", 16).service.per_second(),
        find(&rows, "first page, 1M rows", 64).service.per_second(),
    );

    // What scraping costs: the first page at 16 connections without and
    // with a GET /metrics every second (Prometheus's load at a 1 s
    // interval), taking turns three times.
    println!();
    println!("scrape overhead: first page, 1M rows, 16 conns, {seconds} s per run, in turns:");
    let path = format!("/api/products?limit={PAGE}");
    let processes = Processes {
        service: Some(service.child.id()),
        load: std::process::id(),
        database: local_database_pid(),
        proxy: None,
        replica: None,
    };
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let plain = http_load(service.addr, &path, None, 16, seconds, processes).await;
        without.push(plain.per_second());
        let scraper = tokio::spawn({
            let url = format!("http://{}/metrics", service.metrics);
            async move {
                let client = reqwest::Client::new();
                let mut ticks = tokio::time::interval(Duration::from_secs(1));
                loop {
                    ticks.tick().await;
                    let response = client.get(&url).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    response.bytes().await.unwrap();
                }
            }
        });
        let scraped = http_load(service.addr, &path, None, 16, seconds, processes).await;
        scraper.abort();
        with.push(scraped.per_second());
        println!(
            "  without scrape {:>8.0} req/s   with a 1 s scrape {:>8.0} req/s",
            plain.per_second(),
            scraped.per_second()
        );
    }
    let mean = |runs: &[f64]| runs.iter().sum::<f64>() / runs.len() as f64;
    println!(
        "  mean: {:.0} vs {:.0} req/s: scraping costs {:.1}%",
        mean(&without),
        mean(&with),
        (1.0 - mean(&with) / mean(&without)) * 100.0
    );

    println!();
    println!("CPU per request, microseconds (all processes share the {cores} cores):");
    println!(
        "{:<28} {:>5} | {:>8} {:>8} {:>8} | {:>8} {:>8}",
        "request", "conns", "service", "database", "client", "database", "driver"
    );
    for row in &rows {
        let (s, d) = (&row.service, &row.driver);
        println!(
            "{:<28} {:>5} | {:>8} {:>8} {:>8} | {:>8} {:>8}",
            row.name,
            row.connections,
            s.cpu_us(s.cpu.service),
            s.cpu_us(s.cpu.database),
            s.cpu_us(s.cpu.load),
            d.cpu_us(d.cpu.database),
            d.cpu_us(d.cpu.load),
        );
    }

    drop(service);
    admin_sql(None, &[format!("DROP DATABASE `{database}`")]).await;
}
