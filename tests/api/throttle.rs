//! Per-account login throttling, kept in the database.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_problem, send, stable_header_names};

async fn fail(app: &TestApp, name: &str, times: usize) {
    for _ in 0..times {
        assert_problem(app.login(name, "wrong password").await, 401, None).await;
    }
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_failures_lock_the_account_with_429_and_retry_after() {
    let app = TestApp::spawn().await;
    app.new_user("target").await;
    fail(&app, "target", 10).await;

    let locked = app.login("target", "wrong password").await;
    let wait = retry_after(&locked);
    assert!((1..=900).contains(&wait), "{wait}");
    assert_problem(locked, 429, None).await;
    // Even the right password waits out the window.
    let right = app.login("target", PASSWORD).await;
    assert!(retry_after(&right) <= wait);
    assert_problem(right, 429, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_names_are_throttled_the_same_way() {
    let app = TestApp::spawn().await;
    app.new_user("real").await;
    fail(&app, "real", 10).await;
    fail(&app, "imaginary", 10).await;
    let known = app.login("real", "wrong password").await;
    let unknown = app.login("imaginary", "wrong password").await;
    assert_eq!(stable_header_names(&known), stable_header_names(&unknown));
    let mut a = assert_problem(known, 429, None).await;
    let mut b = assert_problem(unknown, 429, None).await;
    for body in [&mut a, &mut b] {
        body["request_id"] = json!(null);
        body["detail"] = json!(null);
    }
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_successful_login_clears_the_count() {
    let app = TestApp::spawn().await;
    app.new_user("forgetful").await;
    fail(&app, "forgetful", 9).await;
    assert_eq!(app.login("forgetful", PASSWORD).await.status(), 200);
    fail(&app, "forgetful", 9).await;
    assert_eq!(app.login("forgetful", PASSWORD).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_count_is_per_account_whatever_name_is_used() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "4")]).await;
    let user = app.new_user("twonames").await;
    app.new_user("bystander").await;
    fail(&app, "twonames", 2).await;
    fail(&app, &user.email.to_uppercase(), 2).await;
    assert_problem(app.login(&user.email, PASSWORD).await, 429, None).await;
    assert_problem(app.login("TWONAMES", PASSWORD).await, 429, None).await;
    assert_eq!(app.login("bystander", PASSWORD).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lockout_ends_when_the_window_passes() {
    // The default window: 15 minutes from the first counted check.
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    app.new_user("patient").await;
    fail(&app, "patient", 3).await;
    app.time.advance(Duration::from_secs(10 * 60));
    let locked = app.login("patient", PASSWORD).await;
    assert_eq!(retry_after(&locked), 5 * 60);
    assert_problem(locked, 429, None).await;
    app.time.advance(Duration::from_secs(5 * 60 - 1));
    assert_problem(app.login("patient", PASSWORD).await, 429, None).await;
    app.time.advance(Duration::from_secs(1));
    assert_eq!(app.login("patient", PASSWORD).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_current_passwords_count_too() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "3")]).await;
    let user = app.new_user("guessed").await;
    for _ in 0..3 {
        let response = app
            .change_password(
                &user.access_token,
                &json!({"current_password": "guess", "new_password": "a new password"}),
            )
            .await;
        assert_problem(response, 403, Some("current_password")).await;
    }
    let response = app
        .change_password(
            &user.access_token,
            &json!({"current_password": PASSWORD, "new_password": "a new password"}),
        )
        .await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 429, None).await;
    assert_problem(app.login("guessed", PASSWORD).await, 429, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_concurrent_burst_gets_no_more_checks_than_the_limit() {
    let app = TestApp::spawn().await;
    app.new_user("besieged").await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let client = app.client.clone();
        let url = app.url("/api/auth/login");
        attempts.spawn(async move {
            let body = json!({"username": "besieged", "password": "wrong password"});
            send(client.post(url).json(&body)).await.status().as_u16()
        });
    }
    let statuses = attempts.join_all().await;
    let count = |status: u16| statuses.iter().filter(|s| **s == status).count();
    assert_eq!((count(401), count(429)), (10, 90), "{statuses:?}");
    assert_problem(app.login("besieged", PASSWORD).await, 429, None).await;
}
