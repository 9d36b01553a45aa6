use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_problem, database_url, send, stable_header_names, test_config,
};

#[tokio::test(flavor = "multi_thread")]
async fn signup_returns_201_with_the_account_and_working_tokens() {
    let app = TestApp::spawn().await;
    let response = app
        .signup(
            &json!({"username": "Ada.Lovelace", "email": "Ada@Example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_i64().unwrap() > 0);
    assert_eq!(body["username"], "Ada.Lovelace");
    assert_eq!(body["email"], "Ada@Example.com");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());

    let me = app.me(body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["id"], body["id"]);
    assert_eq!(me["username"], "Ada.Lovelace");
    assert_eq!(me["role"], "user");
    assert!(me["created_at"].as_str().unwrap().starts_with("20"));
}

#[tokio::test(flavor = "multi_thread")]
async fn usernames_and_emails_are_unique_regardless_of_case() {
    let app = TestApp::spawn().await;
    app.new_user("grace").await;

    let taken_name = app
        .signup(&json!({"username": "GRACE", "email": "other@example.com", "password": PASSWORD}))
        .await;
    let body = assert_problem(taken_name, 409, Some("username")).await;
    assert!(body["detail"].as_str().unwrap().contains("username"));

    let taken_email = app
        .signup(&json!({"username": "someone", "email": "Grace@EXAMPLE.com", "password": PASSWORD}))
        .await;
    let body = assert_problem(taken_email, 409, Some("email")).await;
    assert!(body["detail"].as_str().unwrap().contains("email"));
}

#[tokio::test(flavor = "multi_thread")]
async fn signup_rejects_bad_input_naming_the_field() {
    let app = TestApp::spawn().await;
    let ok = json!({"username": "valid_user", "email": "v@example.com", "password": PASSWORD});
    let with = |key: &str, value: Value| {
        let mut body = ok.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = ok.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases = [
        (without("username"), "username"),
        (with("username", json!(12345)), "username"),
        (with("username", json!("ab")), "username"),
        (with("username", json!("a".repeat(81))), "username"),
        (with("username", json!("has space")), "username"),
        (
            with("username", json!("robert'); DROP TABLE users;--")),
            "username",
        ),
        (with("username", json!(null)), "username"),
        (without("email"), "email"),
        (with("email", json!("not-an-email")), "email"),
        (with("email", json!("x@example.com*")), "email"),
        (with("email", json!("1e100@yzjt.bp8iyjb.com*")), "email"),
        (
            with("email", json!(format!("{}@example.com", "e".repeat(120)))),
            "email",
        ),
        (with("email", json!(["a@b.c"])), "email"),
        (without("password"), "password"),
        (with("password", json!("short")), "password"),
        (with("password", json!("p".repeat(129))), "password"),
        (with("password", json!(true)), "password"),
    ];
    for (body, field) in cases {
        let response = app.signup(&body).await;
        assert_problem(response, 400, Some(field)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_or_non_object_bodies_are_400_naming_the_body() {
    let app = TestApp::spawn().await;
    for raw in [
        "{\"username\": ",
        "[1, 2]",
        "\"text\"",
        "",
        "null",
        "{'single': 'quotes'}",
    ] {
        let response = send(
            app.client
                .post(app.url("/api/auth/signup"))
                .header("content-type", "application/json")
                .body(raw),
        )
        .await;
        assert_problem(response, 400, Some("body")).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_not_json_is_415() {
    let app = TestApp::spawn().await;
    let response = send(
        app.client
            .post(app.url("/api/auth/login"))
            .header("content-type", "text/plain")
            .body("username=a&password=b"),
    )
    .await;
    assert_problem(response, 415, Some("Content-Type")).await;
    let response = send(app.client.post(app.url("/api/auth/login")).body("{}")).await;
    assert_problem(response, 415, Some("Content-Type")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn login_accepts_the_username_or_the_email_in_any_case() {
    let app = TestApp::spawn().await;
    let user = app.new_user("Linus").await;
    let names = [
        user.username.clone(),
        user.username.to_lowercase(),
        user.email.clone(),
        user.email.to_uppercase(),
    ];
    for name in &names {
        let response = app.login(name, PASSWORD).await;
        assert_eq!(response.status(), 200, "{name}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["user"]["id"], user.id);
        assert_eq!(body["user"]["username"], "Linus");
        assert_eq!(body["user"]["email"], "Linus@example.com");
        let me = app.me(body["access_token"].as_str().unwrap()).await;
        assert_eq!(me.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = TestApp::spawn().await;
    app.new_user("margaret").await;

    let wrong_password = app.login("margaret", "not the password").await;
    let unknown_user = app.login("nobody", "not the password").await;
    let headers = |r: &reqwest::Response| {
        (
            stable_header_names(r),
            r.headers().get("www-authenticate").cloned(),
            r.headers().get("content-length").cloned(),
        )
    };
    assert_eq!(headers(&wrong_password), headers(&unknown_user));

    let mut a = assert_problem(wrong_password, 401, None).await;
    let mut b = assert_problem(unknown_user, 401, None).await;
    a["request_id"] = Value::Null;
    b["request_id"] = Value::Null;
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread")]
async fn login_rejects_bad_input_naming_the_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"password": PASSWORD}), "username"),
        (json!({"username": "", "password": PASSWORD}), "username"),
        (json!({"username": 7, "password": PASSWORD}), "username"),
        (json!({"username": "someone"}), "password"),
        (json!({"username": "someone", "password": ""}), "password"),
        (
            json!({"username": "someone", "password": "x".repeat(129)}),
            "password",
        ),
    ];
    for (body, field) in cases {
        let response = app.post_json("/api/auth/login", &body).await;
        assert_problem(response, 400, Some(field)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_trades_a_refresh_token_for_a_new_working_pair() {
    let app = TestApp::spawn().await;
    let user = app.new_user("hopper").await;
    let response = app.refresh(&user.refresh_token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert_ne!(access, user.access_token);
    assert_eq!(app.me(access).await.status(), 200);
    assert_eq!(app.refresh(refresh).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_without_a_token_is_401() {
    let app = TestApp::spawn().await;
    let response = send(app.client.post(app.url("/api/auth/refresh"))).await;
    assert_problem(response, 401, None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_configured_admin_is_created_with_the_admin_role() {
    let app = TestApp::spawn_with(&[
        ("ADMIN_USERNAME", "root_admin"),
        ("ADMIN_EMAIL", "admin@example.com"),
        ("ADMIN_PASSWORD", "admin-password-for-tests"),
    ])
    .await;
    let response = app.login("root_admin", "admin-password-for-tests").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let me: Value = app
        .me(body["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "admin");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_existing_account_named_as_admin_is_promoted_at_start_up() {
    let mut first = TestApp::spawn().await;
    let user = first.new_user("promote_me").await;
    first.stop().await;
    let database = first.database.clone();
    let config = test_config(
        &database_url(&database),
        &[
            ("ADMIN_USERNAME", "promote_me"),
            ("ADMIN_EMAIL", "promote_me@example.com"),
            ("ADMIN_PASSWORD", "a-different-password"),
        ],
    );
    let second = TestApp::start(config, database).await;
    let me: Value = second.me(&user.access_token).await.json().await.unwrap();
    assert_eq!(me["role"], "admin");
    // The existing password is kept.
    assert_eq!(second.login("promote_me", PASSWORD).await.status(), 200);
}
