//! What the project's nginx config does in front of the real app.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{PASSWORD, TestApp, assert_problem, client_from, send};
use crate::nginx::{Nginx, cache_status};

const SECURITY_HEADERS: [&str; 6] = [
    "x-content-type-options",
    "x-frame-options",
    "referrer-policy",
    "content-security-policy",
    "permissions-policy",
    "cross-origin-opener-policy",
];

fn assert_security_headers(response: &reqwest::Response) {
    for name in SECURITY_HEADERS {
        // Once: nginx's, never also the app's own copy.
        assert_eq!(
            response.headers().get_all(name).iter().count(),
            1,
            "{name} on {}",
            response.status()
        );
    }
    assert!(
        response
            .headers()
            .get("server")
            .is_none_or(|v| v == "nginx"),
        "no version"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn security_headers_are_on_success_and_error_responses() {
    let app = TestApp::spawn().await;
    let nginx = Nginx::start(app.addr).await;
    let ok = send(app.client.get(nginx.url("/api/products"))).await;
    assert_eq!(ok.status(), 200);
    assert_security_headers(&ok);
    let missing = send(app.client.get(nginx.url("/api/products/424242"))).await;
    assert_security_headers(&missing);
    assert_problem(missing, 404, None).await;
    let docs = send(app.client.get(nginx.url("/api/docs"))).await;
    assert_eq!(docs.status(), 200);
    assert_security_headers(&docs);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_burst_gets_429_problem_json_with_retry_after() {
    let app = TestApp::spawn().await;
    let nginx = Nginx::start(app.addr).await;
    let mut limited = None;
    for i in 0..15 {
        // A new name each time, so the app's own per-account throttle
        // stays out of it.
        let response = send(
            app.client
                .post(nginx.url("/api/auth/login"))
                .json(&json!({"username": format!("someone{i}"), "password": "whatever"})),
        )
        .await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), 401, "the app answered");
    }
    let response = limited.expect("nginx limited the burst");
    assert_eq!(response.headers()["retry-after"], "6");
    assert_security_headers(&response);
    let body = assert_problem(response, 429, None).await;
    assert_eq!(body["type"], "urn:catalog:problem:too-many-requests");
    // Browsing is limited separately and still works.
    let browse = send(app.client.get(nginx.url("/api/products"))).await;
    assert_eq!(browse.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_100_kib_body_gets_413_problem_json() {
    let app = TestApp::spawn().await;
    let nginx = Nginx::start(app.addr).await;
    let body = json!({"name": "x", "price": 1, "description": "d".repeat(100 * 1024)});
    let response = send(
        app.client
            .post(nginx.url("/api/products"))
            .bearer_auth("irrelevant")
            .json(&body),
    )
    .await;
    assert_security_headers(&response);
    assert_problem(response, 413, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_answers_malformed_long_and_oversized_requests_with_problem_json() {
    let app = TestApp::spawn().await;
    let nginx = Nginx::start(app.addr).await;
    let long_uri = format!("/api/products?cursor={}", "a".repeat(9 * 1024));
    let big_header = format!("X-Big: {}\r\n", "b".repeat(9 * 1024));
    for (request, status) in [
        (
            "GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n".to_owned(),
            400,
        ),
        (format!("GET {long_uri} HTTP/1.1\r\nHost: x\r\n\r\n"), 414),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{big_header}\r\n"),
            431,
        ),
        ("GARBAGE\r\n\r\n".to_owned(), 400),
        // The internal error pages are not reachable from outside.
        (
            "GET /.problem/400 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_owned(),
            404,
        ),
    ] {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", nginx.port))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{head}");
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains("content-type: application/problem+json"),
            "{head}"
        );
        assert!(head.contains("x-request-id: "), "{head}");
        let problem: Value = serde_json::from_str(body).unwrap();
        assert_eq!(problem["status"], status);
        assert!(!problem["request_id"].as_str().unwrap().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn request_ids_are_kept_or_generated_and_reach_the_app() {
    let app = TestApp::spawn().await;
    let nginx = Nginx::start(app.addr).await;
    let kept = send(
        app.client
            .get(nginx.url("/api/products/999"))
            .header("x-request-id", "trace-123.abc"),
    )
    .await;
    assert_eq!(
        kept.headers().get_all("x-request-id").iter().count(),
        1,
        "echoed once"
    );
    assert_eq!(kept.headers()["x-request-id"], "trace-123.abc");
    let body = assert_problem(kept, 404, None).await;
    assert_eq!(
        body["request_id"], "trace-123.abc",
        "the app saw the same id"
    );

    // Other ids: the micro-cache keeps a product's 404, body and all.
    for (header, path) in [
        (None, "/api/products/998"),
        (Some("bad id; with spaces"), "/api/products/997"),
    ] {
        let mut request = app.client.get(nginx.url(path));
        if let Some(value) = header {
            request = request.header("x-request-id", value);
        }
        let response = send(request).await;
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{id}"
        );
        let body = assert_problem(response, 404, None).await;
        assert_eq!(body["request_id"], id.as_str());
    }
}

/// A one-request upstream that records what nginx forwarded.
async fn capture_one_request() -> (SocketAddr, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buffer = vec![0u8; 8192];
        let mut read = 0;
        while !buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
            read += socket.read(&mut buffer[read..]).await.unwrap();
        }
        socket
            .write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            )
            .await
            .unwrap();
        String::from_utf8_lossy(&buffer[..read]).to_lowercase()
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spoofed_x_forwarded_for_is_replaced_by_the_client_address() {
    let (upstream, captured) = capture_one_request().await;
    let nginx = Nginx::start(upstream).await;
    let response = send(
        reqwest::Client::new()
            .get(nginx.url("/api/products"))
            .header("x-forwarded-for", "6.6.6.6")
            .header("x-real-ip", "6.6.6.6"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let request = captured.await.unwrap();
    assert!(
        request.contains("x-forwarded-for: 127.0.0.1\r\n"),
        "{request}"
    );
    assert!(request.contains("x-real-ip: 127.0.0.1\r\n"), "{request}");
    assert!(!request.contains("6.6.6.6"), "{request}");
    assert!(request.contains("x-request-id: "), "{request}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_app_gives_502_problem_json() {
    let mut app = TestApp::spawn().await;
    let nginx = Nginx::start(app.addr).await;
    assert_eq!(
        send(app.client.get(nginx.url("/readyz"))).await.status(),
        200
    );
    app.stop().await;
    let client = reqwest::Client::new();
    let response = send(client.get(nginx.url("/api/products"))).await;
    assert_security_headers(&response);
    let body = assert_problem(response, 502, None).await;
    assert_eq!(body["type"], "urn:catalog:problem:unavailable");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_is_gzipped_except_under_auth() {
    let app = TestApp::spawn().await;
    let user = app.new_user("zipper").await;
    for i in 0..10 {
        app.new_product(&user, &format!("product number {i}"), 1.0)
            .await;
    }
    let nginx = Nginx::start(app.addr).await;
    let client = reqwest::Client::new();
    let list = send(
        client
            .get(nginx.url("/api/products"))
            .header("accept-encoding", "gzip"),
    )
    .await;
    assert_eq!(
        list.headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap()),
        Some("gzip")
    );
    let login = send(
        client
            .post(nginx.url("/api/auth/login"))
            .header("accept-encoding", "gzip")
            .json(&json!({"username": "zipper", "password": crate::helpers::PASSWORD})),
    )
    .await;
    assert_eq!(login.status(), 200);
    assert!(login.headers().get("content-encoding").is_none());
    let body: Value = login.json().await.unwrap();
    assert!(body["access_token"].is_string());
}

/// A product's `ETag` reaches the client strong through nginx, even when
/// the client accepts gzip, so the tag it received passes `If-Match`
/// (which compares strongly) and guards an edit.
#[tokio::test(flavor = "multi_thread")]
async fn a_product_tag_stays_strong_through_nginx_and_guards_an_edit() {
    let app = TestApp::spawn().await;
    let user = app.new_user("compressed").await;
    let nginx = Nginx::start(app.addr).await;
    let client = reqwest::Client::new();
    let long = json!({"name": "Long read", "price": 3, "description": "words ".repeat(200)});
    let created = send(
        client
            .post(nginx.url("/api/products"))
            .bearer_auth(&user.access_token)
            .header("accept-encoding", "gzip")
            .json(&long),
    )
    .await;
    assert_eq!(created.status(), 201);
    assert!(created.headers().get("content-encoding").is_none());
    let created_tag = created.headers()["etag"].to_str().unwrap().to_owned();
    assert!(created_tag.starts_with('"'), "strong: {created_tag}");
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let read = send(
        client
            .get(nginx.url(&format!("/api/products/{id}")))
            .header("accept-encoding", "gzip"),
    )
    .await;
    assert_eq!(read.status(), 200);
    assert!(read.headers().get("content-encoding").is_none());
    let etag = read.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, created_tag, "the tag nginx passes on is the app's");
    let patch = |tag: String, price: u32| {
        send(
            client
                .patch(nginx.url(&format!("/api/products/{id}")))
                .bearer_auth(&user.access_token)
                .header("accept-encoding", "gzip")
                .header("if-match", tag)
                .json(&json!({ "price": price })),
        )
    };
    let edited = patch(etag.clone(), 4).await;
    assert_eq!(edited.status(), 200);
    let new_tag = edited.headers()["etag"].to_str().unwrap().to_owned();
    assert!(new_tag.starts_with('"') && new_tag != etag, "{new_tag}");
    // The same (now stale) tag is refused the second time.
    assert_problem(patch(etag, 5).await, 412, Some("If-Match")).await;
    // Lists, which carry no strong tag, stay compressed: see
    // json_is_gzipped_except_under_auth.
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_not_reachable_through_nginx() {
    let app = TestApp::spawn().await;
    let nginx = Nginx::start(app.addr).await;
    let response = send(app.client.get(nginx.url("/metrics"))).await;
    assert_eq!(response.status(), 404);
    let body = response.text().await.unwrap();
    assert!(!body.contains("catalog_"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_nginx_as_a_trusted_proxy_clients_are_counted_apart() {
    // nginx reaches the app from 127.0.0.1 and names the client in
    // X-Forwarded-For; the app believes it because 127.0.0.1 is trusted.
    let app = TestApp::spawn_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("LOGIN_MAX_FAILURES", "3"),
    ])
    .await;
    app.new_user("shared").await;
    let nginx = Nginx::start(app.addr).await;
    let login = |client: &reqwest::Client, password: &str| {
        send(
            client
                .post(nginx.url("/api/auth/login"))
                .json(&json!({"username": "shared", "password": password})),
        )
    };
    let guesser = client_from(2);
    for _ in 0..3 {
        assert_problem(login(&guesser, "wrong password").await, 401, None).await;
    }
    let locked = login(&guesser, PASSWORD).await;
    let body = assert_problem(locked, 429, None).await;
    assert!(
        !body["detail"]
            .as_str()
            .unwrap()
            .contains("from this address"),
        "the app's 429, not nginx's rate limit: {body}"
    );
    // Another visitor of the same nginx is another client to the app.
    let owner = client_from(3);
    assert_eq!(login(&owner, PASSWORD).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_an_untrusted_nginx_every_visitor_is_nginx() {
    // Without TRUSTED_PROXIES the app counts nginx's own address, which
    // is why the Compose file sets it.
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    app.new_user("shared").await;
    let nginx = Nginx::start(app.addr).await;
    for _ in 0..3 {
        let response = send(
            client_from(2)
                .post(nginx.url("/api/auth/login"))
                .json(&json!({"username": "shared", "password": "wrong password"})),
        )
        .await;
        assert_problem(response, 401, None).await;
    }
    let response = send(
        client_from(3)
            .post(nginx.url("/api/auth/login"))
            .json(&json!({"username": "shared", "password": PASSWORD})),
    )
    .await;
    assert_problem(response, 429, None).await;
}

/// Anonymous reads are cached; a request with credentials is never served
/// from the cache nor stored in it, and two users' own lists, asked for
/// within the same second with the same URI, never mix.
#[tokio::test(flavor = "multi_thread")]
async fn the_micro_cache_keeps_anonymous_reads_and_never_a_callers_own() {
    let app = TestApp::spawn().await;
    let alice = app.new_user("alice").await;
    let bob = app.new_user("bob").await;
    app.new_product(&alice, "Alice's lamp", 5.0).await;
    app.new_product(&bob, "Bob's mug", 6.0).await;
    let nginx = Nginx::start(app.addr).await;
    let client = reqwest::Client::new();
    let anonymous = || send(client.get(nginx.url("/api/products")));
    let first = anonymous().await;
    assert_eq!(cache_status(&first), "MISS");
    let first_body = first.text().await.unwrap();
    let second = anonymous().await;
    assert_eq!(cache_status(&second), "HIT");
    assert_eq!(second.text().await.unwrap(), first_body);
    // With a token: past the cache, both ways.
    let authed = send(
        client
            .get(nginx.url("/api/products"))
            .bearer_auth(&alice.access_token),
    )
    .await;
    assert_eq!(cache_status(&authed), "BYPASS");
    let with_cookie = send(
        client
            .get(nginx.url("/api/products"))
            .header("cookie", "a=b"),
    )
    .await;
    assert_eq!(cache_status(&with_cookie), "BYPASS");
    // A read that asks to see a given write: a copy may predate it.
    let with_token = send(
        client
            .get(nginx.url("/api/products"))
            .header("catalog-consistency", "MC0xLTQy.AAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await;
    assert_eq!(with_token.status(), 200);
    assert_eq!(cache_status(&with_token), "BYPASS");
    for _ in 0..3 {
        for (user, own, other) in [
            (&alice, "Alice's lamp", "Bob's mug"),
            (&bob, "Bob's mug", "Alice's lamp"),
        ] {
            let mine = send(
                client
                    .get(nginx.url("/api/products/my"))
                    .bearer_auth(&user.access_token),
            )
            .await;
            assert_eq!(mine.status(), 200);
            assert_ne!(cache_status(&mine), "HIT");
            let body = mine.text().await.unwrap();
            assert!(body.contains(own) && !body.contains(other), "{body}");
        }
    }
    // A product's own page is cached too, and revalidates to 304.
    let id = app.new_product(&alice, "Kettle", 7.0).await["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/products/{id}");
    assert_eq!(
        cache_status(&send(client.get(nginx.url(&path))).await),
        "MISS"
    );
    let hit = send(client.get(nginx.url(&path))).await;
    assert_eq!(cache_status(&hit), "HIT");
    let tag = hit.headers()["etag"].to_str().unwrap().to_owned();
    let revalidated = send(client.get(nginx.url(&path)).header("if-none-match", &tag)).await;
    assert_eq!(revalidated.status(), 304);
    // The access log says how the cache answered each request.
    let log = nginx.access_log();
    let line = |request: &str, cache: &str| {
        log.lines()
            .any(|l| l.contains(request) && l.contains(&format!(" cache={cache} ")))
    };
    assert!(line("GET /api/products HTTP", "MISS"), "{log}");
    assert!(line("GET /api/products HTTP", "HIT"), "{log}");
    assert!(line("GET /api/products HTTP", "BYPASS"), "{log}");
    // `/my` is not even routed through the cache.
    assert!(line("GET /api/products/my HTTP", "-"), "{log}");
}

/// A write shows through the cache within `max-age` (1 s) plus 1 s, the
/// most nginx's whole-second expiry adds: the first read past `max-age`
/// asks the app. A deletion's 404 replaces the copy for good, as an
/// edit's new body does.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_shows_through_the_cache_within_max_age_and_a_second() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("writer").await;
    let id = app.new_product(&owner, "Lamp", 5.0).await["id"]
        .as_i64()
        .unwrap();
    let nginx = Nginx::start(app.addr).await;
    let client = reqwest::Client::new();
    let path = format!("/api/products/{id}");
    let read = || async {
        let response = send(client.get(nginx.url(&path))).await;
        let cached = cache_status(&response);
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (status, body["price"].as_f64(), cached)
    };
    // Reads every 50 ms until `shown` holds; answers when, after the
    // write, the last read that did not show it was sent.
    let until = |shown: fn(u16, Option<f64>) -> bool| async move {
        let written = tokio::time::Instant::now();
        let mut last_old = Duration::ZERO;
        loop {
            let sent = written.elapsed();
            let (status, price, _) = read().await;
            if shown(status, price) {
                return last_old;
            }
            last_old = sent;
            assert!(sent < Duration::from_secs(5), "never shown");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let bound = Duration::from_secs(2);
    assert_eq!(read().await, (200, Some(5.0), "MISS".to_owned()));
    assert_eq!(read().await, (200, Some(5.0), "HIT".to_owned()));
    app.edit_product(&owner.access_token, id, &json!({"price": 9}))
        .await;
    let old = until(|status, price| (status, price) == (200, Some(9.0))).await;
    assert!(old < bound, "a read sent {old:?} after the edit missed it");
    assert_eq!(
        app.delete_product(&owner.access_token, id).await.status(),
        204
    );
    let old = until(|status, _| status == 404).await;
    assert!(
        old < bound,
        "a read sent {old:?} after the deletion missed it"
    );
    // The 404 replaced the copy: no later read brings the product back,
    // across several expiries, not even one sent while another refreshes
    // the entry (which nginx answers from the entry).
    let watched = tokio::time::Instant::now();
    while watched.elapsed() < Duration::from_secs(3) {
        let mut round = tokio::task::JoinSet::new();
        for n in 0..8u8 {
            let request = client_from(n + 2).get(nginx.url(&path));
            round.spawn(async move {
                let response = request.send().await.unwrap();
                (response.status().as_u16(), cache_status(&response))
            });
        }
        for (status, cached) in round.join_all().await {
            assert_eq!(status, 404, "the deleted product came back ({cached})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A new product enters the cached first page within `max-age` plus a
/// second, and the page's tag, revalidated through nginx, answers 304
/// until then and a new page after.
#[tokio::test(flavor = "multi_thread")]
async fn a_created_product_enters_the_cached_page_and_its_tag_revalidates() {
    let app = TestApp::spawn().await;
    let owner = app.new_user("creator").await;
    app.new_product(&owner, "Lamp", 5.0).await;
    let nginx = Nginx::start(app.addr).await;
    let client = reqwest::Client::new();
    let first = send(client.get(nginx.url("/api/products"))).await;
    assert_eq!(cache_status(&first), "MISS");
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(tag.starts_with("W/\""), "{tag}");
    let revalidated = send(
        client
            .get(nginx.url("/api/products"))
            .header("if-none-match", &tag),
    )
    .await;
    assert_eq!(revalidated.status(), 304);
    assert_eq!(revalidated.headers()["etag"], tag.as_str());
    assert!(revalidated.bytes().await.unwrap().is_empty());

    let id = app.new_product(&owner, "Kettle", 7.0).await["id"].clone();
    let created = tokio::time::Instant::now();
    let mut last_old = Duration::ZERO;
    loop {
        let sent = created.elapsed();
        let response = send(
            client
                .get(nginx.url("/api/products"))
                .header("if-none-match", &tag),
        )
        .await;
        if response.status() == 200 {
            assert_ne!(response.headers()["etag"], tag.as_str());
            let page: Value = response.json().await.unwrap();
            assert_eq!(page["items"][0]["id"], id, "{page}");
            break;
        }
        assert_eq!(response.status(), 304, "the old page, unchanged");
        last_old = sent;
        assert!(sent < Duration::from_secs(5), "never shown");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        last_old < Duration::from_secs(2),
        "a read sent {last_old:?} after the create missed it"
    );
}

/// 100 anonymous requests at once, from 100 addresses, for a key nothing
/// has cached reach the app once: the others wait for that one's answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_stampede_on_a_cold_key_reaches_the_app_once() {
    let binary = crate::binary::Binary::start(&[("MAX_CONNECTIONS_PER_CLIENT", "256")]).await;
    let addr: SocketAddr = format!("127.0.0.1:{}", binary.port).parse().unwrap();
    let nginx = Nginx::start(addr).await;
    let listed = |text: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(
                    "catalog_http_requests_total{operation=\"listProducts\",status=\"2xx\"}",
                )
            })
            .map_or(0.0, |v| v.trim().parse::<f64>().unwrap())
    };
    let before = listed(&binary.metrics().await);
    // From 100 addresses, each within nginx's per-address rate limit.
    let mut stampede = tokio::task::JoinSet::new();
    for n in 0..100u8 {
        let request = client_from(n + 2).get(nginx.url("/api/products?sort=price&limit=7"));
        stampede.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let statuses = stampede.join_all().await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(listed(&binary.metrics().await) - before, 1.0);
}
