//! Products: browsing, searching and sorting in keyset pages; creating
//! (safely retried with an idempotency key); editing and deleting by the
//! owner or an admin, optionally only at a known version.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::db::listing::ListQuery;
use crate::db::products::{ProductChanges, SortColumn, SortValue};
use crate::db::{self, Conn, Database, models::NewProductRow, products::ProductWithOwner};

use super::accounts::Role;
use super::clock::{Clock, after};
use super::cursor::{Cursors, Position};
use super::error::{Error, Result};
use super::price::Price;
use super::search::{SearchTerms, product_words};
use super::values::{Description, ProductName, Username, login_key};

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: i64,
    pub username: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub price: Price,
    pub owner: Owner,
    /// Moves on with every edit.
    pub version: i32,
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
            version: row.version,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

impl Product {
    /// The strong entity tag of this version: `"<id>.<version>"`, so a
    /// tag copied from another product never matches.
    pub fn etag(&self) -> String {
        format!("\"{}.{}\"", self.id, self.version)
    }

    /// The version an entity tag names for product `id`, if it is one of
    /// its tags.
    pub fn version_in_etag(id: i64, tag: &str) -> Option<i32> {
        let inner = tag.strip_prefix('"')?.strip_suffix('"')?;
        let (tag_id, version) = inner.split_once('.')?;
        (tag_id == id.to_string()).then_some(())?;
        version.parse().ok()
    }
}

pub struct NewProduct {
    pub name: ProductName,
    pub description: Option<Description>,
    pub price: Price,
}

/// What an edit changes; `None` keeps a field.
#[derive(Debug, Default)]
pub struct ProductEdit {
    pub name: Option<ProductName>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<Description>>,
    pub price: Option<Price>,
}

/// `If-Match`: which versions a write may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// No condition (no header, or `*`): any current version.
    Any,
    /// Only one of these entity tags; none of them may be current.
    Tags(Vec<String>),
}

impl IfMatch {
    /// The versions of product `id` that the tags name. A weak tag
    /// (`W/"…"`) names the same version as the strong one: a compressing
    /// proxy, such as the bundled nginx, weakens the tags of what it
    /// compresses, and compression does not change the product.
    fn versions(&self, id: i64) -> Option<Vec<i32>> {
        match self {
            Self::Any => None,
            Self::Tags(tags) => Some(
                tags.iter()
                    .map(|tag| tag.strip_prefix("W/").unwrap_or(tag))
                    .filter_map(|tag| Product::version_in_etag(id, tag))
                    .collect(),
            ),
        }
    }
}

/// The order of a listing: a key, and its direction. Ties are broken
/// by id in the same direction, so the order is total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    NewestFirst,
    OldestFirst,
    CheapestFirst,
    DearestFirst,
    NameAscending,
    NameDescending,
}

impl Sort {
    pub const ALL: [Self; 6] = [
        Self::NewestFirst,
        Self::OldestFirst,
        Self::CheapestFirst,
        Self::DearestFirst,
        Self::NameAscending,
        Self::NameDescending,
    ];

    /// The name clients use: the field, with `-` for descending.
    pub fn name(self) -> &'static str {
        match self {
            Self::NewestFirst => "-created_at",
            Self::OldestFirst => "created_at",
            Self::CheapestFirst => "price",
            Self::DearestFirst => "-price",
            Self::NameAscending => "name",
            Self::NameDescending => "-name",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|sort| sort.name() == name)
    }

    /// The column this order sorts by.
    pub fn column(self) -> SortColumn {
        match self {
            Self::NewestFirst | Self::OldestFirst => SortColumn::CreatedAt,
            Self::CheapestFirst | Self::DearestFirst => SortColumn::Price,
            Self::NameAscending | Self::NameDescending => SortColumn::Name,
        }
    }

    /// Whether this order runs from high to low.
    pub fn descending(self) -> bool {
        matches!(
            self,
            Self::NewestFirst | Self::DearestFirst | Self::NameDescending
        )
    }

    /// Where a page ends: `product`'s sort value and id.
    fn position(self, product: &Product) -> Position {
        match self.column() {
            SortColumn::CreatedAt => {
                Position::Time(product.created_at.timestamp_micros(), product.id)
            }
            SortColumn::Price => Position::Cents(product.price.cents(), product.id),
            SortColumn::Name => Position::Text(product.name.clone(), product.id),
        }
    }

    /// Where a page ends that stopped at `value` and `id` of its read.
    fn position_at(value: SortValue, id: i64) -> Position {
        match value {
            SortValue::Time(at) => Position::Time(at.and_utc().timestamp_micros(), id),
            SortValue::Cents(cents) => Position::Cents(cents, id),
            SortValue::Text(name) => Position::Text(name, id),
        }
    }

    /// The keyset bound a position gives, if it fits this sort.
    fn after(self, position: Position) -> Option<(SortValue, i64)> {
        match (self.column(), position) {
            (SortColumn::CreatedAt, Position::Time(micros, id)) => {
                let at = DateTime::from_timestamp_micros(micros)?.naive_utc();
                Some((SortValue::Time(at), id))
            }
            (SortColumn::Price, Position::Cents(cents, id)) => Some((SortValue::Cents(cents), id)),
            (SortColumn::Name, Position::Text(name, id)) => Some((SortValue::Text(name), id)),
            _ => None,
        }
    }
}

