//! The index entries a list page examines, read from the server's own
//! `Handler_read_*` counters. Included by path from `tests/api/main.rs`
//! and `benches/catalog.rs`.

use catalog::db::listing::{self, ListQuery, PageRows, ReadLimit};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncMysqlConnection, RunQueryDsl};

/// Every `Handler_read_*` counter of this session, summed: index entries
/// and rows the server examined, whatever the plan.
pub async fn handler_reads(conn: &mut AsyncMysqlConnection) -> u64 {
    #[derive(QueryableByName)]
    struct Status {
        #[diesel(sql_type = Text, column_name = "Value")]
        value: String,
    }
    let rows: Vec<Status> = diesel::sql_query("SHOW SESSION STATUS LIKE 'Handler_read%'")
        .load(conn)
        .await
        .expect("the session's status");
    rows.iter()
        .map(|row| row.value.parse::<u64>().unwrap_or(0))
        .sum()
}

/// The page `query` reads, as the service reads it, and the index entries
/// it examined, net of what reading the counters costs.
pub async fn examine(
    conn: &mut AsyncMysqlConnection,
    limit: ReadLimit,
    query: &ListQuery,
) -> (PageRows, u64) {
    let first = handler_reads(conn).await;
    let second = handler_reads(conn).await;
    let page = listing::page(conn, limit, query)
        .await
        .expect("the page reads");
    let after = handler_reads(conn).await;
    (page, after - second - (second - first))
}
