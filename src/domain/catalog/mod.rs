//! Products: browsing, searching and sorting in keyset pages; creating
//! (safely retried with an idempotency key); editing and deleting by the
//! owner or an admin, optionally only at an expected version.
//!
//! The service is here; the product and its versions are in
//! [`product`], page requests and cursor positions in [`listing`],
//! idempotent creates in [`idempotency`], and keeping the search index
//! in step in [`indexing`].

mod idempotency;
mod indexing;
mod listing;
mod product;

pub use idempotency::{IDEMPOTENCY_TTL, IDEMPOTENCY_TTL_HOURS};
pub use indexing::{ReindexProgress, reindex, search_index_complete};
pub use listing::{DEFAULT_PAGE_SIZE, Filters, MAX_PAGE_SIZE, Page, PageRequest, Scope, Sort};
pub use product::{Excluded, Expected, NewProduct, Owner, Product, ProductEdit};

use std::sync::Arc;
use std::time::Duration;

use diesel_async::AsyncConnection;
use tokio::sync::Semaphore;

use crate::db::listing::ReadLimit;
use crate::db::products::ProductChanges;
use crate::db::replicas::{Committed, Consistency, ReadFuture, Reads};
use crate::db::{self, Conn, Database, models::NewProductRow};
use crate::metric_names as names;
use crate::metric_names::label::admin_action;

use super::accounts::Role;
use super::audit::{self, Action, Actor};
use super::clock::{Clock, after};
use super::consistency::ConsistencyTokens;
use super::cursor::Cursors;
use super::error::{Error, Failures, Kind, Result};
use super::price::Price;
use super::values::{Description, ProductName, login_key};
use indexing::index;

/// How long a list read that may examine many entries waits for one of
/// the scan slots before it is refused.
pub const SCAN_SLOT_WAIT: Duration = Duration::from_millis(250);

/// A create's outcome: the product, and whether it was made by an
/// earlier request with the same idempotency key (and is replayed).
#[derive(Debug, Clone)]
pub struct Created {
    pub product: Product,
    pub replayed: bool,
    /// The consistency token of the write (see [`Written`]).
    pub consistency: Option<String>,
}

/// A write's outcome, and its consistency token: a later read that brings
/// it sees this write, whichever database serves it. `None` when the
/// database keeps no replication position (no binary log).
#[derive(Debug, Clone)]
pub struct Written<T> {
    pub value: T,
    pub consistency: Option<String>,
}

/// The catalog. List reads that may examine many index entries (any
/// search, a price filter in another order than price) hold one of a few
/// scan slots while they run: a bulkhead, so a flood of them can hold at
/// most that many pooled connections, and plain pages, single products,
/// logins and writes never queue behind them.
///
/// Writes, and the caller's own list, go to the primary (`db`); the
/// public list and single products go where `reads` routes them: a
/// healthy replica that has what the caller's consistency token asks for,
/// or else the primary.
#[derive(Clone)]
pub struct Catalog {
    db: Database,
    reads: Reads,
    clock: Clock,
    cursors: Cursors,
    consistency: ConsistencyTokens,
    scans: Arc<Semaphore>,
}

impl Catalog {
    pub const LIST_FAILURES: Failures = &[Kind::Invalid];
    pub const GET_FAILURES: Failures = &[Kind::NotFound];
    pub const CREATE_FAILURES: Failures = &[Kind::IdempotencyKeyReused];
    pub const EDIT_FAILURES: Failures = &[
        Kind::Invalid,
        Kind::NotFound,
        Kind::Forbidden,
        Kind::PreconditionFailed,
    ];
    pub const DELETE_FAILURES: Failures =
        &[Kind::NotFound, Kind::Forbidden, Kind::PreconditionFailed];

    pub fn new(
        db: Database,
        reads: Reads,
        clock: Clock,
        cursors: Cursors,
        consistency: ConsistencyTokens,
        scan_slots: usize,
    ) -> Self {
        metrics::counter!(names::LIST_SCAN_REFUSED).increment(0);
        db::listing::publish_metrics();
        Self {
            db,
            reads,
            clock,
            cursors,
            consistency,
            scans: Arc::new(Semaphore::new(scan_slots.max(1))),
        }
    }

