//! Input an attacker would send: Unicode whose case mapping changes its
//! length, invisible characters, duplicate JSON keys, other spellings of
//! an id, two Authorization headers, a body in another charset. Each gets
//! a 4xx problem naming what is wrong, never a 500 and never a second
//! account that looks like the first.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_problem, send};

#[tokio::test(flavor = "multi_thread")]
async fn text_that_lengthens_when_lower_cased_is_no_500() {
    let app = TestApp::spawn().await;
    // U+0130 lower-cases to two characters: 120 of them make 240.
    let email = format!("{}@x.io", "İ".repeat(115));
    let signup = app
        .signup(&json!({"username": "dotted", "email": email, "password": PASSWORD}))
        .await;
    assert_eq!(signup.status(), 201);
    assert_eq!(app.login(&email, PASSWORD).await.status(), 200);
    // Lower-cased, it is too long to be a login name (a plain 400), but
    // the address itself is taken.
    assert_problem(
        app.login(&email.to_lowercase(), PASSWORD).await,
        400,
        Some("username"),
    )
    .await;
    let again = app
        .signup(&json!({"username": "dotted2", "email": email, "password": PASSWORD}))
        .await;
    assert_problem(again, 409, Some("email")).await;
    // An unknown name of the same kind is counted by the throttle, not 500.
    let unknown = "İ".repeat(120);
    assert_problem(app.login(&unknown, "wrong").await, 401, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn emails_with_invisible_or_control_characters_are_refused() {
    let app = TestApp::spawn().await;
    app.new_user("zwx").await;
    for email in [
        "zw\u{200b}@x.io",
        "zw\u{0}@x.io",
        "zw\u{202e}@x.io",
        "z\u{ad}w@x.io",
    ] {
        let response = app
            .signup(&json!({"username": "lookalike", "email": email, "password": PASSWORD}))
            .await;
        let body = assert_problem(response, 400, Some("email")).await;
        assert!(
            body["detail"].as_str().unwrap().contains("control"),
            "{body}"
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn product_names_of_invisible_characters_are_blank() {
    let app = TestApp::spawn().await;
    let user = app.new_user("shop").await;
    for name in [
        "\u{200b}",
        "\u{0}",
        "\u{2800}",
        "\u{3164}",
        "\u{feff} \u{2060}",
    ] {
        let response = app
            .create_product(&user.access_token, &json!({"name": name, "price": 1}))
            .await;
        assert_problem(response, 400, Some("name")).await;
    }
    let response = app
        .create_product(
            &user.access_token,
            &json!({"name": "ok", "description": "a\u{7}b", "price": 1}),
        )
        .await;
    assert_problem(response, 400, Some("description")).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_json_key_given_twice_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    let body = format!(
        r#"{{"username": "first", "email": "d@x.io", "password": "{PASSWORD}", "username": "second"}}"#
    );
    let response = send(
        app.client
            .post(app.url("/api/auth/signup"))
            .header(CONTENT_TYPE, "application/json")
            .body(body),
    )
    .await;
    let problem = assert_problem(response, 400, Some("username")).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("more than once")
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_are_plain_digits_only() {
    let app = TestApp::spawn().await;
    let user = app.new_user("owner").await;
    let product = app.new_product(&user, "Cup", 2.5).await;
    let id = product["id"].as_i64().unwrap();
    assert_eq!(app.get_product(id).await.status(), 200);
    for other in [
        format!("+{id}"),
        format!("0{id}"),
        format!("{id}.0"),
        "-1".into(),
        "0".into(),
    ] {
        assert_problem(app.get_product(&other).await, 400, Some("id")).await;
        let response = app.delete_product(&user.access_token, &other).await;
        let body = assert_problem(response, 400, Some("id")).await;
        assert!(
            body["detail"].as_str().unwrap().starts_with("`id` must be"),
            "{body}"
        );
    }
    assert_eq!(app.get_product(id).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn parameter_errors_read_like_field_errors() {
    let app = TestApp::spawn().await;
    for (query, detail) in [
        (
            "?limit=0",
            "`limit` must be a whole number between 1 and 100",
        ),
        (
            "?limit=101",
            "`limit` must be a whole number between 1 and 100",
        ),
        (
            "?limit=abc",
            "`limit` must be a whole number between 1 and 100",
        ),
        ("?limit=5&limit=6", "`limit` must be given only once"),
    ] {
        let body = assert_problem(app.list_products(query).await, 400, Some("limit")).await;
        assert_eq!(body["detail"], detail, "{query}");
    }
    let long = "a".repeat(201);
    let body = assert_problem(
        app.list_products(&format!("?cursor={long}")).await,
        400,
        Some("cursor"),
    )
    .await;
    assert!(!body["detail"].as_str().unwrap().contains("failed to parse"));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_authorization_headers_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.new_user("doubled").await;
    let bearer = format!("Bearer {}", user.access_token);
    let response = send(
        app.client
            .get(app.url("/api/auth/me"))
            .header(AUTHORIZATION, &bearer)
            .header(AUTHORIZATION, &bearer),
    )
    .await;
    assert_problem(response, 401, None).await;
    let refresh = format!("Bearer {}", user.refresh_token);
    let response = send(
        app.client
            .post(app.url("/api/auth/refresh"))
            .header(AUTHORIZATION, &refresh)
            .header(AUTHORIZATION, &refresh),
    )
    .await;
    assert_problem(response, 401, None).await;
    // The refresh token was not spent by the refused request.
    assert_eq!(app.refresh(&user.refresh_token).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_in_another_charset_gets_415() {
    let app = TestApp::spawn().await;
    let user = app.new_user("latin").await;
    let response = send(
        app.authed(reqwest::Method::POST, "/api/products", &user.access_token)
            .header(CONTENT_TYPE, "application/json; charset=latin1")
            .body(b"{\"name\": \"caf\xe9\", \"price\": 1}".to_vec()),
    )
    .await;
    assert_problem(response, 415, Some("Content-Type")).await;
    let response = send(
        app.authed(reqwest::Method::POST, "/api/products", &user.access_token)
            .header(CONTENT_TYPE, "application/json; charset=UTF-8")
            .body("{\"name\": \"café\", \"price\": 1}"),
    )
    .await;
    assert_eq!(response.status(), 201);
}

/// Text a fuzzer would send: any character at all, weighted towards the
/// ones that have broken services before (case mappings that change
/// length, invisible and control characters, combining marks, bidi
/// overrides, characters outside the Basic Multilingual Plane).
/// `text` percent-encoded for a query string, every byte but the
/// unreserved ones.
fn encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hostile_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let tricky = prop::sample::select(vec![
        'İ',
        'ß',
        'ﬃ',
        'ŉ',
        'ΐ',
        'Σ',
        'ς',
        '\u{0}',
        '\u{7}',
        '\u{1b}',
        '\u{7f}',
        '\u{85}',
        '\u{ad}',
        '\u{200b}',
        '\u{200d}',
        '\u{202e}',
        '\u{2066}',
        '\u{feff}',
        '\u{2800}',
        '\u{3164}',
        '\u{301}',
        '\u{fffd}',
        '\u{e0001}',
        '\u{1f600}',
        '@',
        '"',
        '\\',
        ' ',
    ]);
    let character =
        prop_oneof![3 => any::<char>(), 2 => tricky, 1 => proptest::char::range('a', 'z')];
    proptest::collection::vec(character, 0..300).prop_map(String::from_iter)
}

#[tokio::test(flavor = "multi_thread")]
async fn arbitrary_unicode_in_any_text_field_never_gets_a_5xx() {
    use proptest::test_runner::{Config, TestRunner};

    // Every guess here comes from one address: no limit may stop the
    // input before the parsers see it.
    let app = TestApp::spawn_with(&[
        ("LOGIN_MAX_FAILURES", "1000000"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "1000000"),
        ("LOGIN_MAX_FAILURES_PER_CLIENT", "1000000"),
    ])
    .await;
    let user = app.new_user("fuzzed").await;
    let product = app.new_product(&user, "fuzzed product", 1.0).await["id"]
        .as_i64()
        .unwrap();
    let runtime = tokio::runtime::Handle::current();
    let strategy = (
        hostile_text(),
        hostile_text(),
        hostile_text(),
        hostile_text(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 128,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&strategy, |(a, b, c, d)| {
        tokio::task::block_in_place(|| {
            runtime.block_on(async {
                let token = &user.access_token;
                let responses = [
                    app.signup(&json!({"username": a, "email": b, "password": c})).await,
                    app.signup(&json!({"username": "ok_name", "email": format!("{a}@{b}"), "password": PASSWORD})).await,
                    app.login(&a, &c).await,
                    app.login(&format!("{a}@{b}"), &d).await,
                    app.post_json("/api/auth/login", &json!({"username": "fuzzed", "password": a, "device_token": b})).await,
                    app.change_password(token, &json!({"current_password": c, "new_password": d})).await,
                    app.create_product(token, &json!({"name": a, "description": b, "price": 1})).await,
                    app.create_product(token, &json!({"name": "ok", "description": c, "price": d})).await,
                    app.edit_product(token, product, &json!({"name": a, "description": b})).await,
                    app.list_products(&format!("?q={}", encoded(&a))).await,
                    app.list_products(&format!("?owner={}&sort={}", encoded(&b), encoded(&c))).await,
                    app.list_products(&format!("?min_price={}&max_price={}", encoded(&c), encoded(&d))).await,
                    app.my_products(token, &format!("?q={}&cursor={}", encoded(&d), encoded(&a))).await,
                ];
                for (i, response) in responses.into_iter().enumerate() {
                    let status = response.status().as_u16();
                    let content_type = response.headers().get("content-type").cloned();
                    let body = response.text().await.unwrap();
                    proptest::prop_assert!(status < 500, "request {i}: {status} {body}");
                    if status >= 400 {
                        proptest::prop_assert_eq!(
                            content_type.as_ref().and_then(|v| v.to_str().ok()),
                            Some("application/problem+json"),
                            "request {}: {}", i, body
                        );
                    }
                }
                Ok(())
            })
        })
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Sends the same request 50 times at once and answers the statuses.
async fn fifty_at_once(make: impl Fn() -> reqwest::RequestBuilder) -> Vec<u16> {
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let request = make();
        requests.spawn(async move { send(request).await.status().as_u16() });
    }
    requests.join_all().await
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_identical_signups_make_one_account() {
    let app = TestApp::spawn().await;
    let body = json!({"username": "twin", "email": "twin@x.io", "password": PASSWORD});
    let statuses = fifty_at_once(|| app.client.post(app.url("/api/auth/signup")).json(&body)).await;
    assert_eq!(
        (count(&statuses, 201), count(&statuses, 409)),
        (1, 49),
        "{statuses:?}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_identical_deletes_delete_once() {
    let app = TestApp::spawn().await;
    let user = app.new_user("deleter").await;
    let id = app.new_product(&user, "Once", 1.0).await["id"]
        .as_i64()
        .unwrap();
    let statuses = fifty_at_once(|| {
        app.authed(
            reqwest::Method::DELETE,
            &format!("/api/products/{id}"),
            &user.access_token,
        )
    })
    .await;
    assert_eq!(
        (count(&statuses, 204), count(&statuses, 404)),
        (1, 49),
        "{statuses:?}"
    );
}

/// A key a body's schema does not name is ignored, as the spec allows,
/// and never reaches the record: a `role` at signup makes no admin, an
/// `owner` or `id` in an edit moves nothing, an edit with only unknown
/// keys is refused as changing nothing.
#[tokio::test(flavor = "multi_thread")]
async fn keys_a_body_does_not_name_change_nothing() {
    let app = TestApp::spawn().await;
    let signup = app
        .signup(&json!({
            "username": "keys", "email": "keys@example.com", "password": PASSWORD,
            "role": "admin", "id": 999
        }))
        .await;
    assert_eq!(signup.status(), 201);
    let token = app.access_token("keys", PASSWORD).await;
    let me: serde_json::Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["role"], "user");
    assert_ne!(me["id"], 999);

    let other = app.new_user("other").await;
    let created = app
        .create_product(
            &token,
            &json!({"name": "Mug", "price": 5, "prise": 50, "version": 9}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let product: serde_json::Value = app.get_product(id).await.json().await.unwrap();
    assert_eq!(product["price"], 5.0);
    let edit = app
        .edit_product(
            &token,
            id,
            &json!({"price": 6, "owner": {"id": other.id, "username": "other"}, "id": 1}),
        )
        .await;
    assert_eq!(edit.status(), 200);
    let product: serde_json::Value = app.get_product(id).await.json().await.unwrap();
    assert_eq!(product["price"], 6.0);
    assert_eq!(product["owner"]["username"], "keys");
    let nothing = app.edit_product(&token, id, &json!({"prise": 7})).await;
    assert_problem(nothing, 400, Some("body")).await;
}
