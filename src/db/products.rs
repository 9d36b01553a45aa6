//! Queries on `products`. Every read joins the owner's username, which the
//! API shows with each product.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::models::{NewProductRow, ProductRow};
use super::schema::{products, users};
use super::{Conn, Result, last_insert_id};

/// A product with its owner's username.
pub type ProductWithOwner = (ProductRow, String);

#[tracing::instrument(skip_all)]
pub async fn insert(conn: &mut Conn, row: &NewProductRow<'_>) -> Result<i64> {
    diesel::insert_into(products::table)
        .values(row)
        .execute(conn)
        .await?;
    last_insert_id(conn).await
}

#[tracing::instrument(skip(conn))]
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
#[tracing::instrument(skip(conn))]
pub async fn page(
    conn: &mut Conn,
    owner: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ProductWithOwner>> {
    let mut query = products::table
        .inner_join(users::table)
        .select((ProductRow::as_select(), users::username))
        .order(products::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(products::owner_id.eq(owner));
    }
    if let Some(before) = before {
        query = query.filter(products::id.lt(before));
    }
    Ok(query.load(conn).await?)
}

#[tracing::instrument(skip(conn))]
pub async fn owner_of(conn: &mut Conn, id: i64) -> Result<Option<i64>> {
    Ok(products::table
        .find(id)
        .select(products::owner_id)
        .first(conn)
        .await
        .optional()?)
}

/// Deletes a product and answers whether a row went.
#[tracing::instrument(skip(conn))]
pub async fn delete(conn: &mut Conn, id: i64) -> Result<bool> {
    let deleted = diesel::delete(products::table.find(id))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}
