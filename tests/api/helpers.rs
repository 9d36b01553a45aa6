//! `TestApp`: the real service, in-process on a random port, against its
//! own freshly created database on a MySQL-compatible server.
//!
//! The server comes from `TEST_DATABASE_URL` (a `mysql://` URL without a
//! database name), else `mysql://root@127.0.0.1:3306`. Each app gets a
//! database named `catalog_test_<uuid>`, dropped when the test ends
//! (kept if `TEST_KEEP_DATABASES` is set). Set `TEST_LOG=1` to see the
//! service's logs.

use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use catalog::Application;
use catalog::config::{Config, DatabaseConfig, LogFormat};
use mysql_async::prelude::Queryable;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;

#[path = "../support/server.rs"]
mod server;
pub use server::{admin_sql, server_url};

pub const PASSWORD: &str = "correct horse battery staple";

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh, empty database.
pub async fn create_database() -> String {
    server::create_database("catalog_test").await
}

pub fn test_config(database_url: String) -> Config {
    Config {
        database: DatabaseConfig {
            url: SecretString::from(database_url),
            pool_size: 4,
            acquire_timeout: Duration::from_secs(5),
            startup_timeout: Duration::from_secs(10),
        },
        jwt_secret: SecretString::from(TEST_SECRET),
        jwt_previous_secrets: Vec::new(),
        listen_addr: "127.0.0.1:0".parse().expect("valid address"),
        access_token_ttl: Duration::from_secs(900),
        refresh_token_ttl: Duration::from_secs(14 * 24 * 3600),
        refresh_token_idle_ttl: Duration::from_secs(24 * 3600),
        session_purge_interval: Duration::from_secs(3600),
        login_max_failures: 10,
        login_failure_window: Duration::from_secs(900),
        cors_allowed_origins: Vec::new(),
        admin: None,
        shutdown_grace: Duration::from_secs(5),
        http: catalog::config::HttpConfig::default(),
    }
}

/// The signing key every test app uses, so tests can forge tokens.
pub const TEST_SECRET: &str = "test-secret-that-is-long-enough-for-hs256-0123";

pub struct TestApp {
    pub addr: SocketAddr,
    pub database: String,
    pub client: reqwest::Client,
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
        Self::spawn_with(|_| {}).await
    }

    /// Spawns an app on its own new database, after `adjust` edits the
    /// configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let database = create_database().await;
        let mut config = test_config(format!("{}/{database}", server_url()));
        adjust(&mut config);
        Self::start(config, database).await
    }

    pub async fn start(config: Config, database: String) -> Self {
        init_logs();
        let app = Application::build(config).await.expect("the app starts");
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
        let url = format!("{}/{}", server_url(), self.database);
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
    /// Drops the test's database. Drop cannot await, so a short-lived
    /// runtime on its own thread does the work.
    fn drop(&mut self) {
        if std::env::var_os("TEST_KEEP_DATABASES").is_some() {
            return;
        }
        let database = std::mem::take(&mut self.database);
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

/// Sends a request; a transport failure fails the test.
pub async fn send(request: RequestBuilder) -> Response {
    request.send().await.expect("request")
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
