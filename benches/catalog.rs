//! Bounded work for every list request at a million rows: the release
//! binary against its own database holding 1,000,000 products from 1,000
//! owners, named like "Sturdy widget kaloze" (an adjective of eight, a
//! word every product has, and a model word 1,000 products share); one
//! product in a hundred also says 无线耳机 in its description.
//!
//! For each shape a visitor may choose, in every sort, from the start and
//! from a cursor 50,000 rows deep, it measures over one keep-alive
//! connection p50 and p99, and on a connection of its own the index
//! entries the page examines (`Handler_read_*`) and whether the page
//! came back short with a cursor:
//! - a word every product has (`q=widget`);
//! - two common words that never appear together (`q=sturdy classic`);
//! - a rare word (a model word);
//! - a CJK bigram (`q=耳机`);
//! - a price range nobody has, and a one-cent range.
//!
//! Then 64 connections send those shapes while one client reads the front
//! page and another logs in: the front page's p50/p99 and any non-2xx on
//! it, the logins' p99 against their p99 alone, and what the flood got.
//! Last, create and edit p99 (on this catalog, with the index writes).
//! It asserts nothing: the figures are the result. Run with
//! `scripts/bench.sh catalog`; it creates and drops its own database.
//! `BENCH_REQUESTS` sets the requests per shape (default 200, after 20 of
//! warm-up); `BENCH_FLOOD_SECONDS` the flood's length (default 10).
//! `BENCH_WRITES_ONLY=1` measures only create and edit, on an empty
//! catalog, to compare with another build (`CATALOG_BINARY`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/examined.rs"]
mod examined;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/service.rs"]
mod service;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use catalog::db::listing::{self, ListQuery, ReadLimit};
use catalog::db::products::{SortColumn, SortValue};
use catalog::domain::catalog::{Filters, PageRequest, Scope, Sort};
use catalog::domain::cursor::{Cursors, Position};
use catalog::domain::price::Price;
use catalog::domain::search::{SearchTerms, product_words};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use secrecy::SecretString;
use serde_json::{Value, json};
use server::{admin_sql, create_database, insert_owners, server_url};
use service::Service;

const OWNERS: i64 = 1_000;
const PRODUCTS: i64 = 1_000_000;
const PAGE: u32 = 20;
const DEPTH: i64 = 50_000;
const ADJECTIVES: [&str; 8] = [
    "Sturdy", "Classic", "Tiny", "Grand", "Rustic", "Modern", "Golden", "Quiet",
];
/// Ten syllables; three of them make one of 1,000 model words, each of
/// which names 1,000 products.
const SYLLABLES: [&str; 10] = ["ka", "lo", "mi", "nu", "pe", "ri", "so", "tu", "va", "ze"];

/// The model word of product `k` (as the loading SQL makes it).
fn model(k: i64) -> String {
    let at = |n: i64| SYLLABLES[(n % 10) as usize];
    format!("{}{}{}", at(k), at(k / 10), at(k / 100))
}

