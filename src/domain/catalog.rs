//! Products: browsing in keyset pages, creating, and deleting by the owner
//! or an admin.

use chrono::{DateTime, Utc};

use crate::db::{self, Pool, models::NewProductRow, products::ProductWithOwner};

use super::accounts::Role;
use super::clock::Clock;
use super::cursor;
use super::error::{Error, Result};
use super::price::Price;
use super::values::{Description, ProductName};

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, Clone)]
pub struct Owner {
    pub id: i64,
    pub username: String,
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub price: Price,
    pub owner: Owner,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<ProductWithOwner> for Product {
    type Error = Error;

    fn try_from((row, owner_name): ProductWithOwner) -> Result<Self> {
        Ok(Self {
            id: row.id,
            name: row.name,
            description: row.description,
            price: Price::from_cents(row.price_cents).map_err(Error::internal)?,
            owner: Owner {
                id: row.owner_id,
                username: owner_name,
            },
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

pub struct NewProduct {
    pub name: ProductName,
    pub description: Option<Description>,
    pub price: Price,
}

/// Which page to show: at most `limit` items after `cursor`.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Product>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Clone)]
pub struct Catalog {
    pool: Pool,
    clock: Clock,
}

impl Catalog {
    pub fn new(pool: Pool, clock: Clock) -> Self {
        Self { pool, clock }
    }

    /// A page of all products (or of one owner's), newest first.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn list(&self, owner: Option<i64>, request: PageRequest) -> Result<Page> {
        let limit = request.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Error::Invalid {
                field: "limit",
                reason: format!("must be from 1 to {MAX_PAGE_SIZE}"),
            });
        }
        let before = match request.cursor.as_deref() {
            None => None,
            Some(text) => Some(cursor::decode(text).ok_or_else(|| Error::Invalid {
                field: "cursor",
                reason: "is not a cursor this service issued".into(),
            })?),
        };
        let mut conn = db::conn(&self.pool).await?;
        let mut rows = db::products::page(&mut conn, owner, before, i64::from(limit) + 1).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let items = rows
            .into_iter()
            .map(Product::try_from)
            .collect::<Result<Vec<_>>>()?;
        let next_cursor = match items.last() {
            Some(last) if has_more => Some(cursor::encode(last.id)),
            _ => None,
        };
        Ok(Page { items, next_cursor })
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn get(&self, id: i64) -> Result<Product> {
        let mut conn = db::conn(&self.pool).await?;
        db::products::find(&mut conn, id)
            .await?
            .ok_or(Error::NotFound)?
            .try_into()
    }

    #[tracing::instrument(level = "debug", skip_all, fields(owner_id))]
    pub async fn create(&self, owner_id: i64, product: NewProduct) -> Result<Product> {
        let now = self.clock.now();
        let row = NewProductRow {
            owner_id,
            name: product.name.as_str(),
            description: product.description.as_ref().map(Description::as_str),
            price_cents: product.price.cents(),
            created_at: now,
            updated_at: now,
        };
        let mut conn = db::conn(&self.pool).await?;
        let id = db::products::insert(&mut conn, &row).await?;
        db::products::find(&mut conn, id)
            .await?
            .ok_or_else(|| Error::internal("a product vanished right after its insert"))?
            .try_into()
    }

    /// Deletes a product. Only its owner or an admin may.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn delete(&self, caller: i64, id: i64) -> Result<()> {
        let mut conn = db::conn(&self.pool).await?;
        let owner = db::products::owner_of(&mut conn, id)
            .await?
            .ok_or(Error::NotFound)?;
        if owner != caller {
            // The role is read now, not from the token, so a demotion
            // takes effect at once.
            let caller = db::users::find(&mut conn, caller).await?;
            if caller.map(|row| Role::from_db(&row.role)) != Some(Role::Admin) {
                return Err(Error::Forbidden);
            }
        }
        if db::products::delete(&mut conn, id).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }
}
