//! Sorting, searching and filtering the catalog at a million rows: the
//! release binary against its own database holding 1,000,000 products
//! from 1,000 owners.
//!
//! For every sort it measures, over one keep-alive connection, p50 and
//! p99 of:
//! - the first page (`GET /api/products?sort=…`);
//! - the page after the 50,000th row, reached by its cursor;
//! - a `q` search for a word 1,000 products hold;
//! - a price-range filter that keeps 1% of the products.
//!
//! Then it prints, for each shape, how the database reads the page
//! statement the service builds (`EXPLAIN`: the index and whether it
//! sorts), and compares the figures with the goals: a deep page within
//! 1.5x the first page's p99, and every p99 under 10 ms. It asserts
//! nothing: the figures are the result. Run with `scripts/bench.sh
//! catalog` (or `cargo bench --bench catalog` with `TEST_DATABASE_URL`
//! set); it creates and drops its own database. `BENCH_REQUESTS` sets the
//! requests per measure (default 2,000, after 200 of warm-up); one sort's
//! four requests take turns, so that noise falls on them alike.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/explain.rs"]
mod explain;
#[path = "../tests/support/server.rs"]
mod server;
#[path = "../tests/support/service.rs"]
mod service;

use std::time::{Duration, Instant};

use catalog::db::products::{ListQuery, SortColumn, SortValue, page_query};
use catalog::domain::catalog::{Filters, PageRequest, Scope, Sort};
use catalog::domain::cursor::{Cursors, Position};
use catalog::domain::price::Price;
use catalog::domain::search::SearchTerms;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use secrecy::SecretString;
use serde_json::Value;
use server::{admin_sql, create_database, insert_owners, server_url};
use service::Service;

const OWNERS: i64 = 1_000;
const PRODUCTS: i64 = 1_000_000;
const PAGE: u32 = 20;
const DEPTH: i64 = 50_000;
/// Prices run from 0.01 to 1,000.00 evenly; 100.00–109.99 is 1% of them.
const MIN_PRICE: &str = "100";
const MAX_PRICE: &str = "109.99";

/// Ten syllables; three of them make one of 1,000 model words, each of
/// which names 1,000 products.
const SYLLABLES: [&str; 10] = ["ka", "lo", "mi", "nu", "pe", "ri", "so", "tu", "va", "ze"];

/// The model word of product `k` (as the loading SQL makes it).
fn model(k: i64) -> String {
    let at = |n: i64| SYLLABLES[(n % 10) as usize];
    format!("{}{}{}", at(k), at(k / 10), at(k / 100))
}

/// SQL for products `from..=to`: product `k` belongs to owner
/// `first_owner + k % 1000`, is created a second after product `k - 1`,
/// has a price that does not follow its id, and a name and description
/// of everyday words plus its model word. Portable SQL: MySQL's
/// recursive CTEs stop at 1,000 levels, so the numbers come from a cross
/// join.
fn insert_products(first_owner: i64, from: i64, to: i64) -> String {
    let syllable = |divisor: i64| {
        format!(
            "ELT(1 + (k DIV {divisor}) % 10, {})",
            SYLLABLES.map(|s| format!("'{s}'")).join(", ")
        )
    };
    format!(
        "INSERT INTO products (owner_id, name, description, price_cents, created_at, updated_at) \
         WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999) \
         SELECT {first_owner} + (k % {OWNERS}), \
         CONCAT(ELT(1 + k % 8, 'Sturdy', 'Classic', 'Tiny', 'Grand', 'Rustic', 'Modern', 'Golden', 'Quiet'), ' ', \
                ELT(1 + (k DIV 8) % 8, 'mug', 'lamp', 'chair', 'kettle', 'vase', 'clock', 'table', 'rug'), ' ', \
                CONCAT({}, {}, {})), \
         IF(k % 3 = 0, NULL, CONCAT('Made by hand from ', \
                ELT(1 + (k DIV 64) % 6, 'oak', 'steel', 'glass', 'clay', 'wool', 'brass'), ', item ', k)), \
         1 + (k * 7919) % 100000, \
         TIMESTAMP('2025-01-01') + INTERVAL k SECOND, TIMESTAMP('2025-01-01') + INTERVAL k SECOND \
         FROM (SELECT a.i * 1000 + b.i + 1 AS k FROM n a CROSS JOIN n b) numbers \
         WHERE k BETWEEN {from} AND {to} ORDER BY k",
        syllable(1),
        syllable(10),
        syllable(100),
    )
}

/// One measured request shape.
struct Shape {
    sort: Sort,
    name: &'static str,
    path: String,
    /// The statement the service runs for it.
    query: ListQuery,
}

