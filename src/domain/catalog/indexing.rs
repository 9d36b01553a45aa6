//! Keeping the search index in step with the products: each write
//! updates it in its own transaction, and `catalog reindex` fills it for
//! products that predate it.

use diesel_async::AsyncConnection;

use super::product::Product;
use crate::db::{self, Conn, Database};
use crate::domain::clock::Clock;
use crate::domain::error::{Error, Result};
use crate::domain::search::product_words;

/// Makes the search index hold `product` as it is now, in the caller's
/// transaction.
pub(super) async fn index(
    conn: &mut Conn,
    product: &Product,
    before: db::search_index::Before,
) -> Result<()> {
    let words = product_words(&product.name, product.description.as_deref());
    let indexed = db::search_index::Indexed {
        id: product.id,
        owner_id: product.owner.id,
        price_cents: product.price.cents(),
        created_at: product.created_at.naive_utc(),
        name: &product.name,
    };
    Ok(db::search_index::replace(conn, &indexed, &words, before).await?)
}

/// Whether every product is in the search index: `catalog reindex` has
/// finished, or there was nothing to index when the index was made.
pub async fn search_index_complete(db: &Database) -> Result<bool> {
    Ok(db
        .run(async |conn| db::search_index::backfill_state(conn).await)
        .await?
        .1)
}

/// How far `catalog reindex` has got.
#[derive(Debug, Clone, Copy)]
pub struct ReindexProgress {
    /// Products indexed by this run.
    pub indexed: u64,
    /// The next product id to index.
    pub next_id: i64,
    /// The highest product id when this run started.
    pub last_id: i64,
    pub finished: bool,
}

/// Indexes every product again, `batch` at a time in id order from
/// where the last run stopped (or from the start with `restart`), each
/// batch in a transaction that locks its products, as an edit does: safe
/// while the service runs, and safe to stop and run again. Reports each
/// batch to `progress`.
pub async fn reindex(
    db: &Database,
    clock: &Clock,
    batch: i64,
    restart: bool,
    mut progress: impl FnMut(ReindexProgress),
) -> Result<ReindexProgress> {
    let (mut next, _) = db
        .run(async |conn| db::search_index::backfill_state(conn).await)
        .await?;
    if restart {
        next = 0;
    }
    let last_id = db
        .run(async |conn| db::search_index::last_product_id(conn).await)
        .await?
        .unwrap_or(0);
    let mut indexed = 0;
    loop {
        let done = db
            .run(async |conn| {
                conn.transaction::<_, Error, _>(async |conn| {
                    let rows = db::search_index::lock_batch(conn, next, batch).await?;
                    let Some(last) = rows.last().map(|row| row.id) else {
                        let now = clock.now();
                        db::search_index::save_backfill(conn, next, Some(now)).await?;
                        return Ok(0);
                    };
                    for row in &rows {
                        let words = product_words(&row.name, row.description.as_deref());
                        let before = db::search_index::Before::Unknown;
                        db::search_index::replace(conn, &row.into(), &words, before).await?;
                    }
                    db::search_index::save_backfill(conn, last + 1, None).await?;
                    next = last + 1;
                    Ok(rows.len())
                })
                .await
            })
            .await?;
        indexed += done as u64;
        let report = ReindexProgress {
            indexed,
            next_id: next,
            last_id,
            finished: done == 0,
        };
        progress(report);
        if report.finished {
            return Ok(report);
        }
    }
}