    /// A page of products: all, or the caller's, kept by `filters`, in
    /// `sort` order. The public list sees at least what `token` (a
    /// consistency token from a write) names.
    #[tracing::instrument(level = "debug", skip(self, token))]
    pub async fn list(&self, request: PageRequest, token: Option<&str>) -> Result<Page> {
        let query = request.query(&self.cursors)?;
        let _slot = if query.may_examine_many() {
            Some(self.scan_slot().await?)
        } else {
            None
        };
        let route = match request.scope {
            Scope::All => Some(self.consistency.read(token)),
            Scope::OwnedBy(_) => None,
        };
        let (scope, owner_name) = (request.scope, request.filters.owner.clone());
        let read = self
            .read(route, move |conn, limit| {
                let (mut query, owner_name) = (query.clone(), owner_name.clone());
                Box::pin(async move {
                    query.owner = match (scope, owner_name) {
                        (Scope::OwnedBy(id), _) => Some(id),
                        (Scope::All, None) => None,
                        (Scope::All, Some(name)) => {
                            let key = login_key(name.as_str());
                            let login = db::users::LoginKey::Username(&key);
                            match db::users::find_by_login_key(conn, login).await? {
                                Some(user) => Some(user.id),
                                // Nobody by that name: nothing to show.
                                None => return Ok(None),
                            }
                        }
                    };
                    Ok(Some(db::listing::page(conn, limit, &query).await?))
                })
            })
            .await?;
        match read {
            Some(read) => request.page(read, &self.cursors),
            None => Ok(Page::empty()),
        }
    }

