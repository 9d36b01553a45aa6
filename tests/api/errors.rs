//! The error contract and request ids, across the whole route tree.

use serde_json::json;

use crate::helpers::{TestApp, assert_problem, send, try_send};

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_methods_are_problem_json() {
    let app = TestApp::spawn().await;
    assert_problem(app.get("/nope").await, 404, None).await;
    assert_problem(app.get("/api/nope").await, 404, None).await;
    let put = send(app.client.put(app.url("/api/products/1"))).await;
    assert_problem(put, 405, None).await;
    let get_login = app.get("/api/auth/login").await;
    assert_problem(get_login, 405, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_well_formed_request_id_is_kept_and_echoed() {
    let app = TestApp::spawn().await;
    let response = send(
        app.client
            .get(app.url("/api/products/999"))
            .header("x-request-id", "client-id-42.a_b:c"),
    )
    .await;
    assert_eq!(response.headers()["x-request-id"], "client-id-42.a_b:c");
    let body = assert_problem(response, 404, None).await;
    assert_eq!(body["request_id"], "client-id-42.a_b:c");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_request_id_is_replaced() {
    let app = TestApp::spawn().await;
    for bad in ["has spaces", "semi;colon", &"x".repeat(200)] {
        let response = send(
            app.client
                .get(app.url("/healthz"))
                .header("x-request-id", bad),
        )
        .await;
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_ne!(id, bad);
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }
    let a = app.get("/healthz").await.headers()["x-request-id"].clone();
    let b = app.get("/healthz").await.headers()["x-request-id"].clone();
    assert_ne!(a, b, "each request gets its own id");
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_headers_appear_only_for_configured_origins() {
    let closed = TestApp::spawn().await;
    let response = send(
        closed
            .client
            .get(closed.url("/api/products"))
            .header("origin", "https://shop.example"),
    )
    .await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let open = TestApp::spawn_with(&[("CORS_ALLOWED_ORIGINS", "https://shop.example")]).await;
    let response = send(
        open.client
            .get(open.url("/api/products"))
            .header("origin", "https://shop.example"),
    )
    .await;
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    let preflight = send(
        open.client
            .request(reqwest::Method::OPTIONS, open.url("/api/products"))
            .header("origin", "https://shop.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            ),
    )
    .await;
    assert!(preflight.status().is_success());
    // A browser may send the conditional and idempotency headers, and
    // read the ETag and the replay mark.
    let edit = send(
        open.client
            .request(reqwest::Method::OPTIONS, open.url("/api/products/1"))
            .header("origin", "https://shop.example")
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "authorization, content-type, if-match",
            ),
    )
    .await;
    assert!(edit.status().is_success(), "{}", edit.status());
    let allowed = edit.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(allowed.contains("if-match"), "{allowed}");
    let methods = edit.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_uppercase();
    assert!(methods.contains("PATCH"), "{methods}");
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for header in ["etag", "idempotent-replayed", "location", "retry-after"] {
        assert!(exposed.contains(header), "{header} in {exposed}");
    }
    // The preflight names exactly the methods the path serves.
    assert_eq!(methods, "DELETE, GET, PATCH");
    // Another origin is served as anyone is, without the allow header:
    // the browser keeps the answer from the page.
    let stranger = send(
        open.client
            .get(open.url("/api/products"))
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(stranger.status(), 200);
    assert!(
        stranger
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // Every answer varies on Origin, with or without one, so a shared
    // cache never hands one origin's answer to another.
    let plain = send(open.client.get(open.url("/api/products"))).await;
    for answer in [&response, &stranger, &plain, &edit] {
        let vary: Vec<_> = answer.headers().get_all("vary").iter().collect();
        assert!(
            vary.iter().any(|v| v.to_str().unwrap().contains("Origin")),
            "{vary:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn in_flight_requests_finish_during_shutdown() {
    let mut app = TestApp::spawn().await;
    let client = app.client.clone();
    let url = app.url("/api/auth/signup");
    // Signup hashes a password, so it is still running when the stop comes.
    let in_flight = tokio::spawn(try_send(client.post(url).json(
        &json!({"username": "late", "email": "late@example.com", "password": "a-long-password"}),
    )));
    // In flight once its signup is counted: that row is written before
    // the password is hashed.
    let waiting = std::time::Instant::now();
    while app.count("SELECT COUNT(*) FROM throttle_counters").await == 0 {
        assert!(
            waiting.elapsed() < std::time::Duration::from_secs(5),
            "never arrived"
        );
    }
    app.stop().await;
    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was answered");
    assert_eq!(response.status(), 201);
    assert!(
        try_send(app.client.get(app.url("/healthz"))).await.is_err(),
        "no longer listening"
    );
}

/// Served directly, without the bundled nginx, the service still sends
/// `nosniff`, and a CSP that forbids framing on its docs page: the same
/// policy nginx sends.
#[tokio::test(flavor = "multi_thread")]
async fn the_service_sets_baseline_security_headers_itself() {
    let app = TestApp::spawn().await;
    for path in [
        "/healthz",
        "/api/products",
        "/api/products/424242",
        "/api/docs/",
    ] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    let docs = app.get("/api/docs/").await;
    assert_eq!(docs.status(), 200);
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(csp, catalog::api::DOCS_CONTENT_SECURITY_POLICY);
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let snippet = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docker/nginx/snippets/security-headers.conf"
    ))
    .unwrap();
    assert!(
        snippet.contains(&format!("Content-Security-Policy \"{csp}\"")),
        "nginx sends another policy"
    );
}
