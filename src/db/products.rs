//! Queries on `products`. Every read joins the owner's username, which the
//! API shows with each product.

use diesel::prelude::*;
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

/// The column a page is sorted by; ties are broken by `id`, in the same
/// direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    CreatedAt,
    Price,
    Name,
}

/// Where the previous page ended: its last row's sort value and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    Time(chrono::NaiveDateTime),
    Cents(i64),
    Text(String),
}

impl SortColumn {
    /// The index already in this order, for all products or one owner's.
    pub fn index_name(self, one_owner: bool) -> &'static str {
        match (self, one_owner) {
            (Self::CreatedAt, false) => "products_created",
            (Self::Price, false) => "products_price",
            (Self::Name, false) => "products_name",
            (Self::CreatedAt, true) => "products_owner_created",
            (Self::Price, true) => "products_owner_price",
            (Self::Name, true) => "products_owner_name",
        }
    }
}

/// The fields an edit sets; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProductChanges<'a> {
    pub name: Option<&'a str>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<&'a str>>,
    pub price_cents: Option<i64>,
}

/// Applies `changes`, moves the version on and stamps `updated_at`, and
/// answers whether a row changed. A conditional edit locks the row with
/// [`lock`] and checks its version first, in the same transaction.
#[tracing::instrument(level = "debug", skip(conn, changes))]
pub async fn update(
    conn: &mut Conn,
    id: i64,
    changes: &ProductChanges<'_>,
    now: chrono::NaiveDateTime,
) -> Result<bool> {
    let changed = diesel::update(products::table.find(id))
        .set((
            changes.name.map(|name| products::name.eq(name)),
            changes
                .description
                .map(|description| products::description.eq(description)),
            changes
                .price_cents
                .map(|cents| products::price_cents.eq(cents)),
            products::version.eq(products::version + 1),
            products::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(changed > 0)
}

/// Locks product `id`'s row for the rest of the transaction and answers
/// its version, if it exists.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn lock(conn: &mut Conn, id: i64) -> Result<Option<i32>> {
    Ok(products::table
        .find(id)
        .select(products::version)
        .for_update()
        .first(conn)
        .await
        .optional()?)
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
    Ok(diesel::delete(products::table.find(id))
        .execute(conn)
        .await?
        > 0)
}