    /// Runs a read on the primary (`route` `None`), or where the replicas
    /// route it for that consistency.
    async fn read<T>(
        &self,
        route: Option<Consistency>,
        work: impl for<'c> Fn(&'c mut Conn, ReadLimit) -> ReadFuture<'c, T> + Send + Sync,
    ) -> Result<T> {
        Ok(match route {
            Some(consistency) => self.reads.run(&consistency, work).await?,
            None => {
                let limit = self.db.read_limit();
                self.db.run(async |conn| work(conn, limit).await).await?
            }
        })
    }

    /// The token for what `conn` just committed; none when the server
    /// keeps no position, or cannot say (the write stands either way).
    async fn token_after(&self, conn: &mut Conn, which: Committed) -> Option<String> {
        match db::replicas::position(conn, self.db.read_limit(), which).await {
            Ok(position) => position.map(|position| self.consistency.issue(&position)),
            Err(err) => {
                tracing::warn!(error = %crate::telemetry::error_chain(&err), "could not read the replication position of a write");
                None
            }
        }
    }

    /// One of the scan slots, waiting at most [`SCAN_SLOT_WAIT`].
    async fn scan_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        match tokio::time::timeout(SCAN_SLOT_WAIT, self.scans.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!(names::LIST_SCAN_REFUSED).increment(1);
                Err(Error::Unavailable(Some(
                    "every scan slot (DATABASE_SCAN_SLOTS) stayed busy".into(),
                )))
            }
        }
    }

    /// Product `id`, as at least recent as `token` (a consistency token
    /// from a write) names.
    #[tracing::instrument(level = "debug", skip(self, token))]
    pub async fn get(&self, id: i64, token: Option<&str>) -> Result<Product> {
        let route = Some(self.consistency.read(token));
        self.read(route, move |conn, _| Box::pin(db::products::find(conn, id)))
            .await?
            .map(Product::try_from)
            .transpose()?
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
        key: Option<&[u8]>,
    ) -> Result<Created> {
        let Some(key) = key else {
            return self
                .db
                .run(async |conn| {
                    let product = conn
                        .transaction::<_, Error, _>(async |conn| {
                            self.insert(conn, owner_id, &product).await
                        })
                        .await?;
                    Ok(Created {
                        product,
                        replayed: false,
                        consistency: self.token_after(conn, Committed::Own).await,
                    })
                })
                .await;
        };
        let key_hash = idempotency::key_digest(key);
        let request_hash = idempotency::request_digest(&product);
        let now = self.clock.now();
        self.db
            .run(async |conn| {
                let mut created = conn
                    .transaction::<_, Error, _>(async |conn| {
                        // The owner's row first, as every create takes it
                        // (see `db::users::count_products`): the key's
                        // row would otherwise take a shared lock on it
                        // that two retries could not both upgrade.
                        db::users::lock(conn, owner_id).await?;
                        db::idempotency_keys::forget_expired(conn, owner_id, &key_hash, now)
                            .await?;
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
                            return Ok(Created {
                                product: idempotency::restore(&created)?,
                                replayed: true,
                                consistency: None,
                            });
                        }
                        let product = self.insert(conn, owner_id, &product).await?;
                        let snapshot = idempotency::snapshot(&product)?;
                        db::idempotency_keys::record(conn, owner_id, &key_hash, &snapshot).await?;
                        Ok(Created {
                            product,
                            replayed: false,
                            consistency: None,
                        })
                    })
                    .await?;
                // A replay's write was an earlier request's: everything
                // committed so far covers it.
                let which = if created.replayed {
                    Committed::Latest
                } else {
                    Committed::Own
                };
                created.consistency = self.token_after(conn, which).await;
                Ok(created)
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
        // The owner's row first: see `db::users::count_products`.
        db::users::count_products(conn, owner_id, 1).await?;
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
    /// version `expected` allows.
    #[tracing::instrument(level = "debug", skip(self, edit))]
    pub async fn edit(
        &self,
        caller: i64,
        id: i64,
        expected: Expected,
        edit: ProductEdit,
    ) -> Result<Written<Product>> {
        if edit.is_empty() {
            return Err(Error::Invalid {
                field: "body",
                reason: "must change at least one of `name`, `description` and `price`".into(),
            });
        }
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
        let actor = Actor::User(caller);
        let (written, audited) = self
            .db
            .run(async |conn| {
                let acting = self.authorize(conn, caller, id).await?;
                // The row stays locked from the check to the commit, so
                // of two edits expecting the same version one succeeds.
                let (edited, audited) = conn
                    .transaction::<_, Error, _>(async |conn| {
                        lock_at_expected(conn, id, &expected).await?;
                        // What an admin's edit changes is recorded; an
                        // owner's costs no extra read.
                        let was = match acting {
                            Acting::Owner => None,
                            Acting::Admin => Some(
                                find(conn, id)
                                    .await?
                                    .ok_or_else(|| Error::internal("a locked product vanished"))?,
                            ),
                        };
                        db::products::update(conn, id, &changes, now).await?;
                        let edited = find(conn, id)
                            .await?
                            .ok_or_else(|| Error::internal("a locked product vanished"))?;
                        index(conn, &edited, before).await?;
                        let audited = match &was {
                            None => None,
                            Some(was) => {
                                let action = audited_edit(&actor, was, &edited);
                                action.record(conn, now).await?;
                                Some(action)
                            }
                        };
                        Ok((edited, audited))
                    })
                    .await?;
                let written = Written {
                    value: edited,
                    consistency: self.token_after(conn, Committed::Own).await,
                };
                Ok::<_, Error>((written, audited))
            })
            .await?;
        if let Some(action) = audited {
            action.announce();
        }
        Ok(written)
    }

    /// Deletes a product. Only its owner or an admin may, and only at a
    /// version `expected` allows.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn delete(&self, caller: i64, id: i64, expected: Expected) -> Result<Written<()>> {
        let now = self.clock.now();
        let actor = Actor::User(caller);
        let (written, audited) = self
            .db
            .run(async |conn| {
                let acting = self.authorize(conn, caller, id).await?;
                // The product's row is locked first, then its owner's
                // count moves, then its index rows go with it.
                let audited = conn
                    .transaction::<_, Error, _>(async |conn| {
                        lock_at_expected(conn, id, &expected).await?;
                        let was = find(conn, id)
                            .await?
                            .ok_or_else(|| Error::internal("a locked product vanished"))?;
                        // The owner's row before the index's shared
                        // rows, in the order a create takes them.
                        db::users::count_products(conn, was.owner.id, -1).await?;
                        db::search_index::remove(conn, id).await?;
                        db::products::delete(conn, id).await?;
                        match acting {
                            Acting::Owner => Ok(None),
                            Acting::Admin => {
                                let action = audited_delete(&actor, &was);
                                action.record(conn, now).await?;
                                Ok(Some(action))
                            }
                        }
                    })
                    .await?;
                let written = Written {
                    value: (),
                    consistency: self.token_after(conn, Committed::Own).await,
                };
                Ok::<_, Error>((written, audited))
            })
            .await?;
        if let Some(action) = audited {
            action.announce();
        }
        Ok(written)
    }

    /// Deletes idempotency keys past their lifetime.
    pub async fn purge_expired_keys(&self) -> Result<usize> {
        let now = self.clock.now();
        let purge =
            async move |conn: &mut Conn, batch| db::idempotency_keys::purge(conn, now, batch).await;
        Ok(self.db.purge_in_batches(1000, purge).await?)
    }

    /// Refuses a write to product `id` unless `caller` owns it or is an
    /// admin; a product that does not exist is [`Error::NotFound`].
    async fn authorize(&self, conn: &mut Conn, caller: i64, id: i64) -> Result<Acting> {
        let owner = db::products::owner_of(conn, id)
            .await?
            .ok_or(Error::NotFound)?;
        if owner == caller {
            return Ok(Acting::Owner);
        }
        // The role is read now, not from the token, so a demotion takes
        // effect at once.
        match db::users::find(conn, caller).await? {
            Some(row) if Role::from_db(&row.role) == Role::Admin && row.disabled_at.is_none() => {
                Ok(Acting::Admin)
            }
            _ => Err(Error::Forbidden),
        }
    }
}

