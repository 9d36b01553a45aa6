//! Token misuse: every kind of bad bearer token gets 401 with
//! `WWW-Authenticate: Bearer` and a problem body.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use catalog::domain::tokens::key_id;
use secrecy::SecretString;

use crate::helpers::{
    TEST_SECRET, TestApp, admin_sql, assert_problem, database_url, send, test_config,
};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(user_id: i64, typ: &str) -> Value {
    json!({
        "iss": "catalog", "aud": "catalog-api", "sub": user_id.to_string(),
        "iat": now(), "exp": now() + 600, "jti": "test-jti", "typ": typ, "ver": 0,
    })
}

/// Signs `claims` with `key`, naming the test app's key as the `kid`, so
/// only the signature (or algorithm) can be what is wrong.
fn sign(claims: &Value, alg: Algorithm, key: &str) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(key_id(&SecretString::from(TEST_SECRET)));
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

fn unsigned(claims: &Value) -> String {
    let kid = key_id(&SecretString::from(TEST_SECRET));
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#));
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.")
}

/// Sends `token` to an access-token operation (GET /api/auth/me), asserts
/// that it is refused with a 401 problem, and returns the problem.
async fn refused_by_me(app: &TestApp, token: &str) -> Value {
    assert_problem(app.me(token).await, 401, None).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_token_with_the_right_key_is_accepted() {
    // The control for the tests below: the forging helper itself works.
    let app = TestApp::spawn().await;
    let user = app.new_user("control").await;
    let token = sign(&claims(user.id, "access"), Algorithm::HS256, TEST_SECRET);
    assert_eq!(app.me(&token).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_access_tokens_are_401() {
    let app = TestApp::spawn().await;
    let user = app.new_user("victim").await;
    let id = user.id;

    let mut expired = claims(id, "access");
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    let mut not_yet = claims(id, "access");
    not_yet["nbf"] = json!(now() + 3600);
    let mut other_issuer = claims(id, "access");
    other_issuer["iss"] = json!("someone-else");
    let mut other_audience = claims(id, "access");
    other_audience["aud"] = json!("another-api");
    let mut no_type = claims(id, "access");
    no_type.as_object_mut().unwrap().remove("typ");
    let mut no_exp = claims(id, "access");
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut bad_subject = claims(id, "access");
    bad_subject["sub"] = json!("not-a-number");

    let mut tampered = user.access_token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let parts: Vec<&str> = user.access_token.split('.').collect();
    let mut elevated = claims(id + 1000, "access");
    elevated["jti"] = json!("x");
    let swapped_payload = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(elevated.to_string()),
        parts[2]
    );

    let cases = [
        ("garbage", "not-a-jwt".to_owned()),
        ("empty segments", "..".to_owned()),
        ("tampered signature", tampered),
        ("swapped payload", swapped_payload),
        ("expired", sign(&expired, Algorithm::HS256, TEST_SECRET)),
        (
            "not yet valid",
            sign(&not_yet, Algorithm::HS256, TEST_SECRET),
        ),
        (
            "other key",
            sign(
                &claims(id, "access"),
                Algorithm::HS256,
                "another-secret-of-sufficient-length-xxxxx",
            ),
        ),
        (
            "HS512",
            sign(&claims(id, "access"), Algorithm::HS512, TEST_SECRET),
        ),
        ("alg none", unsigned(&claims(id, "access"))),
        (
            "other issuer",
            sign(&other_issuer, Algorithm::HS256, TEST_SECRET),
        ),
        (
            "other audience",
            sign(&other_audience, Algorithm::HS256, TEST_SECRET),
        ),
        ("no type", sign(&no_type, Algorithm::HS256, TEST_SECRET)),
        ("no expiry", sign(&no_exp, Algorithm::HS256, TEST_SECRET)),
        (
            "bad subject",
            sign(&bad_subject, Algorithm::HS256, TEST_SECRET),
        ),
        ("refresh token", user.refresh_token.clone()),
        ("unknown kid", {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("0000000000000000".into());
            jsonwebtoken::encode(
                &header,
                &claims(id, "access"),
                &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
            )
            .unwrap()
        }),
        (
            "no kid",
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims(id, "access"),
                &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
            )
            .unwrap(),
        ),
        ("old token version", {
            let mut old = claims(id, "access");
            old["ver"] = json!(-1);
            sign(&old, Algorithm::HS256, TEST_SECRET)
        }),
    ];
    for (what, token) in cases {
        let body = refused_by_me(&app, &token).await;
        assert!(body["detail"].is_string(), "{what}");
        let create = app
            .create_product(&token, &json!({"name": "x", "price": 1}))
            .await;
        assert_problem(create, 401, None).await;
    }
    let expired_body = refused_by_me(&app, &sign(&expired, Algorithm::HS256, TEST_SECRET)).await;
    assert!(expired_body["detail"].as_str().unwrap().contains("expired"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_access_token_cannot_refresh() {
    let app = TestApp::spawn().await;
    let user = app.new_user("mixup").await;
    let body = assert_problem(app.refresh(&user.access_token).await, 401, None).await;
    assert!(body["detail"].as_str().unwrap().contains("refresh token"));
    for token in [
        unsigned(&claims(user.id, "refresh")),
        sign(&claims(user.id, "refresh"), Algorithm::HS384, TEST_SECRET),
        "garbage".to_owned(),
    ] {
        assert_problem(app.refresh(&token).await, 401, None).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_or_non_bearer_authorization_is_401() {
    let app = TestApp::spawn().await;
    for path in ["/api/auth/me", "/api/products/my"] {
        assert_problem(app.get(path).await, 401, None).await;
        let basic = send(
            app.client
                .get(app.url(path))
                .header("authorization", "Basic dXNlcjpwYXNz"),
        )
        .await;
        assert_problem(basic, 401, None).await;
    }
    let create = send(
        app.client
            .post(app.url("/api/products"))
            .json(&json!({"name": "x", "price": 1})),
    )
    .await;
    assert_problem(create, 401, None).await;
    let delete = send(app.client.delete(app.url("/api/products/1"))).await;
    assert_problem(delete, 401, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_of_a_vanished_account_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.new_user("ghost").await;
    admin_sql(
        Some(&app.database),
        &[format!("DELETE FROM users WHERE id = {}", user.id)],
    )
    .await;
    assert_problem(app.me(&user.access_token).await, 401, None).await;
    assert_problem(app.refresh(&user.refresh_token).await, 401, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_signed_with_a_previous_key_still_verify_but_new_ones_use_the_current_key() {
    const OLD: &str = "the-key-we-used-last-month-0123456789";
    // The app used to run with OLD as its only key.
    let mut before = TestApp::spawn_with(&[("JWT_SECRET_KEY", OLD)]).await;
    let user = before.new_user("rotator").await;
    before.stop().await;

    // Now it signs with TEST_SECRET and lists OLD as previous.
    let database = before.database.clone();
    let config = test_config(
        &database_url(&database),
        &[("JWT_PREVIOUS_SECRET_KEYS", OLD)],
    );
    let after = TestApp::start(config, database.clone()).await;
    assert_eq!(
        after.me(&user.access_token).await.status(),
        200,
        "old access token verifies"
    );
    let refreshed: Value = after
        .refresh(&user.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    let new_access = refreshed["access_token"].as_str().unwrap();
    let kid = jsonwebtoken::decode_header(new_access).unwrap().kid;
    assert_eq!(
        kid,
        Some(key_id(&SecretString::from(TEST_SECRET))),
        "signed with the current key"
    );
    assert_eq!(after.me(new_access).await.status(), 200);

    // Without OLD in the ring, its tokens are refused.
    let config = test_config(&database_url(&database), &[]);
    let retired = TestApp::start(config, database).await;
    assert_problem(retired.me(&user.access_token).await, 401, None).await;
}
