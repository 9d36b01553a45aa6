//! The search index: one `product_terms` row per word per product, and in
//! `search_terms` how many products hold each word. The writers of a
//! product call [`replace`] or [`remove`] in the same transaction, after
//! their write has locked the product's row, so the index never lags.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::models::ProductRow;
use super::schema::{product_terms, products, search_backfill, search_terms};
use super::{Conn, Result};

#[derive(Debug, Insertable)]
#[diesel(table_name = product_terms)]
struct TermRow<'a> {
    product_id: i64,
    term: &'a str,
    owner_id: i64,
    price_cents: i64,
    created_at: chrono::NaiveDateTime,
    name: &'a str,
}

/// What the index keeps of a product besides its words: the keys every
/// sort and filter reads.
#[derive(Debug, Clone, Copy)]
pub struct Indexed<'a> {
    pub id: i64,
    pub owner_id: i64,
    pub price_cents: i64,
    pub created_at: chrono::NaiveDateTime,
    pub name: &'a str,
}

impl<'a> From<&'a ProductRow> for Indexed<'a> {
    fn from(row: &'a ProductRow) -> Self {
        Self {
            id: row.id,
            owner_id: row.owner_id,
            price_cents: row.price_cents,
            created_at: row.created_at,
            name: &row.name,
        }
    }
}

/// Makes `product`'s index rows hold exactly `words`, with its current
/// sort keys, and moves the word counts by the difference.
#[tracing::instrument(level = "debug", skip_all, fields(product_id = product.id))]
pub async fn replace(conn: &mut Conn, product: &Indexed<'_>, words: &[String]) -> Result<()> {
    let old: Vec<String> = product_terms::table
        .filter(product_terms::product_id.eq(product.id))
        .select(product_terms::term)
        .for_update()
        .load(conn)
        .await?;
    let removed: Vec<&str> = old
        .iter()
        .filter(|term| !words.contains(term))
        .map(String::as_str)
        .collect();
    let added: Vec<&str> = words
        .iter()
        .filter(|word| !old.contains(word))
        .map(String::as_str)
        .collect();
    if !removed.is_empty() {
        diesel::delete(
            product_terms::table.filter(
                product_terms::product_id
                    .eq(product.id)
                    .and(product_terms::term.eq_any(&removed)),
            ),
        )
        .execute(conn)
        .await?;
    }
    if old.len() > removed.len() {
        // The words kept carry the sort keys, which an edit may change.
        diesel::update(product_terms::table.filter(product_terms::product_id.eq(product.id)))
            .set((
                product_terms::owner_id.eq(product.owner_id),
                product_terms::price_cents.eq(product.price_cents),
                product_terms::created_at.eq(product.created_at),
                product_terms::name.eq(product.name),
            ))
            .execute(conn)
            .await?;
    }
    if !added.is_empty() {
        let rows: Vec<TermRow> = added
            .iter()
            .map(|term| TermRow {
                product_id: product.id,
                term,
                owner_id: product.owner_id,
                price_cents: product.price_cents,
                created_at: product.created_at,
                name: product.name,
            })
            .collect();
        diesel::insert_into(product_terms::table)
            .values(&rows)
            .execute(conn)
            .await?;
    }
    count(conn, &added, &removed).await
}

/// Takes product `id` out of the index, before the product row goes.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn remove(conn: &mut Conn, id: i64) -> Result<()> {
    let old: Vec<String> = product_terms::table
        .filter(product_terms::product_id.eq(id))
        .select(product_terms::term)
        .load(conn)
        .await?;
    if old.is_empty() {
        return Ok(());
    }
    diesel::delete(product_terms::table.filter(product_terms::product_id.eq(id)))
        .execute(conn)
        .await?;
    let removed: Vec<&str> = old.iter().map(String::as_str).collect();
    count(conn, &[], &removed).await
}

/// Adds one to the count of every word in `added` and takes one from
/// every word in `removed`, in one statement that visits the words in
/// order: two writers lock common words in the same order, so they wait
/// for each other instead of deadlocking.
async fn count(conn: &mut Conn, added: &[&str], removed: &[&str]) -> Result<()> {
    let mut changed: Vec<(&str, i64)> = added
        .iter()
        .map(|term| (*term, 1))
        .chain(removed.iter().map(|term| (*term, 0)))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    changed.sort_unstable();
    let mut sql = String::from("INSERT INTO search_terms (term, products) VALUES ");
    sql.push_str(&vec!["(?, ?)"; changed.len()].join(", "));
    // A word already counted moves by one; `VALUES()` is deprecated on
    // MySQL, so the direction is told by whether the word was removed.
    sql.push_str(" ON DUPLICATE KEY UPDATE products = products + IF(term IN (");
    if removed.is_empty() {
        sql.push_str("NULL");
    } else {
        sql.push_str(&vec!["?"; removed.len()].join(", "));
    }
    sql.push_str("), -1, 1)");
    let mut query = diesel::sql_query(sql).into_boxed();
    for (term, products) in &changed {
        query = query.bind::<Text, _>(*term).bind::<BigInt, _>(*products);
    }
    for term in removed {
        query = query.bind::<Text, _>(*term);
    }
    query.execute(conn).await?;
    Ok(())
}

/// How many products hold each of `terms` (a word no product holds is
/// left out).
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn counts(
    conn: &mut diesel_async::AsyncMysqlConnection,
    terms: &[String],
) -> Result<Vec<(String, i64)>> {
    Ok(search_terms::table
        .filter(search_terms::term.eq_any(terms))
        .select((search_terms::term, search_terms::products))
        .load(conn)
        .await?)
}

/// Where `catalog reindex` stands: the first product id it has not yet
/// indexed, and whether it has finished.
pub async fn backfill_state(conn: &mut Conn) -> Result<(i64, bool)> {
    let (next, finished): (i64, Option<chrono::NaiveDateTime>) = search_backfill::table
        .find(1_i8)
        .select((
            search_backfill::next_product_id,
            search_backfill::finished_at,
        ))
        .first(conn)
        .await?;
    Ok((next, finished.is_some()))
}

/// The next `limit` products from id `from` on, locked for this
/// transaction, to be indexed again.
pub async fn lock_batch(conn: &mut Conn, from: i64, limit: i64) -> Result<Vec<ProductRow>> {
    Ok(products::table
        .filter(products::id.ge(from))
        .order(products::id)
        .limit(limit)
        .select(ProductRow::as_select())
        .for_update()
        .load(conn)
        .await?)
}

/// Records the backfill's progress, and its end when `finished_at` is set.
pub async fn save_backfill(
    conn: &mut Conn,
    next: i64,
    finished_at: Option<chrono::NaiveDateTime>,
) -> Result<()> {
    diesel::update(search_backfill::table.find(1_i8))
        .set((
            search_backfill::next_product_id.eq(next),
            search_backfill::finished_at.eq(finished_at),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The highest product id, if any.
pub async fn last_product_id(conn: &mut Conn) -> Result<Option<i64>> {
    Ok(products::table
        .select(diesel::dsl::max(products::id))
        .first(conn)
        .await?)
}
