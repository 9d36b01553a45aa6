//! Queries on `login_failures`: a counter per throttle key in a fixed
//! window that opens at the first failure.

use chrono::NaiveDateTime;
use diesel::dsl;
use diesel::prelude::*;
use diesel::sql_types::{Datetime, Varchar};
use diesel_async::RunQueryDsl;

use super::schema::login_failures as lf;
use super::{Conn, Result};

/// The failures counted for a key and when their window opened.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn get(conn: &mut Conn, key: &str) -> Result<Option<(i32, NaiveDateTime)>> {
    Ok(lf::table
        .find(key)
        .select((lf::failures, lf::window_started_at))
        .first(conn)
        .await
        .optional()?)
}

/// Counts one failure in one atomic statement: a window that opened at or
/// before `window_opened_before` has passed, so the count restarts at 1.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn record(
    conn: &mut Conn,
    key: &str,
    now: NaiveDateTime,
    window_opened_before: NaiveDateTime,
) -> Result<()> {
    // MySQL evaluates these assignments left to right, so `failures` must
    // be set while `window_started_at` still holds the old value.
    diesel::sql_query(
        "INSERT INTO login_failures (throttle_key, failures, window_started_at) VALUES (?, 1, ?) \
         ON DUPLICATE KEY UPDATE \
           failures = IF(window_started_at <= ?, 1, failures + 1), \
           window_started_at = IF(window_started_at <= ?, VALUES(window_started_at), window_started_at)",
    )
    .bind::<Varchar, _>(key)
    .bind::<Datetime, _>(now)
    .bind::<Datetime, _>(window_opened_before)
    .bind::<Datetime, _>(window_opened_before)
    .execute(conn)
    .await?;
    Ok(())
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn clear(conn: &mut Conn, key: &str) -> Result<()> {
    diesel::delete(lf::table.find(key)).execute(conn).await?;
    Ok(())
}

/// Deletes counters whose window has passed.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn purge(conn: &mut Conn, window_opened_before: NaiveDateTime) -> Result<usize> {
    Ok(purge_statement(window_opened_before).execute(conn).await?)
}

/// The statement behind [`purge`], for callers that inspect its plan.
#[dsl::auto_type(no_type_alias)]
pub fn purge_statement(window_opened_before: NaiveDateTime) -> _ {
    dsl::delete(lf::table.filter(lf::window_started_at.le(window_opened_before)))
}
