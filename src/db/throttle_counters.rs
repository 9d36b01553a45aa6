//! Queries on `throttle_counters`: fixed-window counters keyed by a
//! digest, each window opening at the first hit after the last one ended.
//! What a key stands for, and what its limit is, is the domain's business.

use chrono::NaiveDateTime;
use diesel::dsl;
use diesel::mysql::Mysql;
use diesel::prelude::*;
use diesel::sql_types::{Binary, Datetime};
use diesel_async::RunQueryDsl;

use super::schema::throttle_counters as tc;
use super::{Conn, Result};

/// A digest a counter is kept under.
pub type Key = [u8; 32];

/// One counter: its hits in the current window, and when that window
/// opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub key: Key,
    pub hits: i32,
    pub window_started_at: NaiveDateTime,
}

/// Counts one hit on the counters of `keys`, in this transaction: each is
/// created at 1, restarted at 1 when its window opened at or before
/// `window_opened_before`, or moved on by one, and locked until the
/// transaction ends, so that concurrent callers (on any replica) queue and
/// each sees the counts the ones before it left. Answers every counter,
/// in the order of `keys`. A caller that rolls the transaction back has
/// counted nothing.
///
/// The rows are locked in one order, by key, whatever order `keys` has,
/// so two callers locking overlapping sets cannot deadlock.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn hit(
    conn: &mut Conn,
    keys: &[Key],
    now: NaiveDateTime,
    window_opened_before: NaiveDateTime,
) -> Result<Vec<Counter>> {
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let rows = vec!["(?, 1, ?)"; sorted.len()].join(", ");
    // MySQL evaluates these assignments left to right, so `hits` must be
    // set while `window_started_at` still holds the old value.
    let mut upsert = diesel::sql_query(format!(
        "INSERT INTO throttle_counters (throttle_key, hits, window_started_at) VALUES {rows} \
         ON DUPLICATE KEY UPDATE \
           hits = IF(window_started_at <= ?, 1, hits + 1), \
           window_started_at = IF(window_started_at <= ?, ?, window_started_at)"
    ))
    .into_boxed::<Mysql>();
    for key in &sorted {
        upsert = upsert
            .bind::<Binary, _>(key.to_vec())
            .bind::<Datetime, _>(now);
    }
    upsert
        .bind::<Datetime, _>(window_opened_before)
        .bind::<Datetime, _>(window_opened_before)
        .bind::<Datetime, _>(now)
        .execute(conn)
        .await?;
    let found: Vec<(Vec<u8>, i32, NaiveDateTime)> = tc::table
        .filter(tc::throttle_key.eq_any(sorted.iter().map(|key| key.as_slice())))
        .select((tc::throttle_key, tc::hits, tc::window_started_at))
        .load(conn)
        .await?;
    keys.iter()
        .map(|key| {
            found
                .iter()
                .find(|(found, _, _)| found.as_slice() == key.as_slice())
                .map(|&(_, hits, window_started_at)| Counter {
                    key: *key,
                    hits,
                    window_started_at,
                })
                .ok_or_else(|| super::Error::Query(diesel::result::Error::NotFound))
        })
        .collect()
}

/// Sets the counters of `cleared` back to zero and takes one hit back
/// from those of `refunded` (never below zero), in one statement.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn settle(conn: &mut Conn, cleared: &[Key], refunded: &[Key]) -> Result<()> {
    if cleared.is_empty() && refunded.is_empty() {
        return Ok(());
    }
    let list = |keys: &[Key]| vec!["?"; keys.len().max(1)].join(", ");
    // `IN (NULL)` matches nothing, for an empty `cleared`.
    let cleared_list = if cleared.is_empty() {
        "NULL".to_owned()
    } else {
        list(cleared)
    };
    let mut statement = diesel::sql_query(format!(
        "UPDATE throttle_counters \
         SET hits = IF(throttle_key IN ({cleared_list}), 0, GREATEST(hits - 1, 0)) \
         WHERE throttle_key IN ({})",
        list(&[cleared, refunded].concat())
    ))
    .into_boxed::<Mysql>();
    for key in cleared.iter().chain(cleared).chain(refunded) {
        statement = statement.bind::<Binary, _>(key.to_vec());
    }
    statement.execute(conn).await?;
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
    dsl::delete(tc::table.filter(tc::window_started_at.le(window_opened_before)))
}
