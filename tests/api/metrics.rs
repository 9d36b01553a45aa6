//! `/metrics` on its own address: the real binary, real traffic, and the
//! series Prometheus would scrape.

use std::collections::HashMap;

use serde_json::json;

use crate::binary::Binary;
use crate::helpers::{PASSWORD, free_port};

/// Samples of a Prometheus text exposition: `name{labels}` → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_the_traffic_on_their_own_port_only() {
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let binary = Binary::start(&[
        ("METRICS_ADDR", &metrics_addr),
        ("LOGIN_MAX_FAILURES", "2"),
        // The pool size the series must report.
        ("DATABASE_POOL_SIZE", "10"),
    ])
    .await;
    let client = reqwest::Client::new();
    let api = |path: &str| format!("http://127.0.0.1:{}{path}", binary.port);
    let ready = client.get(api("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let signup = client
        .post(api("/api/auth/signup"))
        .json(&json!({"username": "metered", "email": "m@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let login = |password: &'static str| {
        client
            .post(api("/api/auth/login"))
            .json(&json!({"username": "metered", "password": password}))
            .send()
    };
    assert_eq!(login(PASSWORD).await.unwrap().status(), 200);
    assert_eq!(login("wrong password").await.unwrap().status(), 401);
    assert_eq!(login("wrong password").await.unwrap().status(), 401);
    assert_eq!(login(PASSWORD).await.unwrap().status(), 429);
    for _ in 0..3 {
        let page = client.get(api("/api/products")).send().await.unwrap();
        assert_eq!(page.status(), 200);
    }
    let missing = client.get(api("/api/products/999")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let nowhere = client.get(api("/no/such/path/42")).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);

    // Not on the API's port.
    let leaked = client.get(api("/metrics")).send().await.unwrap();
    assert_eq!(leaked.status(), 404);

    let response = client
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    let found = samples(&text);
    let value = |series: &str| {
        *found
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(value(r#"catalog_logins_total{outcome="success"}"#), 1.0);
    assert_eq!(
        value(r#"catalog_logins_total{outcome="bad_credentials"}"#),
        2.0
    );
    assert_eq!(value(r#"catalog_logins_total{outcome="throttled"}"#), 1.0);
    assert_eq!(value("catalog_signups_total"), 1.0);
    assert_eq!(
        value(r#"catalog_http_requests_total{operation="listProducts",status="2xx"}"#),
        3.0
    );
    assert_eq!(
        value(r#"catalog_http_requests_total{operation="getProduct",status="4xx"}"#),
        1.0
    );
    assert_eq!(
        value(r#"catalog_http_requests_total{operation="unmatched",status="4xx"}"#),
        2.0,
        "unknown paths share one label"
    );
    assert_eq!(
        value(
            r#"catalog_http_request_duration_seconds_count{operation="listProducts",status="2xx"}"#
        ),
        3.0
    );
    assert!(text.contains(r#"catalog_http_request_duration_seconds_bucket{operation="listProducts",status="2xx",le="0.005"}"#));
    assert_eq!(value("catalog_http_requests_in_flight"), 0.0);
    // Signup hashes once, each login but the throttled one checks once.
    assert_eq!(value("catalog_password_hash_seconds_count"), 4.0);
    assert!(value("catalog_password_hash_seconds_sum") > 0.0);
    assert_eq!(value("catalog_password_hash_queue_seconds_count"), 4.0);
    assert_eq!(value("catalog_password_hash_slots_in_use"), 0.0);
    assert_eq!(value("catalog_db_pool_max_connections"), 10.0);
    let open = value(r#"catalog_db_pool_connections{state="idle"}"#)
        + value(r#"catalog_db_pool_connections{state="in_use"}"#);
    assert!((1.0..=10.0).contains(&open), "{open} connections");
    assert!(value("catalog_db_acquire_duration_seconds_count") >= 8.0);
    assert!(value("catalog_uptime_seconds") > 0.0);
    assert!(text.contains(r#"catalog_build_info{version=""#), "{text}");
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_open_fds") > 5.0);
    // Paths with ids never become labels.
    assert!(!text.contains("/999"));
    assert!(text.contains("# HELP catalog_logins_total"));
    // Every series the service may record is described, documented in
    // docs/operating.md, and named nowhere but in `metric_names`.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operating.md")).unwrap();
    // Series only a service with read replicas records
    // (tests/outage/replicas.rs checks their HELP lines there).
    let with_replicas_only = [
        catalog::metric_names::DB_CAUSAL_WAIT_DURATION,
        catalog::metric_names::DB_REPLICA_HEALTHY,
        catalog::metric_names::DB_REPLICA_LAG,
        catalog::metric_names::DB_REPLICA_POOL_CONNECTIONS,
    ];
    for name in catalog::metric_names::ALL {
        assert!(
            with_replicas_only.contains(name) || text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP line"
        );
        assert!(
            readme.contains(name),
            "docs/operating.md does not document {name}"
        );
    }
}
