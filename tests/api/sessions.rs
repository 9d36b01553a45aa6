//! Stored, rotating refresh tokens: rotation, reuse detection, logout,
//! password changes and expiry.

use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, TestUser, assert_problem, send};

async fn login_tokens(app: &TestApp, name: &str, password: &str) -> (String, String) {
    let response = app.login(name, password).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refreshed(app: &TestApp, refresh_token: &str) -> (String, String) {
    let response = app.refresh(refresh_token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn each_refresh_consumes_its_token_and_hands_out_the_next() {
    let app = TestApp::spawn().await;
    let user = app.new_user("rotating").await;
    let (access2, refresh2) = refreshed(&app, &user.refresh_token).await;
    assert_ne!(refresh2, user.refresh_token);
    assert_eq!(app.me(&access2).await.status(), 200);
    let (_, refresh3) = refreshed(&app, &refresh2).await;
    let (_, _) = refreshed(&app, &refresh3).await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NOT NULL")
            .await,
        3
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NULL")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reusing_a_refresh_token_revokes_its_whole_family() {
    let app = TestApp::spawn().await;
    let user = app.new_user("leaky").await;
    let (_, other_session_refresh) = login_tokens(&app, "leaky", PASSWORD).await;
    let (_, newest) = refreshed(&app, &user.refresh_token).await;

    // The first token shows up again: someone else has a copy.
    let body = assert_problem(app.refresh(&user.refresh_token).await, 401, None).await;
    assert!(
        body["detail"].as_str().unwrap().contains("already used"),
        "{body}"
    );
    // So the newest token of that family is dead too.
    assert_problem(app.refresh(&newest).await, 401, None).await;
    // Another login's session is untouched.
    refreshed(&app, &other_session_refresh).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_refreshes_with_one_token_give_exactly_one_success() {
    let app = TestApp::spawn().await;
    app.new_user("racer").await;
    // The winner inserts the next token while the others wait for the
    // row of this one; whether that insert lands next to the waited-for
    // row is down to the random token, so one round proves little.
    for round in 0..12 {
        let (_, token) = login_tokens(&app, "racer", PASSWORD).await;
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let client = app.client.clone();
            let url = app.url("/api/auth/refresh");
            let token = token.clone();
            requests.spawn(async move {
                let response = send(client.post(url).bearer_auth(token)).await;
                response.status().as_u16()
            });
        }
        let statuses = requests.join_all().await;
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "round {round}: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 401),
            "round {round}: {statuses:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_that_session_only() {
    let app = TestApp::spawn().await;
    let user = app.new_user("leaving").await;
    let (_, second) = login_tokens(&app, "leaving", PASSWORD).await;

    let response = app.logout(&user.refresh_token).await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());
    assert_problem(app.refresh(&user.refresh_token).await, 401, None).await;
    refreshed(&app, &second).await;
    // Logging out again is harmless.
    assert_eq!(app.logout(&user.refresh_token).await.status(), 204);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_needs_a_refresh_token() {
    let app = TestApp::spawn().await;
    let user = app.new_user("confused").await;
    assert_problem(app.logout(&user.access_token).await, 401, None).await;
    assert_problem(app.logout("garbage").await, 401, None).await;
    let bare = send(app.client.post(app.url("/api/auth/logout"))).await;
    assert_problem(bare, 401, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_everywhere_ends_every_session_and_access_token() {
    let app = TestApp::spawn().await;
    let user = app.new_user("everywhere").await;
    let (second_access, second_refresh) = login_tokens(&app, "everywhere", PASSWORD).await;
    assert_problem(app.logout_all(&user.refresh_token).await, 401, None).await;

    assert_eq!(app.logout_all(&user.access_token).await.status(), 204);
    for refresh in [&user.refresh_token, &second_refresh] {
        assert_problem(app.refresh(refresh).await, 401, None).await;
    }
    for access in [&user.access_token, &second_access] {
        let body = assert_problem(app.me(access).await, 401, None).await;
        assert!(body["detail"].as_str().unwrap().contains("revoked"));
    }
    let (fresh, _) = login_tokens(&app, "everywhere", PASSWORD).await;
    assert_eq!(app.me(&fresh).await.status(), 200);
}

async fn change(app: &TestApp, user: &TestUser, current: &str, new: &str) -> reqwest::Response {
    app.change_password(
        &user.access_token,
        &json!({"current_password": current, "new_password": new}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_ends_every_session() {
    let app = TestApp::spawn().await;
    let user = app.new_user("changer").await;
    let (other_access, other_refresh) = login_tokens(&app, "changer", PASSWORD).await;

    let response = change(&app, &user, PASSWORD, "a brand new password").await;
    assert_eq!(response.status(), 204);

    for access in [&user.access_token, &other_access] {
        assert_problem(app.me(access).await, 401, None).await;
    }
    for refresh in [&user.refresh_token, &other_refresh] {
        assert_problem(app.refresh(refresh).await, 401, None).await;
    }
    assert_problem(app.login("changer", PASSWORD).await, 401, None).await;
    let (access, refresh) = login_tokens(&app, "changer", "a brand new password").await;
    assert_eq!(app.me(&access).await.status(), 200);
    refreshed(&app, &refresh).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_needs_the_current_password_and_a_valid_new_one() {
    let app = TestApp::spawn().await;
    let user = app.new_user("careful").await;
    let body = assert_problem(
        change(&app, &user, "not it", "another password").await,
        403,
        Some("current_password"),
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("current password")
    );
    assert_problem(
        change(&app, &user, PASSWORD, "short").await,
        400,
        Some("new_password"),
    )
    .await;
    let missing = app
        .change_password(
            &user.access_token,
            &json!({"new_password": "long enough new"}),
        )
        .await;
    assert_problem(missing, 400, Some("current_password")).await;
    let with_refresh = app
        .change_password(
            &user.refresh_token,
            &json!({"current_password": PASSWORD, "new_password": "long enough new"}),
        )
        .await;
    assert_problem(with_refresh, 401, None).await;
    // Nothing changed.
    assert_eq!(app.me(&user.access_token).await.status(), 200);
    assert_eq!(app.login("careful", PASSWORD).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_token_dies_after_the_idle_lifetime_unused() {
    // The default idle lifetime: 24 hours. No purge runs meanwhile.
    let app = TestApp::spawn_with(&[("SESSION_PURGE_INTERVAL_SECS", "604800")]).await;
    let user = app.new_user("idler").await;
    // Used within the idle lifetime, the chain keeps going past it.
    app.time.advance(HOUR * 23);
    let (_, second) = refreshed(&app, &user.refresh_token).await;
    app.time.advance(HOUR * 23);
    let (_, third) = refreshed(&app, &second).await;
    // Left alone a second longer than that, it expires.
    app.time.advance(HOUR * 24 + SECOND);
    let body = assert_problem(app.refresh(&third).await, 401, None).await;
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_access_token_expires_with_its_lifetime_and_the_allowed_skew() {
    // The default access lifetime: 15 minutes, judged with 30 s of skew.
    let app = TestApp::spawn().await;
    let user = app.new_user("shortlived").await;
    app.time.advance(MINUTE * 15 + SECOND * 30);
    assert_eq!(app.me(&user.access_token).await.status(), 200);
    app.time.advance(SECOND);
    let body = assert_problem(app.me(&user.access_token).await, 401, None).await;
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_ends_at_its_absolute_lifetime_however_often_it_refreshes() {
    let app = TestApp::spawn_with(&[
        ("REFRESH_TOKEN_TTL_SECS", "10800"),
        ("REFRESH_TOKEN_IDLE_TTL_SECS", "3600"),
    ])
    .await;
    let user = app.new_user("marathon").await;
    let mut refresh = user.refresh_token.clone();
    // Refreshing every 50 minutes keeps it alive up to the 3 hours…
    for _ in 0..3 {
        app.time.advance(MINUTE * 50);
        refresh = refreshed(&app, &refresh).await.1;
    }
    app.time.advance(MINUTE * 30 - SECOND);
    refresh = refreshed(&app, &refresh).await.1;
    // …and not to their end, though the last refresh is a second old.
    app.time.advance(SECOND);
    let body = assert_problem(app.refresh(&refresh).await, 401, None).await;
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_and_revoked_rows_are_purged_periodically() {
    // The default purge interval is an hour; windows and lifetimes are
    // shorter here, so one interval passes them all.
    let app = TestApp::spawn_with(&[
        ("REFRESH_TOKEN_IDLE_TTL_SECS", "3590"),
        ("LOGIN_FAILURE_WINDOW_SECS", "600"),
    ])
    .await;
    let user = app.new_user("purged").await;
    let (_, second) = login_tokens(&app, "purged", PASSWORD).await;
    assert_eq!(app.logout(&second).await.status(), 204);
    assert_eq!(app.login("purged", "wrong password").await.status(), 401);
    let remaining = async || {
        (
            app.count("SELECT COUNT(*) FROM refresh_tokens").await,
            app.count("SELECT COUNT(*) FROM throttle_counters").await,
        )
    };
    // The signup's counter; the failed login's for the account, the
    // client and the two together.
    assert_eq!(remaining().await, (2, 4));

    // Just short of an interval, nothing runs.
    app.time.advance(MINUTE * 59);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(remaining().await, (2, 4), "purged too early");

    // At the interval, the purge runs once the clock gets there.
    app.time.advance(MINUTE);
    let mut left = remaining().await;
    for _ in 0..100 {
        if left == (0, 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = remaining().await;
    }
    assert_eq!(left, (0, 0), "rows left after purging");
    // A token that expired 10 s ago (within the allowed clock skew, so
    // only its row could tell) still says so once the row is purged.
    let body = assert_problem(app.refresh(&user.refresh_token).await, 401, None).await;
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
}
