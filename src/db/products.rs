//! Queries on `products`. Every read joins the owner's username, which the
//! API shows with each product.

use diesel::dsl::{AsSelect, SqlTypeOf};
use diesel::mysql::Mysql;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Datetime, Text};
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

/// One keyset page of products: the rows that pass every filter, in
/// `column` order (then `id`), after `after` when given.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub owner: Option<i64>,
    /// A FULLTEXT boolean-mode expression over name and description.
    pub search: Option<String>,
    pub min_cents: Option<i64>,
    pub max_cents: Option<i64>,
    pub column: SortColumn,
    pub descending: bool,
    pub after: Option<(SortValue, i64)>,
    /// Rows to read; callers ask for one more than they show to learn
    /// whether another page follows.
    pub limit: i64,
}

/// One page of products (see [`ListQuery`]).
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn page(conn: &mut Conn, query: &ListQuery) -> Result<Vec<ProductWithOwner>> {
    Ok(page_query(query).load(conn).await?)
}

/// The statement behind [`page`], for callers that inspect its plan.
pub fn page_query(query: &ListQuery) -> PageQuery<'_> {
    PageQuery {
        selection: (ProductRow::as_select(), users::username),
        query,
    }
}

type PageSelection = (AsSelect<ProductRow, Mysql>, users::username);

/// A keyset page whose plan cannot depend on table statistics.
///
/// Left to itself the optimizer may start from `users` and join every
/// product before sorting them all to find the first few (seconds at a
/// million rows). This statement pins the plan instead: `STRAIGHT_JOIN`
/// makes `products` drive, and without a search `FORCE INDEX` makes it
/// read the index that is already in page order (one per sort, for the
/// whole catalog or one owner), so the read stops after `limit` matching
/// rows; `users` is joined by primary key for those rows alone. A search
/// reads the FULLTEXT index and sorts only its matches. The hints mean
/// the same on MySQL 8.4 and MariaDB. diesel's DSL has neither index
/// hints nor MATCH, hence a hand-written fragment; its select list still
/// comes from [`ProductRow`].
#[derive(Debug, Clone, Copy)]
pub struct PageQuery<'a> {
    selection: PageSelection,
    query: &'a ListQuery,
}

impl SortColumn {
    fn sql(self) -> &'static str {
        match self {
            Self::CreatedAt => "`products`.`created_at`",
            Self::Price => "`products`.`price_cents`",
            Self::Name => "`products`.`name`",
        }
    }

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

fn push_value<'b>(out: &mut AstPass<'_, 'b, Mysql>, value: &'b SortValue) -> QueryResult<()> {
    match value {
        SortValue::Time(at) => out.push_bind_param::<Datetime, _>(at),
        SortValue::Cents(cents) => out.push_bind_param::<BigInt, _>(cents),
        SortValue::Text(text) => out.push_bind_param::<Text, _>(text),
    }
}

impl QueryFragment<Mysql> for PageQuery<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
        let query = self.query;
        out.push_sql("SELECT STRAIGHT_JOIN ");
        self.selection.walk_ast(out.reborrow())?;
        out.push_sql(" FROM `products`");
        if query.search.is_none() {
            out.push_sql(" FORCE INDEX (`");
            out.push_sql(query.column.index_name(query.owner.is_some()));
            out.push_sql("`)");
        }
        out.push_sql(" INNER JOIN `users` ON `users`.`id` = `products`.`owner_id` WHERE TRUE");
        if let Some(owner) = &query.owner {
            out.push_sql(" AND `products`.`owner_id` = ");
            out.push_bind_param::<BigInt, _>(owner)?;
        }
        if let Some(search) = &query.search {
            out.push_sql(" AND MATCH (`products`.`name`, `products`.`description`) AGAINST (");
            out.push_bind_param::<Text, _>(search)?;
            out.push_sql(" IN BOOLEAN MODE)");
        }
        if let Some(min) = &query.min_cents {
            out.push_sql(" AND `products`.`price_cents` >= ");
            out.push_bind_param::<BigInt, _>(min)?;
        }
        if let Some(max) = &query.max_cents {
            out.push_sql(" AND `products`.`price_cents` <= ");
            out.push_bind_param::<BigInt, _>(max)?;
        }
        let column = query.column.sql();
        let (order, beyond) = if query.descending {
            (" DESC", " < ")
        } else {
            ("", " > ")
        };
        // (column, id) beyond the cursor, spelt as two ranges of the index
        // (`column` beyond the value, or equal to it with `id` beyond), so
        // that the read starts right after the cursor's row even when many
        // rows share its value.
        if let Some((value, id)) = &query.after {
            out.push_sql(" AND (");
            out.push_sql(column);
            out.push_sql(beyond);
            push_value(&mut out, value)?;
            out.push_sql(" OR (");
            out.push_sql(column);
            out.push_sql(" = ");
            push_value(&mut out, value)?;
            out.push_sql(" AND `products`.`id`");
            out.push_sql(beyond);
            out.push_bind_param::<BigInt, _>(id)?;
            out.push_sql("))");
        }
        out.push_sql(" ORDER BY ");
        out.push_sql(column);
        out.push_sql(order);
        out.push_sql(", `products`.`id`");
        out.push_sql(order);
        out.push_sql(" LIMIT ");
        out.push_bind_param::<BigInt, _>(&query.limit)
    }
}

// No static id: the prepared-statement cache keys each shape of the
// statement by its SQL text, so every shape is prepared once per
// connection.
impl QueryId for PageQuery<'_> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for PageQuery<'_> {
    type SqlType = SqlTypeOf<PageSelection>;
}

/// A product's version is one of `versions`; any version when `None`.
fn at_version(
    versions: Option<&[i32]>,
) -> Box<dyn BoxableExpression<products::table, Mysql, SqlType = Bool> + '_> {
    match versions {
        Some(versions) => Box::new(products::version.eq_any(versions)),
        None => Box::new(diesel::dsl::sql::<Bool>("TRUE")),
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

/// Applies `changes`, moves the version on and stamps `updated_at`, if
/// the product exists and (when `versions` are given) is at one of them.
/// Answers whether a row changed: one statement, so of two edits made
/// against the same version exactly one succeeds.
#[tracing::instrument(level = "debug", skip(conn, changes))]
pub async fn update(
    conn: &mut Conn,
    id: i64,
    versions: Option<&[i32]>,
    changes: &ProductChanges<'_>,
    now: chrono::NaiveDateTime,
) -> Result<bool> {
    let target = products::table.filter(products::id.eq(id).and(at_version(versions)));
    let changed = diesel::update(target)
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

/// The version of a product, if it exists.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn version_of(conn: &mut Conn, id: i64) -> Result<Option<i32>> {
    Ok(products::table
        .find(id)
        .select(products::version)
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

/// Deletes a product (only at one of `versions`, when given) and
/// answers whether a row went.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn delete(conn: &mut Conn, id: i64, versions: Option<&[i32]>) -> Result<bool> {
    let target = products::table.filter(products::id.eq(id).and(at_version(versions)));
    Ok(diesel::delete(target).execute(conn).await? > 0)
}
