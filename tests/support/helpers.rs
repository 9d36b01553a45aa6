//! `TestApp`: the real service, in-process on a random port, against its
//! own freshly created database on a MySQL-compatible server.
//!
//! The server comes from `TEST_DATABASE_URL` (a `mysql://` URL without a
//! database name), else `mysql://root@127.0.0.1:3306`. Each app gets a
//! database named `catalog_test_<uuid>`, dropped when the test ends
//! (kept if `TEST_KEEP_DATABASES` is set). Set `TEST_LOG=1` to see the
//! service's logs.
//!
//! Every app runs on a [`ManualClock`]: time stands still unless a test
//! moves it, so lifetimes and windows pass without waiting.

// Shared by the `api` and `proxy` test targets; each uses a part.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Once;

use catalog::Application;
use catalog::config::{Config, LogFormat};
use catalog::domain::clock::ManualClock;
use mysql_async::prelude::Queryable;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

#[path = "server.rs"]
pub mod server;
pub use server::{admin_sql, server_url};

pub const PASSWORD: &str = "correct horse battery staple";

/// The variables that give a test app an admin, `boss`, with
/// [`ADMIN_PASSWORD`].
pub const WITH_ADMIN: [(&str, &str); 3] = [
    ("ADMIN_USERNAME", "boss"),
    ("ADMIN_EMAIL", "boss@example.com"),
    ("ADMIN_PASSWORD", ADMIN_PASSWORD),
];
pub const ADMIN_PASSWORD: &str = "boss-password-123";

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Signs `username` up through `base` (the service, or a proxy in front
/// of it) with [`PASSWORD`], logs in, and answers the login's body
/// (`access_token`, `refresh_token`, `user`).
pub async fn sign_up_and_log_in(client: &reqwest::Client, base: &str, username: &str) -> Value {
    let signup = client
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201, "{}", signup.text().await.unwrap());
    client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A fresh, empty database.
pub async fn create_database() -> String {
    server::create_database("catalog_test").await
}

/// The configuration the binary would read from `vars` on top of what
/// every test app sets: its database, the test signing key, a free
/// loopback port, a small pool, short start-up and shutdown waits, room
/// for the many signups and concurrent connections a test makes from one
/// address, and 429s without their delay. Everything else keeps the
/// binary's defaults.
pub fn test_config(database_url: &str, vars: &[(&str, &str)]) -> Config {
    let base = [
        ("DATABASE_URL", database_url),
        ("JWT_SECRET_KEY", TEST_SECRET),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("METRICS_ADDR", "127.0.0.1:0"),
        ("DATABASE_POOL_SIZE", "4"),
        ("DATABASE_STARTUP_TIMEOUT_SECS", "10"),
        ("SHUTDOWN_GRACE_SECS", "5"),
        ("SIGNUP_MAX_PER_CLIENT", MANY_SIGNUPS),
        ("MAX_CONNECTIONS_PER_CLIENT", "1000"),
        // Refusals are answered at once; tests/api/throttle.rs checks
        // the delay itself.
        ("THROTTLE_DELAY_SECS", "0.001"),
    ];
    Config::from_vars(base.iter().chain(vars).copied()).expect("a valid test configuration")
}

/// `SIGNUP_MAX_PER_CLIENT` for tests that sign up many users from one
/// address; the signup tests set their own.
pub const MANY_SIGNUPS: &str = "100000";

/// The URL of `database` on the test server.
pub fn database_url(database: &str) -> String {
    format!("{}/{database}", server_url())
}

/// The signing key every test app uses, so tests can forge tokens.
pub const TEST_SECRET: &str = "test-secret-that-is-long-enough-for-hs256-0123";

pub struct TestApp {
    pub addr: SocketAddr,
    pub database: String,
    pub client: reqwest::Client,
    /// The app's clock; [`ManualClock::advance`] moves it.
    pub time: ManualClock,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A signed-up user and the tokens signup gave it.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
}

fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            catalog::telemetry::init(LogFormat::Human);
        }
    });
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Spawns an app on its own new database, configured as the binary
    /// would be with `vars` set.
    pub async fn spawn_with(vars: &[(&str, &str)]) -> Self {
        let database = create_database().await;
        let config = test_config(&database_url(&database), vars);
        Self::start(config, database).await
    }

    /// Starts an app with `config` on an existing `database`, which it
    /// drops when done.
    pub async fn start(config: Config, database: String) -> Self {
        init_logs();
        let time = ManualClock::starting_now();
        let app = Application::build_with_clock(config, time.clock())
            .await
            .expect("the app starts");
        let addr = app.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            database,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client builds"),
            time,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Asks the server to stop and waits until it has drained.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
    }

    /// A request to `path` with `token` as its bearer token.
    pub fn authed(&self, method: reqwest::Method, path: &str, token: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    pub async fn get(&self, path: &str) -> Response {
        send(self.client.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn signup(&self, body: &Value) -> Response {
        self.post_json("/api/auth/signup", body).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/api/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }

    /// Logs in and answers the access token; a failed login fails the
    /// test.
    pub async fn access_token(&self, username: &str, password: &str) -> String {
        let response = self.login(username, password).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {username}");
        let body: Value = response.json().await.expect("json");
        body["access_token"].as_str().expect("access").to_owned()
    }

    pub async fn refresh(&self, token: &str) -> Response {
        send(self.authed(Method::POST, "/api/auth/refresh", token)).await
    }

    pub async fn logout(&self, refresh_token: &str) -> Response {
        send(self.authed(Method::POST, "/api/auth/logout", refresh_token)).await
    }

    pub async fn logout_all(&self, access_token: &str) -> Response {
        send(self.authed(Method::POST, "/api/auth/logout-all", access_token)).await
    }

    pub async fn change_password(&self, access_token: &str, body: &Value) -> Response {
        send(
            self.authed(Method::PUT, "/api/auth/password", access_token)
                .json(body),
        )
        .await
    }

    /// Runs a query on this app's database and returns the first column of
    /// the first row as an integer.
    pub async fn count(&self, sql: &str) -> i64 {
        let url = database_url(&self.database);
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).expect("url"))
            .await
            .expect("connect");
        let value: Option<i64> = conn.query_first(sql).await.expect("query");
        conn.disconnect().await.ok();
        value.unwrap_or_default()
    }

    pub async fn me(&self, token: &str) -> Response {
        send(self.authed(Method::GET, "/api/auth/me", token)).await
    }

    pub async fn list_products(&self, query: &str) -> Response {
        self.get(&format!("/api/products{query}")).await
    }

    pub async fn my_products(&self, token: &str, query: &str) -> Response {
        send(self.authed(Method::GET, &format!("/api/products/my{query}"), token)).await
    }

    pub async fn get_product(&self, id: impl std::fmt::Display) -> Response {
        self.get(&format!("/api/products/{id}")).await
    }

    pub async fn create_product(&self, token: &str, body: &Value) -> Response {
        send(self.authed(Method::POST, "/api/products", token).json(body)).await
    }

    pub async fn delete_product(&self, token: &str, id: impl std::fmt::Display) -> Response {
        send(self.authed(Method::DELETE, &format!("/api/products/{id}"), token)).await
    }

    pub async fn edit_product(
        &self,
        token: &str,
        id: impl std::fmt::Display,
        body: &Value,
    ) -> Response {
        send(
            self.authed(Method::PATCH, &format!("/api/products/{id}"), token)
                .json(body),
        )
        .await
    }

    /// Every item of a listing, page by page with `limit`, following
    /// `next_cursor` with the same query; answers the ids in order.
    pub async fn list_all_ids(&self, path: &str, token: Option<&str>, limit: u32) -> Vec<i64> {
        self.list_ids_after(path, token, limit, None).await
    }

    /// The ids of a listing from `cursor` (from the start when `None`) to
    /// its end, page by page with `limit`.
    pub async fn list_ids_after(
        &self,
        path: &str,
        token: Option<&str>,
        limit: u32,
        mut cursor: Option<String>,
    ) -> Vec<i64> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut ids = Vec::new();
        loop {
            let mut url = format!("{path}{separator}limit={limit}");
            if let Some(cursor) = &cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let request = match token {
                Some(token) => self.authed(Method::GET, &url, token),
                None => self.client.get(self.url(&url)),
            };
            let response = send(request).await;
            assert_eq!(response.status(), StatusCode::OK, "{url}");
            let page: Value = response.json().await.expect("json");
            let items = page["items"].as_array().expect("items");
            assert!(items.len() <= limit as usize);
            ids.extend(items.iter().map(|p| p["id"].as_i64().expect("id")));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return ids,
            }
        }
    }

    /// Signs up `name` (email `name@example.com`) and returns its tokens.
    pub async fn new_user(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.com");
        let response = self
            .signup(&json!({"username": name, "email": email, "password": PASSWORD}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "signup of {name}");
        let body: Value = response.json().await.expect("json");
        TestUser {
            id: body["id"].as_i64().expect("id"),
            username: name.to_owned(),
            email,
            access_token: body["access_token"].as_str().expect("access").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh").to_owned(),
        }
    }

    /// Creates a product and returns its JSON.
    pub async fn new_product(&self, user: &TestUser, name: &str, price: f64) -> Value {
        let response = self
            .create_product(&user.access_token, &json!({"name": name, "price": price}))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("json")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop_database(std::mem::take(&mut self.database));
    }
}

