//! Statements that raise warnings: every migration, statement by
//! statement on a fresh database, each followed by `SHOW WARNINGS`; and
//! the upserts, read for the syntax MySQL deprecated.

use std::path::Path;

use mysql_async::prelude::Queryable;

use crate::helpers::{create_database, server_url};

/// The warnings the connection's last statement raised.
type Warnings = Vec<(String, u32, String)>;

/// The statements of a migration file: comment lines dropped, split where
/// a line ends with `;` (no migration has one inside a string).
pub(crate) fn statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            statements.push(current.trim().trim_end_matches(';').to_owned());
            current.clear();
        }
    }
    assert!(
        current.trim().is_empty(),
        "a statement without `;`: {current}"
    );
    statements
}

#[tokio::test(flavor = "multi_thread")]
async fn every_migration_statement_runs_without_a_warning() {
    let database = create_database().await;
    let url = format!("{}/{database}", server_url());
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
        .await
        .unwrap();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut migrations: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("up.sql").exists())
        .collect();
    migrations.sort();
    assert!(migrations.len() >= 8, "{migrations:?}");
    let mut run = 0;
    for migration in &migrations {
        let sql = std::fs::read_to_string(migration.join("up.sql")).unwrap();
        for statement in statements(&sql) {
            conn.query_drop(&statement)
                .await
                .unwrap_or_else(|err| panic!("{}: {statement}: {err}", migration.display()));
            let warnings: Warnings = conn.query("SHOW WARNINGS").await.unwrap();
            assert!(
                warnings.is_empty(),
                "{}: {statement}\n{warnings:?}",
                migration.display()
            );
            run += 1;
        }
    }
    assert!(run > migrations.len(), "{run} statements");
    conn.query_drop(format!("DROP DATABASE `{database}`"))
        .await
        .unwrap();
}

/// MySQL 8.0.20 deprecated `VALUES(col)` in `ON DUPLICATE KEY UPDATE`
/// (warning 1287 on every run); MariaDB does not, so no warning here
/// would show it. The sources are read instead: no upsert names the new
/// row's values that way.
#[test]
fn no_upsert_reads_the_new_row_through_values() {
    let mut upserts = 0;
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (_, after) in text
            .match_indices("ON DUPLICATE KEY UPDATE")
            .map(|(i, _)| text.split_at(i))
        {
            upserts += 1;
            // The assignments run to the end of the statement's string.
            let clause = after.split('"').next().unwrap_or(after);
            assert!(
                !clause.to_ascii_uppercase().contains("VALUES("),
                "{}: {clause}",
                path.display()
            );
        }
    }
    assert!(upserts >= 2, "{upserts} upserts found");
}
