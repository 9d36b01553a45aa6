//! A statement run under `EXPLAIN` (or `ANALYZE`) exactly as the code
//! builds it. Included by path from `tests/api/main.rs` and
//! `benches/catalog.rs`.

use diesel::mysql::Mysql;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::Binary;

/// `prefix` followed by a statement exactly as the code builds it, binds
/// included; the server answers with one text column.
pub struct Explain<'q, Q> {
    pub prefix: &'static str,
    pub statement: &'q Q,
}

impl<Q: QueryFragment<Mysql>> QueryFragment<Mysql> for Explain<'_, Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(self.prefix);
        self.statement.walk_ast(out.reborrow())
    }
}

impl<Q> QueryId for Explain<'_, Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<'_, Q> {
    type SqlType = Binary;
}
