//! Per-account login throttling, kept in the database.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_problem, client_from, send, stable_header_names};

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

/// Logs in through `client`, with a device token if given.
async fn login_from(
    app: &TestApp,
    client: &reqwest::Client,
    name: &str,
    password: &str,
    device_token: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({"username": name, "password": password});
    if let Some(token) = device_token {
        body["device_token"] = json!(token);
    }
    send(client.post(app.url("/api/auth/login")).json(&body)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_guesser_locks_out_only_itself_and_the_owner_still_logs_in() {
    let app = TestApp::spawn().await;
    app.new_user("owner").await;
    let attacker = client_from(2);
    for _ in 0..10 {
        let response = login_from(&app, &attacker, "owner", "wrong password", None).await;
        assert_problem(response, 401, None).await;
    }
    // The attacker's address is locked out of this account, right
    // password or not…
    let locked = login_from(&app, &attacker, "owner", PASSWORD, None).await;
    assert!((1..=900).contains(&retry_after(&locked)));
    assert_problem(locked, 429, None).await;
    // …while the owner, on another address, logs in.
    let owner = client_from(1);
    let response = login_from(&app, &owner, "owner", PASSWORD, None).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_unknown_names_from_one_address_meet_the_per_client_limit() {
    // The default: 50 failed checks per client per window.
    let app = TestApp::spawn().await;
    let attacker = client_from(2);
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (client, url) = (attacker.clone(), app.url("/api/auth/login"));
        attempts.spawn(async move {
            let body = json!({"username": format!("nobody{i}"), "password": "wrong password"});
            send(client.post(url).json(&body)).await.status().as_u16()
        });
    }
    let statuses = attempts.join_all().await;
    let count = |status: u16| statuses.iter().filter(|s| **s == status).count();
    assert_eq!((count(401), count(429)), (50, 50), "{statuses:?}");
    // A client on another address is unaffected.
    let other = client_from(3);
    let response = login_from(&app, &other, "nobody0", "wrong password", None).await;
    assert_problem(response, 401, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_from_many_addresses_spends_the_account_but_a_known_device_gets_in() {
    let app = TestApp::spawn_with(&[
        ("LOGIN_MAX_FAILURES", "3"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "9"),
    ])
    .await;
    app.new_user("popular").await;
    // The owner's phone logged in before and kept its device token.
    let phone = client_from(1);
    let earlier = login_from(&app, &phone, "popular", PASSWORD, None).await;
    assert_eq!(earlier.status(), 200);
    let earlier: serde_json::Value = earlier.json().await.unwrap();
    let device_token = earlier["device_token"].as_str().unwrap().to_owned();
    // Three addresses, three guesses each, on the account and on a name
    // nobody has.
    for octet in 10..13 {
        let guesser = client_from(octet);
        for name in ["popular", "nobody"] {
            for _ in 0..3 {
                let response = login_from(&app, &guesser, name, "wrong password", None).await;
                assert_problem(response, 401, None).await;
            }
        }
    }
    // Now nobody new gets in, right password or not, and an account is
    // refused exactly like a name nobody has.
    let stranger = client_from(20);
    let known = login_from(&app, &stranger, "popular", PASSWORD, None).await;
    let unknown = login_from(&app, &stranger, "nobody", PASSWORD, None).await;
    assert_eq!(stable_header_names(&known), stable_header_names(&unknown));
    let mut a = assert_problem(known, 429, None).await;
    let mut b = assert_problem(unknown, 429, None).await;
    for body in [&mut a, &mut b] {
        body["request_id"] = json!(null);
    }
    assert_eq!(a, b);
    // The owner's own device still gets in, from wherever it is now…
    let roaming = client_from(21);
    let response = login_from(&app, &roaming, "popular", PASSWORD, Some(&device_token)).await;
    assert_eq!(response.status(), 200);
    // …but without its token, the owner waits like everyone else.
    let response = login_from(&app, &roaming, "popular", PASSWORD, None).await;
    assert_problem(response, 429, None).await;
    // The window passes and the account is open again.
    app.time.advance(Duration::from_secs(15 * 60));
    let response = login_from(&app, &stranger, "popular", PASSWORD, None).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_token_counts_its_own_failures_and_works_only_for_its_account() {
    let app = TestApp::spawn_with(&[
        ("LOGIN_MAX_FAILURES", "3"),
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
    ])
    .await;
    let signup = app
        .signup(&json!({"username": "holder", "email": "h@example.com", "password": PASSWORD}))
        .await;
    assert_eq!(signup.status(), 201);
    let signup: serde_json::Value = signup.json().await.unwrap();
    // Signing up made this device known too.
    let token = signup["device_token"].as_str().unwrap().to_owned();
    app.new_user("other").await;
    // A stolen token, tried from three addresses, once each: its own
    // failures lock the token, not those addresses.
    for octet in 2..5 {
        let thief = client_from(octet);
        let response = login_from(&app, &thief, "holder", "wrong password", Some(&token)).await;
        assert_problem(response, 401, None).await;
    }
    let response = login_from(&app, &client_from(5), "holder", PASSWORD, Some(&token)).await;
    assert_problem(response, 429, None).await;
    // The account's budget was not spent by them: without the token the
    // owner logs in.
    let response = login_from(&app, &client_from(5), "holder", PASSWORD, None).await;
    assert_eq!(response.status(), 200);
    // Spend the other account's budget; this token does not open it.
    for octet in 6..9 {
        let response = login_from(&app, &client_from(octet), "other", "wrong", None).await;
        assert_problem(response, 401, None).await;
    }
    let fresh: serde_json::Value = login_from(&app, &client_from(1), "holder", PASSWORD, None)
        .await
        .json()
        .await
        .unwrap();
    let fresh = fresh["device_token"].as_str().unwrap();
    let response = login_from(&app, &client_from(9), "other", PASSWORD, Some(fresh)).await;
    assert_problem(response, 429, None).await;
    // A forged token is ignored; a token that cannot be one is refused.
    let forged = format!("{}x", &fresh[..fresh.len() - 1]);
    let response = login_from(&app, &client_from(9), "other", PASSWORD, Some(&forged)).await;
    assert_problem(response, 429, None).await;
    let response = login_from(
        &app,
        &client_from(9),
        "other",
        PASSWORD,
        Some("not a token"),
    )
    .await;
    assert_problem(response, 400, Some("device_token")).await;
    // As the spec says, it may be left out but is never null.
    let null = json!({"username": "holder", "password": PASSWORD, "device_token": null});
    let response = send(client_from(9).post(app.url("/api/auth/login")).json(&null)).await;
    assert_problem(response, 400, Some("device_token")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signups_are_limited_per_client() {
    let app = TestApp::spawn_with(&[("SIGNUP_MAX_PER_CLIENT", "3")]).await;
    let spammer = client_from(2);
    let signup = |client: &reqwest::Client, name: &str| {
        let body =
            json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
        send(client.post(app.url("/api/auth/signup")).json(&body))
    };
    for i in 0..3 {
        assert_eq!(signup(&spammer, &format!("bulk{i}")).await.status(), 201);
    }
    let refused = signup(&spammer, "bulk3").await;
    let wait = retry_after(&refused);
    assert!((3500..=3600).contains(&wait), "{wait}");
    assert_problem(refused, 429, None).await;
    // No account was made for the refused one, and others still sign up.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE username = 'bulk3'")
            .await,
        0
    );
    assert_eq!(signup(&client_from(3), "someone").await.status(), 201);
    // An hour later the spammer's window has passed.
    app.time.advance(Duration::from_secs(3600));
    assert_eq!(signup(&spammer, "bulk4").await.status(), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forged_x_forwarded_for_from_a_client_that_is_no_proxy_is_ignored() {
    for trusted in [None, Some("10.0.0.0/8")] {
        let mut vars = vec![("LOGIN_MAX_FAILURES", "3")];
        if let Some(ranges) = trusted {
            vars.push(("TRUSTED_PROXIES", ranges));
        }
        let app = TestApp::spawn_with(&vars).await;
        app.new_user("victim").await;
        for forged in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
            let response = send(
                app.client
                    .post(app.url("/api/auth/login"))
                    .header("x-forwarded-for", forged)
                    .header("forwarded", format!("for={forged}"))
                    .json(&json!({"username": "victim", "password": "wrong password"})),
            )
            .await;
            assert_problem(response, 401, None).await;
        }
        // All three came from 127.0.0.1, whatever they claimed.
        let response = send(
            app.client
                .post(app.url("/api/auth/login"))
                .header("x-forwarded-for", "203.0.113.4")
                .json(&json!({"username": "victim", "password": PASSWORD})),
        )
        .await;
        assert_problem(response, 429, None).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_is_held_back_so_a_guesser_cannot_loop_on_cheap_429s() {
    let app =
        TestApp::spawn_with(&[("LOGIN_MAX_FAILURES", "1"), ("THROTTLE_DELAY_SECS", "0.5")]).await;
    app.new_user("paced").await;
    let guesser = client_from(2);
    let started = std::time::Instant::now();
    let response = login_from(&app, &guesser, "paced", "wrong password", None).await;
    assert_problem(response, 401, None).await;
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "a 401 is not held"
    );
    // The refusal comes after the delay; meanwhile others are served at
    // once.
    let started = std::time::Instant::now();
    let refused = login_from(&app, &guesser, "paced", "wrong password", None);
    let browse = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        let response = app.list_products("").await;
        (response.status(), started.elapsed())
    };
    let (refused, (status, browsed)) = tokio::join!(refused, browse);
    let held = started.elapsed();
    assert_problem(refused, 429, None).await;
    assert!(held >= Duration::from_millis(500), "held {held:?}");
    assert_eq!(status, 200);
    assert!(
        browsed < Duration::from_millis(300),
        "others waited {browsed:?}"
    );
}