/// Drops a test's database, unless `TEST_KEEP_DATABASES` is set. For
/// `Drop`, which cannot await: a short-lived runtime on its own thread
/// does the work, and the caller waits for it, so the database is gone
/// even when the test's runtime is shutting down.
pub fn drop_database(database: String) {
    if std::env::var_os("TEST_KEEP_DATABASES").is_some() {
        return;
    }
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(admin_sql(
            None,
            &[format!("DROP DATABASE IF EXISTS `{database}`")],
        ));
    })
    .join();
}

/// The names of a response's headers, sorted, without those that differ
/// by nature (`date`, `x-request-id`).
pub fn stable_header_names(response: &Response) -> Vec<String> {
    let mut names: Vec<String> = response
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k != "date" && k != "x-request-id")
        .collect();
    names.sort();
    names
}

/// An HTTP client on another loopback address (127.0.0.`last_octet`),
/// as another client of the service: another device, an attacker, or
/// another visitor of a proxy.
pub fn client_from(last_octet: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, last_octet]))
        .build()
        .expect("client builds")
}

/// Sends a request; a transport failure fails the test.
pub async fn send(request: RequestBuilder) -> Response {
    try_send(request).await.expect("request")
}

/// Sends a request and reports a transport failure, for tests about
/// whether the server answers at all.
pub async fn try_send(request: RequestBuilder) -> reqwest::Result<Response> {
    request.send().await
}

/// Checks a problem+json response and returns its body.
pub async fn assert_problem(response: Response, status: u16, field: Option<&str>) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id header")
        .to_owned();
    if status == 401 {
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap_or("")),
            Some("Bearer")
        );
    }
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["request_id"], request_id.as_str());
    for key in ["type", "title", "detail"] {
        assert!(
            body[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key} in {body}"
        );
    }
    assert_eq!(body["field"].as_str(), field, "field in {body}");
    let detail = body["detail"].as_str().unwrap_or_default().to_lowercase();
    for internal in [
        "sql",
        "diesel",
        "mysql",
        "poem",
        "panicked",
        "duplicate entry",
    ] {
        assert!(!detail.contains(internal), "internal detail leaked: {body}");
    }
    body
}