fn elt(expression: &str, words: &[&str]) -> String {
    format!(
        "ELT(1 + {expression}, {})",
        words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn model_sql(k: &str) -> String {
    format!(
        "CONCAT({}, {}, {})",
        elt(&format!("{k} % 10"), &SYLLABLES),
        elt(&format!("({k} DIV 10) % 10"), &SYLLABLES),
        elt(&format!("({k} DIV 100) % 10"), &SYLLABLES)
    )
}

/// SQL for products `from..=to`, whose ids will be `k`: product `k`
/// belongs to owner `first_owner + k % 1000`, is created a second after
/// product `k - 1`, and has a price that does not follow its id (each
/// cent from 0.01 to 1,000.00 held by ten products). Portable SQL:
/// MySQL's recursive CTEs stop at 1,000 levels, so the numbers come from
/// a cross join.
fn insert_products(first_owner: i64, from: i64, to: i64) -> String {
    format!(
        "INSERT INTO products (id, owner_id, name, description, price_cents, created_at, updated_at) \
         WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999) \
         SELECT k, {first_owner} + (k % {OWNERS}), \
         CONCAT({}, ' widget ', {}), \
         IF(k % 100 = 0, '无线耳机', NULL), \
         1 + (k * 7919) % 100000, \
         TIMESTAMP('2025-01-01') + INTERVAL k SECOND, TIMESTAMP('2025-01-01') + INTERVAL k SECOND \
         FROM (SELECT a.i * 1000 + b.i + 1 AS k FROM n a CROSS JOIN n b) numbers \
         WHERE k BETWEEN {from} AND {to} ORDER BY k",
        elt("k % 8", &ADJECTIVES),
        model_sql("k"),
    )
}

/// The search index rows of products `from..=to`, as the service's
/// tokenizer cuts their names and descriptions (checked on a sample).
fn insert_terms(from: i64, to: i64) -> Vec<String> {
    let rows = |term: &str, condition: &str| {
        format!(
            "INSERT INTO product_terms (product_id, term, owner_id, price_cents, created_at, name) \
             SELECT p.id, {term}, p.owner_id, p.price_cents, p.created_at, p.name FROM products p \
             WHERE p.id BETWEEN {from} AND {to} AND {condition}"
        )
    };
    let lower: Vec<String> = ADJECTIVES.iter().map(|a| a.to_lowercase()).collect();
    let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
    vec![
        rows(&elt("p.id % 8", &lower), "TRUE"),
        rows("'widget'", "TRUE"),
        rows(&model_sql("p.id"), "TRUE"),
        rows("'无线'", "p.id % 100 = 0"),
        rows("'线耳'", "p.id % 100 = 0"),
        rows("'耳机'", "p.id % 100 = 0"),
    ]
}

/// One measured request shape.
struct Shape {
    sort: Sort,
    name: String,
    path: String,
    /// The page the service reads for it.
    query: ListQuery,
}

#[derive(Clone, Copy)]
struct Figures {
    p50: f64,
    p99: f64,
}

fn percentiles(mut latencies: Vec<Duration>) -> Figures {
    latencies.sort();
    let at = |p: f64| {
        let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[index].as_secs_f64() * 1000.0
    };
    Figures {
        p50: at(0.5),
        p99: at(0.99),
    }
}

/// p50 and p99 in milliseconds of `requests` GETs of `url` on one
/// keep-alive connection, after a tenth as many of warm-up.
async fn measure(client: &reqwest::Client, url: &str, requests: usize) -> Figures {
    let get = async || {
        let started = Instant::now();
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        response.bytes().await.unwrap();
        started.elapsed()
    };
    for _ in 0..requests / 10 {
        get().await;
    }
    let mut latencies = Vec::with_capacity(requests);
    for _ in 0..requests {
        latencies.push(get().await);
    }
    percentiles(latencies)
}

/// The index entries the page examines, whether it came back short with
/// a cursor, and its items.
async fn examine(
    conn: &mut AsyncMysqlConnection,
    limit: ReadLimit,
    query: &ListQuery,
) -> (u64, bool, usize) {
    let (page, entries) = examined::examine(conn, limit, query).await;
    let items = page.rows.len().min(PAGE as usize);
    let short = page.resume_after.is_some() && items < PAGE as usize;
    (entries, short, items)
}

/// The sort value and position of the row `DEPTH` rows into `sort`'s
/// order of the whole catalog.
async fn deep_position(conn: &mut AsyncMysqlConnection, sort: Sort) -> (SortValue, Position) {
    use catalog::db::schema::products as p;
    let query = p::table
        .select((p::created_at, p::price_cents, p::name, p::id))
        .into_boxed();
    let query = match sort {
        Sort::OldestFirst => query.order((p::created_at.asc(), p::id.asc())),
        Sort::NewestFirst => query.order((p::created_at.desc(), p::id.desc())),
        Sort::CheapestFirst => query.order((p::price_cents.asc(), p::id.asc())),
        Sort::DearestFirst => query.order((p::price_cents.desc(), p::id.desc())),
        Sort::NameAscending => query.order((p::name.asc(), p::id.asc())),
        Sort::NameDescending => query.order((p::name.desc(), p::id.desc())),
    };
    let (at, cents, name, id): (NaiveDateTime, i64, String, i64) =
        query.offset(DEPTH - 1).first(conn).await.unwrap();
    match sort.column() {
        SortColumn::CreatedAt => (
            SortValue::Time(at),
            Position::Time(at.and_utc().timestamp_micros(), id),
        ),
        SortColumn::Price => (SortValue::Cents(cents), Position::Cents(cents, id)),
        SortColumn::Name => (SortValue::Text(name.clone()), Position::Text(name, id)),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The filters of one shape: words, and a price range in decimal text.
struct Filter {
    name: &'static str,
    q: Option<String>,
    min: Option<&'static str>,
    max: Option<&'static str>,
}

async fn run() {
    let requests = env_number("BENCH_REQUESTS", 200);
    let flood_secs = env_number("BENCH_FLOOD_SECONDS", 10) as u64;
    let database = create_database("catalog_bench").await;
    let database_url = format!("{}/{database}", server_url());
    // The flood's 64 connections and the front page's and logins' come
    // from one address here; in the field they are many clients.
    let service =
        Service::start_with(&database_url, &[("MAX_CONNECTIONS_PER_CLIENT", "256")]).await;
    let base = format!("http://{}", service.addr);
    if std::env::var("BENCH_WRITES_ONLY").is_ok_and(|v| v == "1") {
        sign_up(&base).await;
        writes(&base).await;
        drop(service);
        tokio::time::sleep(Duration::from_millis(100)).await;
        admin_sql(None, &[format!("DROP DATABASE `{database}`")]).await;
        return;
    }

    let loading = Instant::now();
    admin_sql(Some(&database), &[insert_owners(OWNERS)]).await;
    let mut conn = AsyncMysqlConnection::establish(&database_url)
        .await
        .unwrap();
    let first_owner: i64 = catalog::db::schema::users::table
        .select(diesel::dsl::min(catalog::db::schema::users::id))
        .first::<Option<i64>>(&mut conn)
        .await
        .unwrap()
        .unwrap();
    // In slices, so that no one statement holds a huge undo log.
    let slice = PRODUCTS / 10;
    let mut statements: Vec<String> = Vec::new();
    for i in 0..10 {
        let (from, to) = (i * slice + 1, (i + 1) * slice);
        statements.push(insert_products(first_owner, from, to));
        statements.extend(insert_terms(from, to));
    }
    statements.push(
        "INSERT INTO search_terms (term, products) SELECT term, COUNT(*) FROM product_terms GROUP BY term"
            .to_owned(),
    );
    statements.push("ANALYZE TABLE users, products, product_terms, search_terms".to_owned());
    admin_sql(Some(&database), &statements).await;
    let load_secs = loading.elapsed().as_secs_f64();

    // The SQL-made index is the tokenizer's, on a sample.
    use catalog::db::schema::{product_terms as t, products as p};
    let sample: Vec<(i64, String, Option<String>)> = p::table
        .filter(p::id.le(500))
        .select((p::id, p::name, p::description))
        .load(&mut conn)
        .await
        .unwrap();
    for (id, name, description) in sample {
        let mut stored: Vec<String> = t::table
            .filter(t::product_id.eq(id))
            .select(t::term)
            .load(&mut conn)
            .await
            .unwrap();
        let mut words = product_words(&name, description.as_deref());
        stored.sort();
        words.sort();
        assert_eq!(stored, words, "{name}");
    }

    let version: String = diesel::select(diesel::dsl::sql::<Text>("VERSION()"))
        .get_result(&mut conn)
        .await
        .unwrap();
    let limit = ReadLimit {
        mariadb: version.contains("MariaDB"),
        max: Duration::from_secs(30),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "catalog bounded-work benchmark: {cores} cores, server {version}, {PRODUCTS} products \
         from {OWNERS} owners (loaded and indexed in {load_secs:.1} s), {requests} requests per \
         shape on one connection after {} of warm-up; a window is {} entries, a page examines at \
         most {} (plus a product and owner lookup per row)",
        requests / 10,
        listing::WINDOW,
        listing::MAX_ENTRIES
    );

    let cursors = Cursors::new(&SecretString::from(service.secret.clone()), &[]);
    let rare = model(4_242);
    let filters = [
        Filter {
            name: "a word in every product",
            q: Some("widget".into()),
            min: None,
            max: None,
        },
        Filter {
            name: "two common words never together",
            q: Some("sturdy classic".into()),
            min: None,
            max: None,
        },
        Filter {
            name: "a rare word (1,000 products)",
            q: Some(rare.clone()),
            min: None,
            max: None,
        },
        Filter {
            name: "a CJK bigram (10,000 products)",
            q: Some("耳机".into()),
            min: None,
            max: None,
        },
        Filter {
            name: "a price nobody has",
            q: None,
            min: Some("90000"),
            max: None,
        },
        Filter {
            name: "a one-cent range",
            q: None,
            min: Some("500.00"),
            max: Some("500.00"),
        },
    ];
    let mut shapes = Vec::new();
    for sort in Sort::ALL {
        let (value, position) = deep_position(&mut conn, sort).await;
        let id = match &position {
            Position::Time(_, id)
            | Position::Cents(_, id)
            | Position::Text(_, id)
            | Position::Id(id)
            | Position::Step(_, _, id) => *id,
        };
        for filter in &filters {
            let search = filter.q.as_deref().map(|q| SearchTerms::parse(q).unwrap());
            let price = |text: Option<&str>| text.map(|t| Price::parse_decimal(t).unwrap());
            let request = PageRequest {
                scope: Scope::All,
                filters: Filters {
                    search: search.clone(),
                    min_price: price(filter.min),
                    max_price: price(filter.max),
                    owner: None,
                },
                sort,
                limit: PAGE,
                cursor: None,
            };
            let mut path = format!("/api/products?sort={}&limit={PAGE}", sort.name());
            if let Some(q) = &filter.q {
                path.push_str(&format!("&q={}", q.replace(' ', "%20")));
            }
            if let Some(min) = filter.min {
                path.push_str(&format!("&min_price={min}"));
            }
            if let Some(max) = filter.max {
                path.push_str(&format!("&max_price={max}"));
            }
            let query = ListQuery {
                owner: None,
                terms: search.map(|s| s.words().to_vec()).unwrap_or_default(),
                min_cents: price(filter.min).map(Price::cents),
                max_cents: price(filter.max).map(Price::cents),
                column: sort.column(),
                descending: sort.descending(),
                after: None,
                limit: i64::from(PAGE) + 1,
            };
            let cursor = cursors.encode(&position, &request.binding());
            shapes.push(Shape {
                sort,
                name: filter.name.to_owned(),
                path: path.clone(),
                query: query.clone(),
            });
            shapes.push(Shape {
                sort,
                name: format!("{}, 50,000 deep", filter.name),
                path: format!("{path}&cursor={cursor}"),
                query: ListQuery {
                    after: Some((value.clone(), id)),
                    ..query
                },
            });
        }
    }

    println!();
    println!(
        "{:<12} {:<48} {:>8} {:>8} {:>8} {:>6} {:>6}",
        "sort", "shape", "p50 ms", "p99 ms", "entries", "items", "short"
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let mut worst = (0.0_f64, 0.0_f64, 0_u64);
    for shape in &shapes {
        let figures = measure(&client, &format!("{base}{}", shape.path), requests).await;
        let (entries, short, items) = examine(&mut conn, limit, &shape.query).await;
        println!(
            "{:<12} {:<48} {:>8.2} {:>8.2} {:>8} {:>6} {:>6}",
            shape.sort.name(),
            shape.name,
            figures.p50,
            figures.p99,
            entries,
            items,
            if short { "yes" } else { "no" }
        );
        worst = (
            worst.0.max(figures.p50),
            worst.1.max(figures.p99),
            worst.2.max(entries),
        );
    }
    println!();
    println!("goals (one connection):");
    println!(
        "  slowest p50 {:.2} ms (goal <= 20) {}; slowest p99 {:.2} ms (goal <= 50) {}",
        worst.0,
        verdict(worst.0 <= 20.0),
        worst.1,
        verdict(worst.1 <= 50.0)
    );
    println!(
        "  most entries examined {} (bound {} + 2 per row) {}",
        worst.2,
        listing::MAX_ENTRIES,
        verdict(worst.2 <= listing::MAX_ENTRIES as u64 + 2 * u64::from(PAGE) + 2)
    );

    flood(&base, &shapes, flood_secs).await;
    writes(&base).await;

    drop(service);
    drop(conn);
    tokio::time::sleep(Duration::from_millis(100)).await;
    admin_sql(None, &[format!("DROP DATABASE `{database}`")]).await;
}

/// Logs `user` in `count` times in a row; their latencies.
async fn logins(client: &reqwest::Client, base: &str, count: usize) -> Vec<Duration> {
    let mut latencies = Vec::new();
    for _ in 0..count {
        let started = Instant::now();
        let response = client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"username": "bench_shopper", "password": "a long bench password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        latencies.push(started.elapsed());
    }
    latencies
}

async fn sign_up(base: &str) {
    let signup = reqwest::Client::new()
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({
            "username": "bench_shopper",
            "email": "bench_shopper@example.com",
            "password": "a long bench password"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
}

/// 64 connections of every shape while one client reads the front page
/// and another logs in.
async fn flood(base: &str, shapes: &[Shape], seconds: u64) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    sign_up(base).await;
    let front_url = format!("{base}/api/products");
    let mut front_alone = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        assert_eq!(client.get(&front_url).send().await.unwrap().status(), 200);
        front_alone.push(started.elapsed());
    }
    let logins_alone = logins(&client, base, 20).await;

    let running = Arc::new(AtomicBool::new(true));
    let mut flood = tokio::task::JoinSet::new();
    let urls: Arc<Vec<String>> =
        Arc::new(shapes.iter().map(|s| format!("{base}{}", s.path)).collect());
    for n in 0..64 {
        let (running, urls) = (running.clone(), urls.clone());
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        flood.spawn(async move {
            let (mut ok, mut refused, mut other) = (0_u64, 0_u64, 0_u64);
            let mut i = n * 7;
            while AtomicBool::load(&running, Ordering::Relaxed) {
                let url = &urls[i % urls.len()];
                i += 1;
                match client.get(url).send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        match status {
                            200..=299 => ok += 1,
                            503 => refused += 1,
                            _ => other += 1,
                        }
                    }
                    Err(_) => other += 1,
                }
            }
            (ok, refused, other)
        });
    }
    let started = Instant::now();
    let front = {
        let (client, url, running) = (client.clone(), front_url.clone(), running.clone());
        tokio::spawn(async move {
            let (mut latencies, mut failed) = (Vec::new(), 0);
            while AtomicBool::load(&running, Ordering::Relaxed) {
                let begun = Instant::now();
                match client.get(&url).send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        latencies.push(begun.elapsed());
                    }
                    _ => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (latencies, failed)
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let logins_during = logins(&client, base, 20).await;
    tokio::time::sleep(Duration::from_secs(seconds.saturating_sub(1))).await;
    running.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let (front_latencies, front_failed) = front.await.unwrap();
    let (mut ok, mut refused, mut other) = (0, 0, 0);
    for (a, b, c) in flood.join_all().await {
        ok += a;
        refused += b;
        other += c;
    }
    let alone = percentiles(front_alone);
    let during = percentiles(front_latencies.clone());
    let (login_alone, login_during) = (percentiles(logins_alone), percentiles(logins_during));
    println!();
    println!("64 connections of those shapes for {elapsed:.1} s, one client on the front page:");
    println!(
        "  flood: {ok} answered 2xx ({:.0}/s), {refused} refused with 503, {other} other",
        ok as f64 / elapsed
    );
    println!(
        "  front page: alone p50 {:.2} / p99 {:.2} ms; during p50 {:.2} / p99 {:.2} ms over {} \
         requests, {front_failed} not 2xx (goal p99 <= 25, none failed) {}",
        alone.p50,
        alone.p99,
        during.p50,
        during.p99,
        front_latencies.len(),
        verdict(during.p99 <= 25.0 && front_failed == 0)
    );
    println!(
        "  login: alone p50 {:.1} / p99 {:.1} ms; during p50 {:.1} / p99 {:.1} ms",
        login_alone.p50, login_alone.p99, login_during.p50, login_during.p99
    );
}

/// Create and edit p99 on the loaded catalog, with the index writes.
async fn writes(base: &str) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "bench_shopper", "password": "a long bench password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let (mut creates, mut edits, mut ids) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..300 {
        let started = Instant::now();
        let created: Value = client
            .post(format!("{base}/api/products"))
            .bearer_auth(&token)
            .json(&json!({
                "name": format!("Sturdy widget bench {n}"),
                "description": "Made by hand from oak, with a matte finish and brass fittings",
                "price": 10 + n
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        creates.push(started.elapsed());
        ids.push(created["id"].as_i64().unwrap());
    }
    for (n, id) in ids.iter().enumerate() {
        let started = Instant::now();
        let response = client
            .patch(format!("{base}/api/products/{id}"))
            .bearer_auth(&token)
            .json(&json!({"name": format!("Classic widget bench {n} renamed"), "price": 5 + n}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        edits.push(started.elapsed());
    }
    let (create, edit) = (percentiles(creates), percentiles(edits));
    println!();
    println!(
        "writes on this catalog (300 each, one connection): create p50 {:.2} / p99 {:.2} ms; \
         edit p50 {:.2} / p99 {:.2} ms",
        create.p50, create.p99, edit.p50, edit.p99
    );
}
