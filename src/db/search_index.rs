//! The search index: one `product_terms` row per word per product, and in
//! `search_terms` how many products hold each word. The writers of a
//! product call [`replace`] or [`remove`] in the same transaction, after
//! their write has locked the product's row, so the index never lags.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Datetime, Text};
use diesel_async::RunQueryDsl;

use super::models::ProductRow;
use super::schema::{product_terms, products, search_backfill, search_terms};
use super::{Conn, Result};

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

/// What the index holds for a product before [`replace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    /// Nothing: the product was just created.
    Nothing,
    /// Its words already (only its price changed): just the keys move.
    SameWords,
    /// Unknown: read under lock.
    Unknown,
}

/// Makes `product`'s index rows hold exactly `words`, with its current
/// sort keys, and moves the word counts by the difference. Every
/// statement has a fixed text, so each is prepared once per connection:
/// the words travel as one JSON array, read back by `JSON_TABLE` (MySQL
/// 8.0 and MariaDB 10.6 on).
#[tracing::instrument(level = "debug", skip_all, fields(product_id = product.id))]
pub async fn replace(
    conn: &mut Conn,
    product: &Indexed<'_>,
    words: &[String],
    before: Before,
) -> Result<()> {
    let old: Vec<String> = match before {
        Before::Nothing => Vec::new(),
        Before::SameWords => words.to_vec(),
        Before::Unknown => locked_terms(conn, product.id).await?,
    };
    let same = old.len() == words.len() && old.iter().all(|term| words.contains(term));
    if same {
        if !old.is_empty() {
            // The words stay; the keys they carry may have moved.
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
        return Ok(());
    }
    if !old.is_empty() {
        delete_terms(conn, product.id).await?;
    }
    if !words.is_empty() {
        diesel::sql_query(
            "INSERT INTO product_terms (product_id, term, owner_id, price_cents, created_at, name) \
             SELECT ?, w.term, ?, ?, ?, ? \
             FROM JSON_TABLE(?, '$[*]' COLUMNS (term VARCHAR(32) PATH '$')) AS w",
        )
        .bind::<BigInt, _>(product.id)
        .bind::<BigInt, _>(product.owner_id)
        .bind::<BigInt, _>(product.price_cents)
        .bind::<Datetime, _>(product.created_at)
        .bind::<Text, _>(product.name)
        .bind::<Text, _>(json(words))
        .execute(conn)
        .await?;
    }
    let added: Vec<&str> = words
        .iter()
        .filter(|word| !old.contains(word))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = old
        .iter()
        .filter(|term| !words.contains(term))
        .map(String::as_str)
        .collect();
    count(conn, &added, &removed).await
}

/// Takes product `id` out of the index, before the product row goes.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn remove(conn: &mut Conn, id: i64) -> Result<()> {
    let old = locked_terms(conn, id).await?;
    if old.is_empty() {
        return Ok(());
    }
    delete_terms(conn, id).await?;
    let removed: Vec<&str> = old.iter().map(String::as_str).collect();
    count(conn, &[], &removed).await
}

async fn locked_terms(conn: &mut Conn, id: i64) -> Result<Vec<String>> {
    Ok(product_terms::table
        .filter(product_terms::product_id.eq(id))
        .select(product_terms::term)
        .for_update()
        .load(conn)
        .await?)
}

async fn delete_terms(conn: &mut Conn, id: i64) -> Result<()> {
    diesel::delete(product_terms::table.filter(product_terms::product_id.eq(id)))
        .execute(conn)
        .await?;
    Ok(())
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("strings and numbers serialize")
}

/// Adds one to the count of every word in `added` and takes one from
/// every word in `removed`, in one statement that visits the words in
/// order: two writers lock common words in the same order, so they wait
/// for each other instead of deadlocking.
async fn count(conn: &mut Conn, added: &[&str], removed: &[&str]) -> Result<()> {
    let mut changed: Vec<(&str, i64)> = added
        .iter()
        .map(|term| (*term, 1))
        .chain(removed.iter().map(|term| (*term, -1)))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    // Rust orders strings by their UTF-8 bytes: code points, as the
    // binary collation of `term` does.
    changed.sort_unstable();
    diesel::sql_query(
        "INSERT INTO search_terms (term, products) \
         SELECT w.term, GREATEST(w.delta, 0) \
         FROM JSON_TABLE(?, '$[*]' COLUMNS (n FOR ORDINALITY, term VARCHAR(32) PATH '$[0]', \
         delta INT PATH '$[1]')) AS w ORDER BY w.n \
         ON DUPLICATE KEY UPDATE products = products + w.delta",
    )
    .bind::<Text, _>(json(&changed))
    .execute(conn)
    .await?;
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
