//! A database that stops answering, against the real binary: every
//! request gets a bounded wait and a 503 with `Retry-After`, never an
//! open-ended hang; service resumes when the database does, with no
//! connection left poisoned; and a write cut off mid-flight is rolled
//! back whole. The database is a private MariaDB, frozen with SIGSTOP as
//! a stuck disk or a paused VM would freeze it.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::Binary;
use crate::helpers::PASSWORD;
use crate::helpers::server::admin_sql_at;
use crate::mariadb::PrivateMariaDb;

/// The deadline the binary runs with here.
const DEADLINE: Duration = Duration::from_secs(2);
/// How late an answer may come past it.
const SLACK: Duration = Duration::from_millis(500);

/// The binary on a fresh `catalog` database of `server`, with the
/// deadline above and `extra` settings.
pub(crate) async fn start_with(server: &PrivateMariaDb, extra: &[(&str, &str)]) -> Binary {
    admin_sql_at(
        &server.url(),
        &["CREATE DATABASE catalog CHARACTER SET utf8mb4 COLLATE utf8mb4_bin".to_owned()],
    )
    .await;
    Binary::start_on(
        &format!("{}/catalog", server.url()),
        &[
            &[
                ("DATABASE_STATEMENT_TIMEOUT_SECS", "2"),
                ("DATABASE_POOL_SIZE", "4"),
            ],
            extra,
        ]
        .concat(),
    )
    .await
}

async fn start(server: &PrivateMariaDb) -> Binary {
    start_with(server, &[]).await
}

/// Signs up `name` and answers its access token. A server just started
/// on a busy machine may miss the deadline on its first statements
/// (cold tables): a 503 is tried again, a few times.
pub(crate) async fn signup(client: &reqwest::Client, binary: &Binary, name: &str) -> String {
    for _ in 0..5 {
        let response = client
            .post(binary.url("/api/auth/signup"))
            .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            continue;
        }
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        return body["access_token"].as_str().unwrap().to_owned();
    }
    panic!("the fresh server never took a signup within the deadline");
}

/// Sends a request and answers its status, its `Retry-After` and how long
/// it took.
async fn timed(request: reqwest::RequestBuilder) -> (StatusCode, Option<String>, Duration) {
    let started = Instant::now();
    let response = request
        .send()
        .await
        .expect("an answer, not a dropped connection");
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status();
    response.bytes().await.unwrap();
    (status, retry_after, started.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_database_costs_each_request_a_bounded_wait_and_a_503() {
    let server = PrivateMariaDb::start().await;
    let binary = start(&server).await;
    let client = reqwest::Client::new();
    let token = signup(&client, &binary, "stalled").await;
    let (status, _, _) = timed(client.get(binary.url("/api/products"))).await;
    assert_eq!(status, 200);

    server.stop();
    let frozen = Instant::now();
    let mut answered = 0;
    while frozen.elapsed() < Duration::from_secs(10) {
        let requests = [
            client.get(binary.url("/api/products")),
            client.get(binary.url("/api/products/1")),
            client
                .post(binary.url("/api/auth/login"))
                .json(&json!({"username": "stalled", "password": PASSWORD})),
            client
                .post(binary.url("/api/products"))
                .bearer_auth(&token)
                .json(&json!({"name": "Cup", "price": 3.5})),
            client.get(binary.url("/api/auth/me")).bearer_auth(&token),
        ];
        let outcomes = futures_join_all(requests.into_iter().map(timed)).await;
        for (status, retry_after, took) in outcomes {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "after {took:?}");
            assert!(retry_after.is_some(), "a 503 without Retry-After");
            assert!(took <= DEADLINE + SLACK, "answered after {took:?}");
            answered += 1;
        }
    }
    assert!(answered >= 20, "{answered} answers in 10 s");

    server.resume();
    let resumed = Instant::now();
    loop {
        let (status, _, _) = timed(client.get(binary.url("/api/products"))).await;
        if status == 200 {
            break;
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(1),
            "not serving 1 s after the database came back: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // No pooled connection was left mid-statement: every one serves.
    let rounds = (0..10).map(|_| timed(client.get(binary.url("/api/auth/me")).bearer_auth(&token)));
    for (status, _, _) in futures_join_all(rounds).await {
        assert_eq!(status, 200);
    }
    for _ in 0..20 {
        let (status, _, _) = timed(client.get(binary.url("/api/products"))).await;
        assert_eq!(status, 200);
    }
    // The connections given up during the stall were closed, not kept:
    // no more are open to the database than the pool holds.
    let mut open = connections_to(server.port);
    for _ in 0..50 {
        if open <= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        open = connections_to(server.port);
    }
    assert!(open <= 4, "{open} connections open to the database");
    let metrics = binary.metrics().await;
    assert!(
        metrics.contains("catalog_db_deadline_exceeded_total"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_cut_off_mid_transaction_is_rolled_back_and_its_retry_makes_one_product() {
    let server = PrivateMariaDb::start().await;
    let binary = start(&server).await;
    let client = reqwest::Client::new();
    let token = signup(&client, &binary, "retrier").await;
    let create = || {
        client
            .post(binary.url("/api/products"))
            .bearer_auth(&token)
            .header("idempotency-key", "one-cup-please")
            .json(&json!({"name": "Cup", "price": 3.5}))
    };

    // Another session holds the end of the products index, so the create
    // claims its key, then waits inside its transaction to insert.
    let url = format!("{}/catalog", server.url());
    let mut holder = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
        .await
        .unwrap();
    use mysql_async::prelude::Queryable;
    holder
        .query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    holder.query_drop("START TRANSACTION").await.unwrap();
    holder
        .query_drop("SELECT id FROM products WHERE id > 0 FOR UPDATE")
        .await
        .unwrap();
    let cut_off = tokio::spawn(timed(create()));
    // Once the create waits for the lock inside its transaction (its
    // insert shows in the process list), the database freezes.
    let mut waiting = 0;
    for _ in 0..500 {
        waiting = holder
            .query_first::<u64, _>(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE INFO LIKE 'INSERT INTO `products`%'",
            )
            .await
            .unwrap()
            .unwrap_or(0);
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(waiting, 1, "the create never waited inside its transaction");
    server.stop();
    let (status, retry_after, took) = cut_off.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(retry_after.is_some());
    assert!(took <= DEADLINE + SLACK, "{took:?}");
    server.resume();
    holder.query_drop("COMMIT").await.unwrap();
    drop(holder);

    // Nothing of the cut-off create stayed: the retry creates afresh…
    let response = create().send().await.unwrap();
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("idempotent-replayed").is_none());
    let product: Value = response.json().await.unwrap();
    // …and a second retry replays it.
    let again = create().send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], product["id"]);
    let page: Value = client
        .get(binary.url("/api/products"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
}

/// Established TCP connections to a loopback `port`, from
/// /proc/net/tcp.
fn connections_to(port: u16) -> usize {
    let remote = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields[2] == remote && fields[3] == "01")
        .count()
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}
