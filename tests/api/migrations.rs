//! Migrations that survive a failure part-way. DDL commits as it goes on
//! MySQL and MariaDB, so a migration of several statements cut off after
//! some of them leaves a changed schema and no version row. Every such
//! cut is made here: the migrations before it applied and recorded as
//! diesel records them, then the first statements of the next one, then
//! `catalog migrate`, which must finish it to exactly the schema of an
//! uninterrupted run.

use std::path::{Path, PathBuf};

use mysql_async::prelude::Queryable;

use crate::cli::catalog;
use crate::helpers::{create_database, server_url};
use crate::warnings::statements;

/// The migration folders in the order diesel runs them.
fn migrations() -> Vec<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut migrations: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("up.sql").exists())
        .collect();
    migrations.sort();
    migrations
}

/// The version diesel records for a migration folder: the digits of its
/// name before the first `_`.
fn version(migration: &Path) -> String {
    let name = migration.file_name().unwrap().to_str().unwrap();
    name.split('_').next().unwrap().replace('-', "")
}

async fn connect(database: &str) -> mysql_async::Conn {
    let url = format!("{}/{database}", server_url());
    mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
        .await
        .unwrap()
}

/// Every table's definition, without the counters that differ between
/// two databases of the same schema.
async fn schema(database: &str) -> Vec<String> {
    let mut conn = connect(database).await;
    let tables: Vec<String> = conn.query("SHOW TABLES").await.unwrap();
    let counter = regex::Regex::new(r" AUTO_INCREMENT=\d+").unwrap();
    let mut definitions = Vec::new();
    for table in tables {
        if table == "__diesel_schema_migrations" {
            continue;
        }
        let (_, create): (String, String) = conn
            .query_first(format!("SHOW CREATE TABLE `{table}`"))
            .await
            .unwrap()
            .unwrap();
        let create = counter.replace(&create, "").into_owned();
        definitions.push(create);
    }
    let versions: Vec<String> = conn
        .query("SELECT version FROM __diesel_schema_migrations ORDER BY version")
        .await
        .unwrap();
    definitions.push(versions.join(","));
    conn.disconnect().await.ok();
    definitions
}

fn migrate(database: &str) {
    let url = format!("{}/{database}", server_url());
    let output = catalog(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn drop_database(database: &str) {
    let mut conn = connect(database).await;
    conn.query_drop(format!("DROP DATABASE `{database}`"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_cut_off_between_statements_is_finished_by_the_next_start() {
    let reference = create_database().await;
    migrate(&reference);
    let expected = schema(&reference).await;
    drop_database(&reference).await;

    let migrations = migrations();
    let mut cuts = 0;
    for (n, migration) in migrations.iter().enumerate() {
        let sql = std::fs::read_to_string(migration.join("up.sql")).unwrap();
        let steps = statements(&sql);
        // A cut after setting or preparing a guarded step leaves what the
        // cut before it left; after executing it, and after any other
        // statement, something has changed.
        let cuts_worth_making = (1..steps.len()).filter(|&cut| {
            let last = steps[cut - 1].trim_start();
            !(last.starts_with("SET @step")
                || last.starts_with("PREPARE")
                || last.starts_with("DEALLOCATE"))
        });
        for cut in cuts_worth_making {
            let database = create_database().await;
            let mut conn = connect(&database).await;
            conn.query_drop(
                "CREATE TABLE __diesel_schema_migrations (version VARCHAR(50) NOT NULL, \
                 run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (version))",
            )
            .await
            .unwrap();
            for earlier in &migrations[..n] {
                let sql = std::fs::read_to_string(earlier.join("up.sql")).unwrap();
                for statement in statements(&sql) {
                    conn.query_drop(statement).await.unwrap();
                }
                conn.exec_drop(
                    "INSERT INTO __diesel_schema_migrations (version) VALUES (?)",
                    (version(earlier),),
                )
                .await
                .unwrap();
            }
            for statement in &steps[..cut] {
                conn.query_drop(statement).await.unwrap();
            }
            conn.disconnect().await.ok();
            migrate(&database);
            assert_eq!(
                schema(&database).await,
                expected,
                "{} cut after {cut} of {} statements",
                migration.display(),
                steps.len()
            );
            drop_database(&database).await;
            cuts += 1;
        }
    }
    assert!(cuts >= 15, "{cuts} cuts");
}
