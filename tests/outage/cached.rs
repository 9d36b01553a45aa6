//! The micro-cache of the project's nginx while the database is frozen:
//! what it had cached it keeps serving, at once and for at least the
//! app's `stale-if-error`; what it never had answers 503 problem+json
//! with `Retry-After`, as without the cache.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::client_from;
use crate::mariadb::PrivateMariaDb;
use crate::nginx::{Nginx, cache_status};
use crate::stalls::{signup, start_with};

/// The `stale-if-error` the binary announces here: short, so the test
/// can outlast it.
const STALE_IF_ERROR: Duration = Duration::from_secs(4);
/// `max-age`, as by default.
const MAX_AGE: Duration = Duration::from_secs(1);
/// The binary's database deadline (`stalls::start_with`).
const DEADLINE: Duration = Duration::from_secs(2);
/// How late an answer may come past it.
const SLACK: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread")]
async fn cached_pages_are_served_stale_while_the_database_is_stopped() {
    let server = PrivateMariaDb::start().await;
    let secs = STALE_IF_ERROR.as_secs().to_string();
    let binary = start_with(&server, &[("HTTP_CACHE_STALE_IF_ERROR_SECS", &secs)]).await;
    let client = reqwest::Client::new();
    let token = signup(&client, &binary, "shopkeeper").await;
    let created = client
        .post(binary.url("/api/products"))
        .bearer_auth(&token)
        .json(&json!({"name": "Lamp", "price": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].clone();
    let addr: SocketAddr = format!("127.0.0.1:{}", binary.port).parse().unwrap();
    let nginx = Nginx::start(addr).await;

    let cached = ["/api/products".to_owned(), format!("/api/products/{id}")];
    let mut kept = Vec::new();
    for path in &cached {
        let response = client.get(nginx.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(cache_status(&response), "MISS", "{path}");
        let cache_control = response.headers()["cache-control"].to_str().unwrap();
        assert!(cache_control.contains(&format!("stale-if-error={secs}")));
        kept.push(response.text().await.unwrap());
    }

    server.stop();
    let stopped = Instant::now();
    // The entries expire after `max-age` (and up to a second more, as
    // nginx counts whole seconds); from then on only stale copies can
    // answer, for at least `stale-if-error`. Each round, one request per
    // page asks the app and gets the copy when the app gives up on its
    // database (STALE); the others get it at once (UPDATING).
    let until =
        stopped + MAX_AGE + Duration::from_secs(1) + STALE_IF_ERROR + Duration::from_secs(1);
    let mut at_once = 0;
    let mut after_the_app = 0;
    while Instant::now() < until {
        let mut round = tokio::task::JoinSet::new();
        for (page, (path, body)) in cached.iter().zip(&kept).enumerate() {
            for n in 0..8u8 {
                // Each from its own address, within nginx's rate limit.
                let from = client_from(2 + 8 * u8::try_from(page).unwrap() + n);
                let request = from.get(nginx.url(path));
                let (path, body) = (path.clone(), body.clone());
                round.spawn(async move {
                    let started = Instant::now();
                    let response = request.send().await.unwrap();
                    let status = cache_status(&response);
                    assert_eq!(response.status(), 200, "{path} as {status}");
                    assert_eq!(response.text().await.unwrap(), body, "{path}");
                    (status, started.elapsed())
                });
            }
        }
        for (status, took) in round.join_all().await {
            match status.as_str() {
                "HIT" | "UPDATING" => {
                    assert!(took < Duration::from_millis(500), "{status} took {took:?}");
                    at_once += usize::from(status == "UPDATING");
                }
                "STALE" => {
                    assert!(took < DEADLINE + SLACK, "{status} took {took:?}");
                    after_the_app += 1;
                }
                other => panic!("answered as {other}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after_the_app >= 2, "{after_the_app} STALE answers");
    assert!(
        at_once >= 5 * after_the_app,
        "{at_once} UPDATING for {after_the_app} STALE answers"
    );

    // A page nginx never cached reaches the app, which cannot answer it.
    let response = client
        .get(nginx.url("/api/products?limit=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 503, "{problem}");

    // Once the database answers again, fresh answers return.
    server.resume();
    let resumed = Instant::now();
    loop {
        let response = client
            .get(nginx.url("/api/products?limit=3"))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            break;
        }
        assert!(resumed.elapsed() < Duration::from_secs(5), "not back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