struct Figures {
    p50: f64,
    p99: f64,
}

/// p50 and p99 in milliseconds of `requests` GETs of each of `urls`, on
/// one keep-alive connection, after a warm-up. The URLs take turns (A B C
/// A B C …), so a moment of noise on the shared cores falls on all of
/// them alike and their figures compare fairly.
async fn measure(client: &reqwest::Client, urls: &[String], requests: usize) -> Vec<Figures> {
    let get = async |url: &str| {
        let started = Instant::now();
        let response = client.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let body = response.bytes().await.unwrap();
        assert!(!body.is_empty());
        started.elapsed()
    };
    for _ in 0..requests / 10 {
        for url in urls {
            get(url).await;
        }
    }
    let mut latencies = vec![Vec::with_capacity(requests); urls.len()];
    for _ in 0..requests {
        for (url, latencies) in urls.iter().zip(&mut latencies) {
            latencies.push(get(url).await);
        }
    }
    latencies
        .into_iter()
        .map(|mut latencies| {
            latencies.sort();
            let at = |p: f64| {
                let index = ((latencies.len() as f64 - 1.0) * p).round() as usize;
                latencies[index].as_secs_f64() * 1000.0
            };
            Figures {
                p50: at(0.5),
                p99: at(0.99),
            }
        })
        .collect()
}

/// How the database reads a statement: for each table, its access type
/// and index, and whether anything is sorted (a filesort).
async fn explain(conn: &mut AsyncMysqlConnection, query: &ListQuery) -> String {
    let statement = page_query(query);
    let explain = explain::Explain {
        prefix: "EXPLAIN FORMAT=JSON ",
        statement: &statement,
    };
    let rows: Vec<Vec<u8>> = explain.load(conn).await.expect("EXPLAIN runs");
    let plan: Value = serde_json::from_slice(&rows.concat()).expect("a JSON plan");
    let mut tables = Vec::new();
    let mut sorts = false;
    fn walk(value: &Value, tables: &mut Vec<String>, sorts: &mut bool) {
        match value {
            Value::Object(map) => {
                if map.contains_key("filesort") || map.contains_key("using_filesort") {
                    *sorts = true;
                }
                if let Some(Value::String(table)) = map.get("table_name") {
                    let access = map
                        .get("access_type")
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    let key = map.get("key").and_then(Value::as_str).unwrap_or("-");
                    tables.push(format!("{table}: {access} {key}"));
                }
                for child in map.values() {
                    walk(child, tables, sorts);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, tables, sorts)),
            _ => {}
        }
    }
    walk(&plan, &mut tables, &mut sorts);
    format!(
        "{}{}",
        tables.join(", "),
        if sorts { ", sorts its matches" } else { "" }
    )
}

/// The sort value and id of the row `DEPTH` rows into `sort`'s order.
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