/// In what right a caller writes to a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acting {
    Owner,
    /// An admin, on someone else's product: audited.
    Admin,
}

/// A product's fields an admin's edit or delete records.
fn fields(product: &Product) -> serde_json::Map<String, serde_json::Value> {
    let mut map = serde_json::Map::new();
    map.insert("name".into(), product.name.clone().into());
    map.insert("description".into(), product.description.clone().into());
    map.insert("price".into(), product.price.to_string().into());
    map
}

/// The audit event of an admin's edit: the fields that changed.
fn audited_edit<'a>(actor: &'a Actor, was: &Product, is: &Product) -> Action<'a> {
    let (mut before, mut after) = (fields(was), fields(is));
    let unchanged: Vec<String> = before
        .iter()
        .filter(|(name, value)| after.get(*name) == Some(value))
        .map(|(name, _)| name.clone())
        .collect();
    for name in unchanged {
        before.remove(&name);
        after.remove(&name);
    }
    Action {
        actor,
        action: admin_action::PRODUCT_EDIT,
        target: audit::product_target(is.id),
        before,
        after,
    }
}

/// The audit event of an admin's delete: what the product was, and
/// whose.
fn audited_delete<'a>(actor: &'a Actor, was: &Product) -> Action<'a> {
    let mut before = fields(was);
    before.insert("owner_id".into(), was.owner.id.into());
    Action {
        actor,
        action: admin_action::PRODUCT_DELETE,
        target: audit::product_target(was.id),
        before,
        after: serde_json::Map::new(),
    }
}

/// Locks product `id`'s row for the rest of the transaction, as every
/// writer of it does first, and checks that it is at a version
/// `expected` allows.
async fn lock_at_expected(conn: &mut Conn, id: i64, expected: &Expected) -> Result<()> {
    let version = db::products::lock(conn, id).await?.ok_or(Error::NotFound)?;
    expected.check(version)
}

async fn find(conn: &mut Conn, id: i64) -> Result<Option<Product>> {
    db::products::find(conn, id)
        .await?
        .map(Product::try_from)
        .transpose()
}