/// Whose products a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// The caller's own (`/my`).
    OwnedBy(i64),
}

/// What a listing keeps.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub search: Option<SearchTerms>,
    pub min_price: Option<Price>,
    pub max_price: Option<Price>,
    /// Only this user's products.
    pub owner: Option<Username>,
}

/// Which page to show: at most `limit` items after `cursor`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub scope: Scope,
    pub filters: Filters,
    pub sort: Sort,
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageRequest {
    /// The query a cursor is bound to: everything but the position.
    pub fn binding(&self) -> String {
        let scope = match self.scope {
            Scope::All => "all".to_owned(),
            Scope::OwnedBy(id) => format!("my:{id}"),
        };
        let cents = |price: Option<Price>| price.map(|p| p.cents().to_string());
        let filters = &self.filters;
        format!(
            "{scope}|sort={}|q={}|min={}|max={}|owner={}",
            self.sort.name(),
            filters
                .search
                .as_ref()
                .map(SearchTerms::canonical)
                .unwrap_or_default(),
            cents(filters.min_price).unwrap_or_default(),
            cents(filters.max_price).unwrap_or_default(),
            filters
                .owner
                .as_ref()
                .map(|name| super::values::fold_case(name.as_str()))
                .unwrap_or_default(),
        )
    }
}

/// A page may hold fewer than `limit` items and still not be the last:
/// a filtered read stops after a bounded number of index entries (see
/// [`db::listing`]), and then the page ends where the read did.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Product>,
    /// Where the next page starts; `None` on the last page, and only
    /// there.
    pub next_cursor: Option<String>,
}

/// A create's outcome: the product, and whether it was made by an
/// earlier request with the same idempotency key (and is replayed).
#[derive(Debug, Clone)]
pub struct Created {
    pub product: Product,
    pub replayed: bool,
}