async fn run() {
    let requests: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let database = create_database("catalog_bench").await;
    let database_url = format!("{}/{database}", server_url());
    let service = Service::start(&database_url).await;
    let base = format!("http://{}", service.addr);

    let loading = Instant::now();
    admin_sql(Some(&database), &[insert_owners(OWNERS)]).await;
    let first_owner = {
        let mut conn = AsyncMysqlConnection::establish(&database_url)
            .await
            .unwrap();
        catalog::db::schema::users::table
            .select(diesel::dsl::min(catalog::db::schema::users::id))
            .first::<Option<i64>>(&mut conn)
            .await
            .unwrap()
            .unwrap()
    };
    // In slices, so that no one statement holds a huge undo log.
    let slice = PRODUCTS / 10;
    let mut statements: Vec<String> = (0..10)
        .map(|i| insert_products(first_owner, i * slice + 1, (i + 1) * slice))
        .collect();
    statements.push("ANALYZE TABLE users, products".to_owned());
    admin_sql(Some(&database), &statements).await;
    let load_secs = loading.elapsed().as_secs_f64();

    let mut conn = AsyncMysqlConnection::establish(&database_url)
        .await
        .unwrap();
    let version: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>("VERSION()"))
        .get_result(&mut conn)
        .await
        .unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "catalog sort/search/filter benchmark: {cores} cores, server {version}, \
         {PRODUCTS} products from {OWNERS} owners (loaded and indexed in {load_secs:.1} s), \
         {requests} requests per measure, one sort's four in turn, on one connection after {} of warm-up",
        requests / 10
    );

    let cursors = Cursors::new(&SecretString::from(service.secret.clone()), &[]);
    let word = model(4_242);
    let search = SearchTerms::parse(&word).unwrap();
    let matches: i64 = {
        let like = format!("%{word}%");
        catalog::db::schema::products::table
            .filter(catalog::db::schema::products::name.like(like))
            .count()
            .get_result(&mut conn)
            .await
            .unwrap()
    };
    let min = Price::parse_decimal(MIN_PRICE).unwrap();
    let max = Price::parse_decimal(MAX_PRICE).unwrap();
    let in_range: i64 = catalog::db::schema::products::table
        .filter(catalog::db::schema::products::price_cents.between(min.cents(), max.cents()))
        .count()
        .get_result(&mut conn)
        .await
        .unwrap();
    println!(
        "search word `{word}` is in {matches} products; {MIN_PRICE}–{MAX_PRICE} keeps {in_range}"
    );

    let mut shapes = Vec::new();
    for sort in Sort::ALL {
        let (column, descending) = (sort.column(), sort.descending());
        let base_query = ListQuery {
            owner: None,
            search: None,
            min_cents: None,
            max_cents: None,
            column,
            descending,
            after: None,
            limit: i64::from(PAGE) + 1,
        };
        let name = sort.name();
        shapes.push(Shape {
            sort,
            name: "first page",
            path: format!("/api/products?sort={name}&limit={PAGE}"),
            query: base_query.clone(),
        });
        let (value, position) = deep_position(&mut conn, sort).await;
        let request = PageRequest {
            scope: Scope::All,
            filters: Filters::default(),
            sort,
            limit: PAGE,
            cursor: None,
        };
        let cursor = cursors.encode(&position, &request.binding());
        let id = match &position {
            Position::Time(_, id) | Position::Cents(_, id) | Position::Text(_, id) => *id,
        };
        shapes.push(Shape {
            sort,
            name: "page 50,000 rows deep",
            path: format!("/api/products?sort={name}&limit={PAGE}&cursor={cursor}"),
            query: ListQuery {
                after: Some((value, id)),
                ..base_query.clone()
            },
        });
        shapes.push(Shape {
            sort,
            name: "q search",
            path: format!("/api/products?sort={name}&limit={PAGE}&q={word}"),
            query: ListQuery {
                search: Some(search.boolean_mode()),
                ..base_query.clone()
            },
        });
        shapes.push(Shape {
            sort,
            name: "price range (1%)",
            path: format!(
                "/api/products?sort={name}&limit={PAGE}&min_price={MIN_PRICE}&max_price={MAX_PRICE}"
            ),
            query: ListQuery {
                min_cents: Some(min.cents()),
                max_cents: Some(max.cents()),
                ..base_query.clone()
            },
        });
    }

    println!();
    println!(
        "{:<12} {:<22} {:>8} {:>8}  how the database reads it (EXPLAIN)",
        "sort", "request", "p50 ms", "p99 ms"
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let mut results = Vec::new();
    // One sort's four requests at a time, taking turns.
    for sort_shapes in shapes.chunks(4) {
        let urls: Vec<String> = sort_shapes
            .iter()
            .map(|shape| format!("{base}{}", shape.path))
            .collect();
        let figures = measure(&client, &urls, requests).await;
        for (shape, figures) in sort_shapes.iter().zip(figures) {
            let plan = explain(&mut conn, &shape.query).await;
            println!(
                "{:<12} {:<22} {:>8.2} {:>8.2}  {plan}",
                shape.sort.name(),
                shape.name,
                figures.p50,
                figures.p99
            );
            results.push((shape, figures));
        }
    }

    println!();
    println!("goals:");
    for sort in Sort::ALL {
        let p99 = |name: &str| {
            results
                .iter()
                .find(|(shape, _)| shape.sort == sort && shape.name == name)
                .map(|(_, figures)| figures.p99)
                .unwrap()
        };
        let ratio = p99("page 50,000 rows deep") / p99("first page");
        println!(
            "  {:<12} deep page p99 / first page p99: {ratio:.2}x (goal <= 1.5x) {}",
            sort.name(),
            verdict(ratio <= 1.5)
        );
    }
    let worst = results
        .iter()
        .max_by(|a, b| a.1.p99.total_cmp(&b.1.p99))
        .unwrap();
    println!(
        "  slowest p99: {:.2} ms ({} {}) (goal < 10 ms for every one) {}",
        worst.1.p99,
        worst.0.sort.name(),
        worst.0.name,
        verdict(results.iter().all(|(_, figures)| figures.p99 < 10.0))
    );

    drop(service);
    drop(conn);
    tokio::time::sleep(Duration::from_millis(100)).await;
    admin_sql(None, &[format!("DROP DATABASE `{database}`")]).await;
}
