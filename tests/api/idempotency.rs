//! Safe retries of create with `Idempotency-Key`.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, TestUser, assert_problem, send};

async fn create_with_key(
    app: &TestApp,
    user: &TestUser,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    create_as(app, &user.access_token, key, body).await
}

async fn create_as(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    send(
        app.authed(Method::POST, "/api/products", token)
            .header("idempotency-key", key)
            .json(body),
    )
    .await
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retry_with_the_same_key_gets_the_same_answer_and_no_second_product() {
    let app = TestApp::spawn().await;
    let user = app.new_user("retrier").await;
    let body = json!({"name": "Umbrella", "description": "Folding", "price": 15.5});
    let first = create_with_key(&app, &user, "order-42", &body).await;
    assert_eq!(first.status(), 201);
    assert_eq!(header(&first, "idempotent-replayed"), None);
    let (location, etag) = (header(&first, "location"), header(&first, "etag"));
    let first_body: Value = first.json().await.unwrap();

    // The same request again, with its keys in another order: the same
    // product, marked as a replay.
    app.time.advance(Duration::from_secs(60));
    let reordered = json!({"price": 15.5, "description": "Folding", "name": "Umbrella"});
    let again = create_with_key(&app, &user, "order-42", &reordered).await;
    assert_eq!(again.status(), 201);
    assert_eq!(
        header(&again, "idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(header(&again, "location"), location);
    assert_eq!(header(&again, "etag"), etag);
    assert_eq!(again.json::<Value>().await.unwrap(), first_body);
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 1);

    // The replay is the answer the first request got, even after an edit.
    let id = first_body["id"].as_i64().unwrap();
    app.edit_product(&user.access_token, id, &json!({"price": 20}))
        .await;
    let later = create_with_key(&app, &user, "order-42", &body).await;
    assert_eq!(later.json::<Value>().await.unwrap(), first_body);

    // Another key is another product.
    let other = create_with_key(&app, &user, "order-43", &body).await;
    assert_eq!(other.status(), 201);
    assert_eq!(header(&other, "idempotent-replayed"), None);
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_key_with_another_request_is_422() {
    let app = TestApp::spawn().await;
    let user = app.new_user("mixer").await;
    let body = json!({"name": "Lamp", "price": 10});
    assert_eq!(
        create_with_key(&app, &user, "k1", &body).await.status(),
        201
    );
    for changed in [
        json!({"name": "Lamp", "price": 11}),
        json!({"name": "lamp", "price": 10}),
        json!({"name": "Lamp", "price": 10, "description": "new"}),
    ] {
        let response = create_with_key(&app, &user, "k1", &changed).await;
        let problem = assert_problem(response, 422, Some("Idempotency-Key")).await;
        assert_eq!(
            problem["type"],
            "urn:catalog:problem:idempotency-key-reused"
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 1);
    // Keys are per user: another user's same key is theirs alone.
    let neighbour = app.new_user("neighbour").await;
    let theirs = create_with_key(&app, &neighbour, "k1", &json!({"name": "Rug", "price": 3})).await;
    assert_eq!(theirs.status(), 201);
    assert_eq!(header(&theirs, "idempotent-replayed"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_retries_create_one_product() {
    let app = TestApp::spawn().await;
    let user = app.new_user("flaky_network").await;
    let body = json!({"name": "Bike", "price": 250});
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let request = app
            .authed(Method::POST, "/api/products", &user.access_token)
            .header("idempotency-key", "checkout-7")
            .json(&body);
        requests.spawn(async move {
            let response = send(request).await;
            let status = response.status().as_u16();
            let replayed = header(&response, "idempotent-replayed").is_some();
            let body: Value = response.json().await.unwrap();
            (status, replayed, body["id"].as_i64())
        });
    }
    let results = requests.join_all().await;
    assert!(
        results.iter().all(|(status, _, _)| *status == 201),
        "{results:?}"
    );
    let fresh = results.iter().filter(|(_, replayed, _)| !replayed).count();
    assert_eq!(fresh, 1, "{results:?}");
    let first_id = results[0].2;
    assert!(results.iter().all(|(_, _, id)| *id == first_id));
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_last_24_hours_and_are_purged_after() {
    let app = TestApp::spawn().await;
    let user = app.new_user("patient_buyer").await;
    let body = json!({"name": "Tent", "price": 80});
    assert_eq!(
        create_with_key(&app, &user, "trip", &body).await.status(),
        201
    );
    app.time.advance(Duration::from_secs(24 * 3600 - 1));
    // (A day on, the access token has long expired.)
    let token = app.access_token(&user.username, PASSWORD).await;
    let within = create_as(&app, &token, "trip", &body).await;
    assert_eq!(within.status(), 201);
    assert_eq!(
        header(&within, "idempotent-replayed").as_deref(),
        Some("true")
    );
    // A day on, the key is forgotten: the same request makes a new product.
    app.time.advance(Duration::from_secs(1));
    let after = create_as(&app, &token, "trip", &body).await;
    assert_eq!(after.status(), 201);
    assert_eq!(header(&after, "idempotent-replayed"), None);
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 2);

    // The hourly purge deletes keys past their day.
    assert_eq!(app.count("SELECT COUNT(*) FROM idempotency_keys").await, 1);
    app.time.advance(Duration::from_secs(25 * 3600));
    let mut left = 1;
    for _ in 0..100 {
        left = app.count("SELECT COUNT(*) FROM idempotency_keys").await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0, "expired keys left after the purge");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_key_is_400_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let user = app.new_user("typo").await;
    let body = json!({"name": "Cup", "price": 2});
    for bad in ["has space", &"k".repeat(256)] {
        let response = create_with_key(&app, &user, bad, &body).await;
        assert_problem(response, 400, Some("Idempotency-Key")).await;
    }
    let twice = send(
        app.authed(Method::POST, "/api/products", &user.access_token)
            .header("idempotency-key", "a")
            .header("idempotency-key", "b")
            .json(&body),
    )
    .await;
    assert_problem(twice, 400, Some("Idempotency-Key")).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM products").await, 0);
}