/// An `Idempotency-Key` as a client sent it: 1–255 visible ASCII
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub const MAX: usize = 255;

    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let visible = text.bytes().all(|b| b.is_ascii_graphic());
        if text.is_empty() || text.len() > Self::MAX || !visible {
            return Err(format!(
                "must be 1 to {} visible ASCII characters, such as a UUID",
                Self::MAX
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

/// How long a key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A created product as stored with its idempotency key, to answer a
/// retry with exactly what the first request got.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    id: i64,
    name: String,
    description: Option<String>,
    price_cents: i64,
    owner_id: i64,
    owner_username: String,
    version: i32,
    created_at_micros: i64,
    updated_at_micros: i64,
}

impl From<&Product> for Snapshot {
    fn from(product: &Product) -> Self {
        Self {
            id: product.id,
            name: product.name.clone(),
            description: product.description.clone(),
            price_cents: product.price.cents(),
            owner_id: product.owner.id,
            owner_username: product.owner.username.clone(),
            version: product.version,
            created_at_micros: product.created_at.timestamp_micros(),
            updated_at_micros: product.updated_at.timestamp_micros(),
        }
    }
}

impl TryFrom<Snapshot> for Product {
    type Error = Error;

    fn try_from(snapshot: Snapshot) -> Result<Self> {
        let at = |micros| {
            DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| Error::internal("a stored creation has an impossible time"))
        };
        Ok(Self {
            id: snapshot.id,
            name: snapshot.name,
            description: snapshot.description,
            price: Price::from_cents(snapshot.price_cents).map_err(Error::internal)?,
            owner: Owner {
                id: snapshot.owner_id,
                username: snapshot.owner_username,
            },
            version: snapshot.version,
            created_at: at(snapshot.created_at_micros)?,
            updated_at: at(snapshot.updated_at_micros)?,
        })
    }
}

/// What makes two creates "the same request": the product they ask for.
fn request_digest(product: &NewProduct) -> [u8; 32] {
    let canonical = serde_json::json!([
        product.name.as_str(),
        product.description.as_ref().map(Description::as_str),
        product.price.cents(),
    ]);
    Sha256::digest(canonical.to_string()).into()
}

/// How long a list read that may examine many entries waits for one of
/// the scan slots before it is refused.
pub const SCAN_SLOT_WAIT: Duration = Duration::from_millis(250);

/// The catalog. List reads that may examine many index entries (any
/// search, a price filter in another order than price) hold one of a few
/// scan slots while they run: a bulkhead, so a flood of them can hold at
/// most that many pooled connections, and plain pages, single products,
/// logins and writes never queue behind them.
#[derive(Clone)]
pub struct Catalog {
    db: Database,
    clock: Clock,
    cursors: Cursors,
    scans: Arc<Semaphore>,
}

impl Catalog {
    pub fn new(db: Database, clock: Clock, cursors: Cursors, scan_slots: usize) -> Self {
        metrics::counter!("catalog_list_scan_refused_total").increment(0);
        db::listing::publish_metrics();
        Self {
            db,
            clock,
            cursors,
            scans: Arc::new(Semaphore::new(scan_slots.max(1))),
        }
    }

    /// A page of products: all, or the caller's, kept by `filters`, in
    /// `sort` order.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn list(&self, request: PageRequest) -> Result<Page> {
        let limit = request.limit;
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Error::Invalid {
                field: "limit",
                reason: format!("must be from 1 to {MAX_PAGE_SIZE}"),
            });
        }
        let filters = &request.filters;
        if let (Some(min), Some(max)) = (filters.min_price, filters.max_price)
            && min > max
        {
            return Err(Error::Invalid {
                field: "max_price",
                reason: "must not be below `min_price`".into(),
            });
        }
        let binding = request.binding();
        let after = match request.cursor.as_deref() {
            None => None,
            Some(text) => Some(
                self.cursors
                    .decode(text, &binding)
                    .and_then(|position| request.sort.after(position))
                    .ok_or_else(|| Error::Invalid {
                        field: "cursor",
                        reason: "is not a cursor this service made for this query; pass a \
                                 page's `next_cursor` unchanged, with the same filters and sort"
                            .into(),
                    })?,
            ),
        };
        let mut query = ListQuery {
            owner: None,
            terms: filters
                .search
                .as_ref()
                .map(|terms| terms.words().to_vec())
                .unwrap_or_default(),
            min_cents: filters.min_price.map(Price::cents),
            max_cents: filters.max_price.map(Price::cents),
            column: request.sort.column(),
            descending: request.sort.descending(),
            after,
            limit: i64::from(limit) + 1,
        };
        let _slot = if query.may_examine_many() {
            Some(self.scan_slot().await?)
        } else {
            None
        };
        let read = self
            .db
            .run(async |conn| {
                let owner = match (request.scope, &filters.owner) {
                    (Scope::OwnedBy(id), _) => Some(id),
                    (Scope::All, None) => None,
                    (Scope::All, Some(name)) => {
                        let key = login_key(name.as_str());
                        let user =
                            db::users::find_by_login_key(conn, db::users::LoginKey::Username(&key))
                                .await?;
                        match user {
                            Some(user) => Some(user.id),
                            // Nobody by that name: nothing to show.
                            None => return Ok(None),
                        }
                    }
                };
                query.owner = owner;
                let read = db::listing::page(conn, self.db.read_limit(), &query).await?;
                Ok::<_, Error>(Some(read))
            })
            .await?;
        let Some(read) = read else {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        };
        let mut rows = read.rows;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let items = rows
            .into_iter()
            .map(Product::try_from)
            .collect::<Result<Vec<_>>>()?;
        let position = match (items.last(), read.resume_after) {
            (Some(last), _) if has_more => Some(request.sort.position(last)),
            // The read stopped at its bound before the page was full.
            (_, Some((value, id))) => Some(Sort::position_at(value, id)),
            _ => None,
        };
        let next_cursor = position.map(|position| self.cursors.encode(&position, &binding));
        Ok(Page { items, next_cursor })
    }

    /// One of the scan slots, waiting at most [`SCAN_SLOT_WAIT`].
    async fn scan_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        match tokio::time::timeout(SCAN_SLOT_WAIT, self.scans.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!("catalog_list_scan_refused_total").increment(1);
                Err(Error::Unavailable(Some(
                    "every scan slot (DATABASE_SCAN_SLOTS) stayed busy".into(),
                )))
            }
        }
    }

    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn get(&self, id: i64) -> Result<Product> {
        self.db
            .run(async |conn| find(conn, id).await)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Creates a product owned by `owner_id`. With an idempotency key, a
    /// repeat of the same request (within [`IDEMPOTENCY_TTL`]) gets the
    /// product the first one created instead of another, however many
    /// arrive at once; the same key with another request is refused.
    #[tracing::instrument(level = "debug", skip_all, fields(owner_id))]
    pub async fn create(
        &self,
        owner_id: i64,
        product: NewProduct,
        key: Option<IdempotencyKey>,
    ) -> Result<Created> {
        let Some(key) = key else {
            let product = self
                .db
                .run(async |conn| {
                    conn.transaction::<_, Error, _>(async |conn| {
                        self.insert(conn, owner_id, &product).await
                    })
                    .await
                })
                .await?;
            return Ok(Created {
                product,
                replayed: false,
            });
        };
        let key_hash: [u8; 32] = Sha256::digest(key.0.as_bytes()).into();
        let request_hash = request_digest(&product);
        let now = self.clock.now();
        self.db
            .run(async |conn| {
                conn.transaction::<_, Error, _>(async |conn| {
                    db::idempotency_keys::forget_expired(conn, owner_id, &key_hash, now).await?;
                    let claimed = db::idempotency_keys::claim(
                        conn,
                        owner_id,
                        &key_hash,
                        &request_hash,
                        now,
                        after(now, IDEMPOTENCY_TTL),
                    )
                    .await?;
                    if !claimed {
                        // Another request with this key got there first
                        // (and, if it was still running, has finished: the
                        // claim waited for its row).
                        let earlier = db::idempotency_keys::find(conn, owner_id, &key_hash)
                            .await?
                            .ok_or_else(|| Error::internal("an idempotency key vanished"))?;
                        if earlier.request_hash != request_hash {
                            return Err(Error::IdempotencyKeyReused);
                        }
                        let created = earlier.created.ok_or_else(|| {
                            Error::internal("an idempotency key without its product")
                        })?;
                        let snapshot: Snapshot =
                            serde_json::from_str(&created).map_err(Error::internal)?;
                        return Ok(Created {
                            product: snapshot.try_into()?,
                            replayed: true,
                        });
                    }
                    let product = self.insert(conn, owner_id, &product).await?;
                    let snapshot = serde_json::to_string(&Snapshot::from(&product))
                        .map_err(Error::internal)?;
                    db::idempotency_keys::record(conn, owner_id, &key_hash, &snapshot).await?;
                    Ok(Created {
                        product,
                        replayed: false,
                    })
                })
                .await
            })
            .await
    }

    async fn insert(
        &self,
        conn: &mut Conn,
        owner_id: i64,
        product: &NewProduct,
    ) -> Result<Product> {
        let now = self.clock.now();
        let row = NewProductRow {
            owner_id,
            name: product.name.as_str(),
            description: product.description.as_ref().map(Description::as_str),
            price_cents: product.price.cents(),
            created_at: now,
            updated_at: now,
        };
        let id = db::products::insert(conn, &row).await?;
        let product = find(conn, id)
            .await?
            .ok_or_else(|| Error::internal("a product vanished right after its insert"))?;
        index(conn, &product, db::search_index::Before::Nothing).await?;
        Ok(product)
    }

    /// Edits a product. Only its owner or an admin may, and only at a
    /// version `if_match` allows.
    #[tracing::instrument(level = "debug", skip(self, edit))]
    pub async fn edit(
        &self,
        caller: i64,
        id: i64,
        if_match: IfMatch,
        edit: ProductEdit,
    ) -> Result<Product> {
        if edit.name.is_none() && edit.description.is_none() && edit.price.is_none() {
            return Err(Error::Invalid {
                field: "body",
                reason: "must change at least one of `name`, `description` and `price`".into(),
            });
        }
        let versions = if_match.versions(id);
        let changes = ProductChanges {
            name: edit.name.as_ref().map(ProductName::as_str),
            description: edit
                .description
                .as_ref()
                .map(|description| description.as_ref().map(Description::as_str)),
            price_cents: edit.price.map(Price::cents),
        };
        // Words come from the name and description; a new price only
        // moves the keys the index rows carry.
        let before = if edit.name.is_none() && edit.description.is_none() {
            db::search_index::Before::SameWords
        } else {
            db::search_index::Before::Unknown
        };
        let now = self.clock.now();
        self.db
            .run(async |conn| {
                self.authorize(conn, caller, id).await?;
                // The read in the same transaction sees this edit's
                // version: the row stays locked until the commit.
                let edited = conn
                    .transaction::<_, Error, _>(async |conn| {
                        if db::products::update(conn, id, versions.as_deref(), &changes, now)
                            .await?
                        {
                            let edited = find(conn, id).await?;
                            if let Some(product) = &edited {
                                index(conn, product, before).await?;
                            }
                            Ok(edited)
                        } else {
                            Ok(None)
                        }
                    })
                    .await?;
                match edited {
                    Some(product) => Ok(product),
                    None => Err(self.why_unchanged(conn, id).await?),
                }
            })
            .await
    }

    /// Deletes a product. Only its owner or an admin may, and only at a
    /// version `if_match` allows.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn delete(&self, caller: i64, id: i64, if_match: IfMatch) -> Result<()> {
        let versions = if_match.versions(id);
        self.db
            .run(async |conn| {
                self.authorize(conn, caller, id).await?;
                // The product's row is locked first, as every writer of it
                // does, then its index rows go with it.
                let deleted = conn
                    .transaction::<_, Error, _>(async |conn| {
                        let Some(version) = db::products::lock(conn, id).await? else {
                            return Ok(false);
                        };
                        if versions.as_ref().is_some_and(|ok| !ok.contains(&version)) {
                            return Ok(false);
                        }
                        db::search_index::remove(conn, id).await?;
                        Ok(db::products::delete(conn, id, None).await?)
                    })
                    .await?;
                if deleted {
                    Ok(())
                } else {
                    Err(self.why_unchanged(conn, id).await?)
                }
            })
            .await
    }

    /// Deletes idempotency keys past their lifetime.
    pub async fn purge_expired_keys(&self) -> Result<usize> {
        const BATCH: i64 = 1000;
        let now = self.clock.now();
        let mut total = 0;
        loop {
            // A deadline per batch: a long backlog is worked off in turns.
            let deleted = self
                .db
                .run(async |conn| db::idempotency_keys::purge(conn, now, BATCH).await)
                .await?;
            total += deleted;
            if (deleted as i64) < BATCH {
                return Ok(total);
            }
        }
    }

    /// Refuses a write to product `id` unless `caller` owns it or is an
    /// admin; a product that does not exist is [`Error::NotFound`].
    async fn authorize(&self, conn: &mut Conn, caller: i64, id: i64) -> Result<()> {
        let owner = db::products::owner_of(conn, id)
            .await?
            .ok_or(Error::NotFound)?;
        if owner != caller {
            // The role is read now, not from the token, so a demotion
            // takes effect at once.
            let caller = db::users::find(conn, caller).await?;
            if caller.map(|row| Role::from_db(&row.role)) != Some(Role::Admin) {
                return Err(Error::Forbidden);
            }
        }
        Ok(())
    }

    /// Why a conditional write changed nothing: the product is gone, or
    /// is at a version the condition did not allow.
    async fn why_unchanged(&self, conn: &mut Conn, id: i64) -> Result<Error> {
        Ok(match db::products::version_of(conn, id).await? {
            None => Error::NotFound,
            Some(_) => Error::PreconditionFailed,
        })
    }
}

/// Makes the search index hold `product` as it is now, in the caller's
/// transaction.
async fn index(conn: &mut Conn, product: &Product, before: db::search_index::Before) -> Result<()> {
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

async fn find(conn: &mut Conn, id: i64) -> Result<Option<Product>> {
    db::products::find(conn, id)
        .await?
        .map(Product::try_from)
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_names_round_trip() {
        for sort in Sort::ALL {
            assert_eq!(Sort::from_name(sort.name()), Some(sort));
        }
        assert_eq!(Sort::from_name("price desc"), None);
    }

    #[test]
    fn etags_name_their_product_and_version() {
        assert_eq!(Product::version_in_etag(7, "\"7.3\""), Some(3));
        for other in ["\"8.3\"", "W/\"7.3\"", "7.3", "\"7\"", "\"7.x\"", "*"] {
            assert_eq!(Product::version_in_etag(7, other), None, "{other}");
        }
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("4f1c-9b7e_ok:/=").is_ok());
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
