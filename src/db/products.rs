//! Queries on `products`. Every read joins the owner's username, which the
//! API shows with each product.

use diesel::dsl::{AsSelect, SqlTypeOf};
use diesel::mysql::Mysql;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

use super::models::{NewProductRow, ProductRow};
use super::schema::{products, users};
use super::{Conn, Result, last_insert_id};

/// A product with its owner's username.
pub type ProductWithOwner = (ProductRow, String);

#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(conn: &mut Conn, row: &NewProductRow<'_>) -> Result<i64> {
    diesel::insert_into(products::table)
        .values(row)
        .execute(conn)
        .await?;
    last_insert_id(conn).await
}

#[tracing::instrument(level = "debug", skip(conn))]
pub async fn find(conn: &mut Conn, id: i64) -> Result<Option<ProductWithOwner>> {
    Ok(products::table
        .inner_join(users::table)
        .filter(products::id.eq(id))
        .select((ProductRow::as_select(), users::username))
        .first(conn)
        .await
        .optional()?)
}

/// One keyset page, newest first: products with an id below `before`
/// (all when `None`), optionally only those of `owner`. Asks for `limit`
/// rows; callers ask for one more than they show to learn whether another
/// page follows.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn page(
    conn: &mut Conn,
    owner: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ProductWithOwner>> {
    Ok(page_query(owner, before, limit).load(conn).await?)
}

/// The statement behind [`page`], for callers that inspect its plan.
pub fn page_query(owner: Option<i64>, before: Option<i64>, limit: i64) -> PageQuery {
    PageQuery {
        selection: (ProductRow::as_select(), users::username),
        owner,
        before,
        limit,
    }
}

type PageSelection = (AsSelect<ProductRow, Mysql>, users::username);

/// A keyset page whose plan cannot depend on table statistics.
///
/// Left to itself the optimizer may start from `users` and join every
/// product before sorting them all to find the newest few (seconds at a
/// million rows). This statement pins the plan instead: `STRAIGHT_JOIN`
/// makes `products` drive, `FORCE INDEX` makes it read the index that is
/// already in page order (the primary key, or `(owner_id, id)` for one
/// owner's page), so the read stops after `limit` rows, and `users` is
/// joined by primary key for those rows alone. Both hints mean the same
/// on MySQL 8.4 and MariaDB. diesel's DSL has no index hints, hence a
/// hand-written fragment; its select list still comes from [`ProductRow`].
#[derive(Debug, Clone, Copy)]
pub struct PageQuery {
    selection: PageSelection,
    owner: Option<i64>,
    before: Option<i64>,
    limit: i64,
}

impl QueryFragment<Mysql> for PageQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
        out.push_sql("SELECT STRAIGHT_JOIN ");
        self.selection.walk_ast(out.reborrow())?;
        out.push_sql(match self.owner {
            None => " FROM `products` FORCE INDEX (PRIMARY)",
            Some(_) => " FROM `products` FORCE INDEX (`products_owner_id_id`)",
        });
        out.push_sql(" INNER JOIN `users` ON `users`.`id` = `products`.`owner_id`");
        let mut keyword = " WHERE ";
        if let Some(owner) = &self.owner {
            out.push_sql(keyword);
            out.push_sql("`products`.`owner_id` = ");
            out.push_bind_param::<BigInt, _>(owner)?;
            keyword = " AND ";
        }
        if let Some(before) = &self.before {
            out.push_sql(keyword);
            out.push_sql("`products`.`id` < ");
            out.push_bind_param::<BigInt, _>(before)?;
        }
        out.push_sql(" ORDER BY `products`.`id` DESC LIMIT ");
        out.push_bind_param::<BigInt, _>(&self.limit)
    }
}

// No static id: the prepared-statement cache keys each of the four
// shapes by its SQL text, so every shape is prepared once per connection.
impl QueryId for PageQuery {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for PageQuery {
    type SqlType = SqlTypeOf<PageSelection>;
}

#[tracing::instrument(level = "debug", skip(conn))]
pub async fn owner_of(conn: &mut Conn, id: i64) -> Result<Option<i64>> {
    Ok(products::table
        .find(id)
        .select(products::owner_id)
        .first(conn)
        .await
        .optional()?)
}

/// Deletes a product and answers whether a row went.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn delete(conn: &mut Conn, id: i64) -> Result<bool> {
    let deleted = diesel::delete(products::table.find(id))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}
