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
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/service.rs"]
mod service;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use catalog::db::listing::{ListQuery, ReadLimit, plain_statement};
use catalog::db::products::{SortColumn, SortValue};
use catalog::domain::catalog::{Filters, PageRequest, Scope, Sort};
use catalog::domain::cursor::{Cursors, Position};
use cpu::{cpu_seconds, local_database_pid};
use diesel::mysql::{Mysql, MysqlQueryBuilder};
use diesel::query_builder::{QueryBuilder, QueryFragment};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
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

/// Latencies of the requests that finished inside the measured window,
/// and the CPU each process spent in it.
struct Sample {
    latencies: Vec<Duration>,
    seconds: f64,
    cpu: CpuUse,
}

impl Sample {
    fn new(per_worker: Vec<Vec<Duration>>, seconds: f64, cpu: CpuUse) -> Self {
        let mut latencies: Vec<Duration> = per_worker.into_iter().flatten().collect();
        latencies.sort();
        Self {
            latencies,
            seconds,
            cpu,
        }
    }

    /// CPU microseconds per request of one process, when known.
    fn cpu_us(&self, seconds: Option<f64>) -> String {
        match seconds {
            Some(s) if !self.latencies.is_empty() => {
                format!("{:.0}", s * 1e6 / self.latencies.len() as f64)
            }
            _ => "n/a".to_owned(),
        }
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    fn ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index].as_secs_f64() * 1000.0
    }
}

/// The processes whose CPU time a run accounts for: the service (absent
/// for driver runs), this load generator, and the database server when
/// it runs on this machine.
#[derive(Clone, Copy)]
struct Processes {
    service: Option<u32>,
    load: u32,
    database: Option<u32>,
}

/// CPU seconds each process spent inside a measured window.
#[derive(Default, Clone, Copy)]
struct CpuUse {
    service: Option<f64>,
    load: Option<f64>,
    database: Option<f64>,
}

impl Processes {
    fn snapshot(&self) -> CpuUse {
        CpuUse {
            service: self.service.and_then(cpu_seconds),
            load: cpu_seconds(self.load),
            database: self.database.and_then(cpu_seconds),
        }
    }

    /// The CPU each process spends inside `window`.
    async fn during(self, window: Window) -> CpuUse {
        tokio::time::sleep_until(window.measure_from.into()).await;
        let before = self.snapshot();
        tokio::time::sleep_until(window.stop_at.into()).await;
        let after = self.snapshot();
        let diff = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        CpuUse {
            service: diff(after.service, before.service),
            load: diff(after.load, before.load),
            database: diff(after.database, before.database),
        }
    }
}

/// When a run warms up, when it measures from and when it stops.
#[derive(Clone, Copy)]
struct Window {
    measure_from: Instant,
    stop_at: Instant,
}

impl Window {
    fn starting_now(seconds: f64) -> Self {
        let measure_from = Instant::now() + Duration::from_secs(1);
        Self {
            measure_from,
            stop_at: measure_from + Duration::from_secs_f64(seconds),
        }
    }

    fn is_open(&self) -> bool {
        Instant::now() < self.stop_at
    }

    /// Keeps the latency of a call that started after the warm-up and
    /// finished inside the window.
    fn record(&self, started: Instant, latencies: &mut Vec<Duration>) {
        let finished = Instant::now();
        if started >= self.measure_from && finished <= self.stop_at {
            latencies.push(finished - started);
        }
    }
}

/// `connections` keep-alive HTTP/1.1 connections, each sending `GET path`
/// back to back and reading the whole answer.
async fn http_load(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    connections: usize,
    seconds: f64,
    processes: Processes,
) -> Sample {
    let window = Window::starting_now(seconds);
    let cpu = tokio::spawn(processes.during(window));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let path = path.to_owned();
        let authorization = token.map(|t| format!("Bearer {t}"));
        workers.spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let mut latencies = Vec::new();
            while window.is_open() {
                let started = Instant::now();
                let mut request = hyper::Request::get(path.as_str()).header("host", "bench");
                if let Some(value) = &authorization {
                    request = request.header("authorization", value);
                }
                sender.ready().await.unwrap();
                let response = sender
                    .send_request(request.body(Empty::<Bytes>::new()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert!(body.len() > 100, "a page of products");
                window.record(started, &mut latencies);
            }
            latencies
        });
    }
    let latencies = workers.join_all().await;
    Sample::new(latencies, seconds, cpu.await.unwrap())
}

/// The raw driver bound: `connections` connections, each executing the
/// prepared statement back to back and reading every row.
async fn driver_load(
    url: &str,
    statement: &str,
    params: &[mysql_async::Value],
    connections: usize,
    seconds: f64,
    processes: Processes,
) -> Sample {
    let window = Window::starting_now(seconds);
    let cpu = tokio::spawn(processes.during(window));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let opts = mysql_async::Opts::from_url(url).unwrap();
        let statement = statement.to_owned();
        let params = params.to_vec();
        workers.spawn(async move {
            let mut conn = mysql_async::Conn::new(opts).await.unwrap();
            let prepared = conn.prep(statement).await.unwrap();
            let mut latencies = Vec::new();
            while window.is_open() {
                let started = Instant::now();
                let rows: Vec<mysql_async::Row> =
                    conn.exec(&prepared, params.clone()).await.unwrap();
                assert!(!rows.is_empty());
                window.record(started, &mut latencies);
            }
            conn.disconnect().await.ok();
            latencies
        });
    }
    let latencies = workers.join_all().await;
    Sample::new(latencies, seconds, cpu.await.unwrap())
}

/// Products are created a second apart from this moment on (see
/// [`insert_products`]).
const EPOCH: &str = "2026-01-01 00:00:00";

/// Where a page ends: its last product's creation time and id.
type Before = (chrono::NaiveDateTime, i64);

/// The default page statement (newest first) exactly as the service
/// issues it, with `?` for binds, and the binds in order.
fn page_statement(owner: Option<i64>, before: Option<Before>) -> (String, Vec<mysql_async::Value>) {
    let query = ListQuery {
        owner,
        terms: Vec::new(),
        min_cents: None,
        max_cents: None,
        column: SortColumn::CreatedAt,
        descending: true,
        after: before.map(|(at, id)| (SortValue::Time(at), id)),
        limit: PAGE + 1,
    };
    // The service's time limit, as it words it for MariaDB.
    let limit = ReadLimit {
        mariadb: true,
        max: Duration::from_secs(1),
    };
    let statement = plain_statement(limit, &query);
    let mut builder = MysqlQueryBuilder::new();
    QueryFragment::<Mysql>::to_sql(&statement, &mut builder, &Mysql).unwrap();
    let mut binds: Vec<mysql_async::Value> = owner.into_iter().map(Into::into).collect();
    if let Some((at, id)) = before {
        let at = at.format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        binds.extend([at.clone().into(), at.into(), id.into()]);
    }
    binds.push((PAGE + 1).into());
    (builder.finish(), binds)
}

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
    let (statement, binds) = page_statement(scenario.owner, scenario.before);
    let with_service = Processes {
        service: Some(service.child.id()),
        load: std::process::id(),
        database: local_database_pid(),
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
