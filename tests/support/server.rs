//! The database server the tests and benchmarks use: where it is, and a
//! way to run SQL on it as its admin user. Included by path from
//! `tests/support/helpers.rs` and `benches/*.rs`.

// Each includer uses a part.
#![allow(dead_code)]

/// The server's URL without a database name: `TEST_DATABASE_URL`, else
/// `mysql://root@127.0.0.1:3306`.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// Runs `statements` in order on `database` (none: the server itself).
pub async fn admin_sql(database: Option<&str>, statements: &[String]) {
    let url = match database {
        Some(db) => format!("{}/{db}", server_url()),
        None => server_url(),
    };
    admin_sql_at(&url, statements).await;
}

/// Runs `statements` in order at `url`, a server or a database on it.
pub async fn admin_sql_at(url: &str, statements: &[String]) {
    use mysql_async::prelude::Queryable;
    let opts = mysql_async::Opts::from_url(url).expect("TEST_DATABASE_URL is a mysql:// URL");
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .expect("the test database server answers (is MariaDB running?)");
    for statement in statements {
        conn.query_drop(statement).await.expect("admin SQL runs");
    }
    conn.disconnect().await.ok();
}

/// A fresh, empty database named `<prefix>_<uuid>`, with the character set
/// and collation the migrations expect.
pub async fn create_database(prefix: &str) -> String {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    admin_sql(
        None,
        &[format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )],
    )
    .await;
    name
}

/// SQL that adds accounts `owner1` to `owner<count>` (emails
/// `owner<i>@example.com`, keys as the service computes them, a password
/// hash nobody can log in with), for loading a catalog of many owners.
pub fn insert_owners(count: i64) -> String {
    format!(
        "INSERT INTO users (username, username_key, email, email_key, password_hash, role, \
         created_at, updated_at) \
         WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
         SELECT CONCAT('owner', i), UNHEX(SHA2(CONCAT('owner', i), 256)), \
         CONCAT('owner', i, '@example.com'), UNHEX(SHA2(CONCAT('owner', i, '@example.com'), 256)), \
         'x', 'user', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) FROM n"
    )
}
