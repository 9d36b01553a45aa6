//! Keyset pages of products, with a bound on the work of each.
//!
//! A page is read from an index already in page order, starting right
//! after the cursor. Which index depends on what the page must hold:
//! every product (`products_<sort>`), one owner's (`products_owner_<sort>`)
//! or those holding a search word (`product_terms_<sort>`, the rarest word
//! of the query; the others are looked up by key). Every such index also
//! carries the price (and the term indexes the owner), so a filter is
//! checked inside the index before anything is joined.
//!
//! When every filter is part of the index range the read stops at the
//! page. Otherwise a read could pass any number of entries that fail a
//! filter, so it is bounded, in one of two ways:
//! - **narrow**: when the filter's own range (a price range inside the
//!   driving index, or a rare word) holds at most a window of entries, it
//!   is read whole and only its matches are sorted;
//! - **window**: otherwise the read stops after a window of entries; a
//!   page that is not full by then ends there, and says where, so the
//!   next page resumes exactly after the last entry examined.
//!
//! A window is [`WINDOW`] entries, shared out among the words looked up
//! for each: a candidate costs one entry plus one per further word. With
//! the bounded count that tells a narrow filter and the read that finds
//! where a window ends, a page examines at most [`MAX_ENTRIES`] index
//! entries, plus a lookup of the product and its owner for each item.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::dsl::{AsSelect, SqlTypeOf};
use diesel::mysql::Mysql;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Datetime, Text};
use diesel_async::{AsyncMysqlConnection, RunQueryDsl};

use super::models::ProductRow;
use super::products::{ProductWithOwner, SortColumn, SortValue};
use super::schema::users;
use super::{Error, Result, search_index};

use crate::metric_names as names;

type Conn = AsyncMysqlConnection;

/// Index entries a filtered read examines at most, per window.
pub const WINDOW: i64 = 3_000;
/// Index entries a page examines at most, beyond one lookup of the
/// product and one of its owner per row returned: a bounded count, the
/// read that finds a window's end, and the window.
pub const MAX_ENTRIES: i64 = 3 * WINDOW + 2;

/// One keyset page of products: the rows that pass every filter, in
/// `column` order (then `id`), after `after` when given.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub owner: Option<i64>,
    /// Search words a product must all hold.
    pub terms: Vec<String>,
    pub min_cents: Option<i64>,
    pub max_cents: Option<i64>,
    pub column: SortColumn,
    pub descending: bool,
    pub after: Option<(SortValue, i64)>,
    /// Rows to read; callers ask for one more than they show to learn
    /// whether another page follows.
    pub limit: i64,
}

impl ListQuery {
    fn has_price(&self) -> bool {
        self.min_cents.is_some() || self.max_cents.is_some()
    }

    /// Whether this page may examine many index entries: a search, or a
    /// price filter in another order than price. Plain pages read only
    /// what they return.
    pub fn may_examine_many(&self) -> bool {
        !self.terms.is_empty() || (self.has_price() && self.column != SortColumn::Price)
    }
}

/// The rows of a page, and when the page ended at its window's bound
/// rather than at `limit` rows, where the next one resumes.
#[derive(Debug)]
pub struct PageRows {
    pub rows: Vec<ProductWithOwner>,
    pub resume_after: Option<(SortValue, i64)>,
}

/// The time limit each read statement runs under, in the dialect of the
/// server: `SET STATEMENT max_statement_time` on MariaDB, the
/// `MAX_EXECUTION_TIME` hint on MySQL.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimit {
    pub mariadb: bool,
    pub max: Duration,
}

/// The rows a read walks.
#[derive(Debug, Clone)]
enum Driver {
    All,
    Owner(i64),
    Term(String),
}

/// How a page is read, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// In page order, stopping at the page.
    Plain,
    /// A narrow filter's range, whole, then sorted.
    Narrow,
    /// At most a window of entries in page order.
    Window,
}

impl Driver {
    /// The table and alias whose columns the conditions name.
    fn alias(&self) -> &'static str {
        match self {
            Self::Term(_) => "`t`",
            _ => "`products`",
        }
    }

    fn id(&self) -> &'static str {
        match self {
            Self::Term(_) => "`t`.`product_id`",
            _ => "`products`.`id`",
        }
    }

    fn index(&self, column: SortColumn) -> &'static str {
        match (self, column) {
            (Self::All, column) => column.index_name(false),
            (Self::Owner(_), column) => column.index_name(true),
            (Self::Term(_), SortColumn::CreatedAt) => "product_terms_created",
            (Self::Term(_), SortColumn::Price) => "product_terms_price",
            (Self::Term(_), SortColumn::Name) => "product_terms_name",
        }
    }
}

/// A page of products (see [`ListQuery`] and the module's notes). A read
/// stopped by the time limit is counted and logged with its shape.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn page(conn: &mut Conn, limit: ReadLimit, query: &ListQuery) -> Result<PageRows> {
    let mut plan = Plan::new(query, limit);
    let result = plan.read(conn).await;
    if let Err(Error::TimeLimit(_)) = &result {
        let shape = plan.label();
        metrics::counter!(names::LIST_TIME_LIMIT, "shape" => shape).increment(1);
        tracing::warn!(
            shape,
            sort = ?query.column,
            descending = query.descending,
            words = query.terms.len(),
            price = query.has_price(),
            owner = query.owner.is_some(),
            cursor = query.after.is_some(),
            "a page's read ran past DATABASE_READ_TIMEOUT_SECS"
        );
    }
    result
}

/// The statement of a page of every product or one owner's, without a
/// filter beyond its index (a plain page), for callers that inspect its
/// plan or time it against the bare driver.
pub fn plain_statement(limit: ReadLimit, query: &ListQuery) -> Typed<SqlTypeOf<PageSelection>> {
    Plan::new(query, limit).page_sql(query.column, None, query.limit)
}

/// Every label `catalog_list_time_limit_total` can carry.
const SHAPES: [&str; 9] = [
    "all/plain",
    "all/narrow",
    "all/window",
    "owner/plain",
    "owner/narrow",
    "owner/window",
    "search/plain",
    "search/narrow",
    "search/window",
];

/// Publishes the listing's counters at 0, so a first event is an
/// increase Prometheus sees.
pub fn publish_metrics() {
    for shape in SHAPES {
        metrics::counter!(names::LIST_TIME_LIMIT, "shape" => shape).increment(0);
    }
}

struct Plan<'q> {
    query: &'q ListQuery,
    limit: ReadLimit,
    driver: Driver,
    /// Words checked by key for each candidate.
    lookups: Vec<String>,
    shape: Shape,
}

impl<'q> Plan<'q> {
    /// Every product's or one owner's, until a search says otherwise.
    fn new(query: &'q ListQuery, limit: ReadLimit) -> Self {
        Self {
            query,
            limit,
            driver: query.owner.map_or(Driver::All, Driver::Owner),
            lookups: Vec::new(),
            shape: Shape::Plain,
        }
    }

    fn label(&self) -> &'static str {
        let driver = match self.driver {
            Driver::All => 0,
            Driver::Owner(_) => 3,
            Driver::Term(_) => 6,
        };
        let shape = match self.shape {
            Shape::Plain => 0,
            Shape::Narrow => 1,
            Shape::Window => 2,
        };
        SHAPES[driver + shape]
    }

    /// Entries a window holds, shared among the words each candidate is
    /// looked up for.
    fn window(&self) -> i64 {
        WINDOW / (1 + self.lookups.len() as i64)
    }

    async fn read(&mut self, conn: &mut Conn) -> Result<PageRows> {
        let query = self.query;
        // Whether the driving range is known to fit in a window.
        let mut fits = false;
        if let [only] = &query.terms[..]
            && !self.filtered_beyond(&Driver::Term(only.clone()))
        {
            self.driver = Driver::Term(only.clone());
        } else if !query.terms.is_empty() {
            fits = self.choose_driver(conn).await?;
        }
        if !self.filtered_beyond(&self.driver) {
            self.shape = Shape::Plain;
            let rows = self.select(conn, query.column, None, query.limit).await?;
            return Ok(PageRows {
                rows,
                resume_after: None,
            });
        }
        let window = self.window();
        let mut narrow_index = query.column;
        if query.has_price() && query.column != SortColumn::Price {
            // The price range inside the driving index, read whole if small.
            narrow_index = SortColumn::Price;
            fits = !self
                .more_than(conn, &self.driver.clone(), SortColumn::Price, window)
                .await?;
        }
        if fits {
            self.shape = Shape::Narrow;
            let rows = self.select(conn, narrow_index, None, query.limit).await?;
            return Ok(PageRows {
                rows,
                resume_after: None,
            });
        }
        self.shape = Shape::Window;
        let end = self.window_end(conn, window).await?;
        let rows = self
            .select(conn, query.column, end.as_ref(), query.limit)
            .await?;
        let full = rows.len() as i64 >= query.limit;
        Ok(PageRows {
            rows,
            resume_after: if full { None } else { end },
        })
    }

    /// Drives a search by its rarest word, looking the others up, or by
    /// the owner when the owner's products are fewer than a window and the
    /// rarest word's are not. Answers whether the driving range fits in a
    /// window.
    async fn choose_driver(&mut self, conn: &mut Conn) -> Result<bool> {
        let query = self.query;
        let counts = search_index::counts(conn, &query.terms).await?;
        let count = |term: &String| {
            counts
                .iter()
                .find(|(counted, _)| counted == term)
                .map_or(0, |(_, n)| *n)
        };
        let mut terms = query.terms.clone();
        terms.sort_by_key(count);
        let rarest = count(&terms[0]);
        self.driver = Driver::Term(terms.remove(0));
        self.lookups = terms;
        if rarest <= self.window() {
            return Ok(true);
        }
        if let Some(owner) = query.owner {
            let owner = Driver::Owner(owner);
            let window = WINDOW / (1 + query.terms.len() as i64);
            if !self
                .more_than(conn, &owner, SortColumn::CreatedAt, window)
                .await?
            {
                self.driver = owner;
                self.lookups = query.terms.clone();
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether a read driven by `driver` must check more than its index
    /// range: another word, the owner inside a word's index, or a price
    /// in another order than price.
    fn filtered_beyond(&self, driver: &Driver) -> bool {
        let query = self.query;
        !self.lookups.is_empty()
            || (matches!(driver, Driver::Term(_)) && query.owner.is_some())
            || (query.has_price() && query.column != SortColumn::Price)
    }

    /// The sort key and id of the last entry of the window after the
    /// cursor, or `None` when fewer than a window's entries are left.
    async fn window_end(&self, conn: &mut Conn, window: i64) -> Result<Option<(SortValue, i64)>> {
        let column = self.query.column;
        let mut sql = Sql::default();
        self.start(&mut sql);
        sql.push(self.driver.alias());
        sql.push(".");
        sql.push(column_name(column));
        sql.push(", ");
        sql.push(self.driver.id());
        self.from(&mut sql, column);
        sql.push(" WHERE TRUE");
        self.range(&mut sql, column);
        self.after(&mut sql);
        self.order(&mut sql, column);
        sql.push(" LIMIT 1 OFFSET ");
        sql.bind(Value::Int(window - 1));
        Ok(match column {
            SortColumn::CreatedAt => sql
                .typed::<(Datetime, BigInt)>()
                .get_result::<(NaiveDateTime, i64)>(conn)
                .await
                .optional()?
                .map(|(at, id)| (SortValue::Time(at), id)),
            SortColumn::Price => sql
                .typed::<(BigInt, BigInt)>()
                .get_result::<(i64, i64)>(conn)
                .await
                .optional()?
                .map(|(cents, id)| (SortValue::Cents(cents), id)),
            SortColumn::Name => sql
                .typed::<(Text, BigInt)>()
                .get_result::<(String, i64)>(conn)
                .await
                .optional()?
                .map(|(name, id)| (SortValue::Text(name), id)),
        })
    }

    /// Whether `driver`'s `index` range holds more than `most` entries:
    /// it reads at most `most + 1` of them (a count would read as many,
    /// then as many again from the table it counts in).
    async fn more_than(
        &self,
        conn: &mut Conn,
        driver: &Driver,
        index: SortColumn,
        most: i64,
    ) -> Result<bool> {
        let plan = Plan {
            driver: driver.clone(),
            ..Plan::new(self.query, self.limit)
        };
        let mut sql = Sql::default();
        plan.start(&mut sql);
        sql.push("1");
        plan.from(&mut sql, index);
        sql.push(" WHERE TRUE");
        plan.range(&mut sql, index);
        sql.push(" LIMIT 1 OFFSET ");
        sql.bind(Value::Int(most));
        let beyond: Option<i64> = sql.typed::<BigInt>().get_result(conn).await.optional()?;
        Ok(beyond.is_some())
    }

    /// The page: read through `index`, up to and including `until` when
    /// given, filtered, sorted in page order, at most `limit` rows.
    async fn select(
        &self,
        conn: &mut Conn,
        index: SortColumn,
        until: Option<&(SortValue, i64)>,
        limit: i64,
    ) -> Result<Vec<ProductWithOwner>> {
        Ok(self.page_sql(index, until, limit).load(conn).await?)
    }

    fn page_sql(
        &self,
        index: SortColumn,
        until: Option<&(SortValue, i64)>,
        limit: i64,
    ) -> Typed<SqlTypeOf<PageSelection>> {
        let query = self.query;
        let mut sql = Sql::default();
        self.start(&mut sql);
        sql.parts.push(Part::Selection);
        self.from(&mut sql, index);
        for (n, word) in self.lookups.iter().enumerate() {
            let alias = format!("`w{n}`");
            sql.push(&format!(
                " INNER JOIN `product_terms` {alias} FORCE INDEX (`product_terms_created`) ON {alias}.`term` = "
            ));
            sql.bind(Value::Text(word.clone()));
            sql.push(&format!(
                " AND {alias}.`created_at` = {0}.`created_at` AND {alias}.`product_id` = {1}",
                self.driver.alias(),
                self.driver.id()
            ));
        }
        // The rest by primary key, each row of the driving index looked
        // up in turn. Forced: with one owner, or a few, the optimizer
        // would rather scan the small users table into a join buffer, and
        // that join cannot stop at the page, so it read and sorted every
        // product (180 ms a page at 300,000 products).
        if let Driver::Term(_) = self.driver {
            sql.push(
                " INNER JOIN `products` FORCE INDEX (PRIMARY) ON `products`.`id` = `t`.`product_id`",
            );
        }
        sql.push(
            " INNER JOIN `users` FORCE INDEX (PRIMARY) ON `users`.`id` = `products`.`owner_id` WHERE TRUE",
        );
        self.range(&mut sql, index);
        // Checks inside the index, whatever its order.
        let alias = self.driver.alias();
        if let (Driver::Term(_), Some(owner)) = (&self.driver, query.owner) {
            sql.push(&format!(" AND {alias}.`owner_id` = "));
            sql.bind(Value::Int(owner));
        }
        if index != SortColumn::Price {
            self.price(&mut sql);
        }
        self.after(&mut sql);
        if let Some((value, id)) = until {
            let column = format!("{alias}.{}", column_name(query.column));
            let (before, or_equal) = if query.descending {
                (" > ", " >= ")
            } else {
                (" < ", " <= ")
            };
            sql.push(&format!(" AND ({column}{before}"));
            sql.bind(value.clone().into());
            sql.push(&format!(" OR ({column} = "));
            sql.bind(value.clone().into());
            sql.push(&format!(" AND {}{or_equal}", self.driver.id()));
            sql.bind(Value::Int(*id));
            sql.push("))");
        }
        self.order(&mut sql, query.column);
        sql.push(" LIMIT ");
        sql.bind(Value::Int(limit));
        sql.typed()
    }

    /// `SELECT`, under the time limit, with the join order fixed: the
    /// driving index first, everything else looked up for its entries.
    fn start(&self, sql: &mut Sql) {
        let millis = self.limit.max.as_millis().max(1);
        if self.limit.mariadb {
            sql.push(&format!(
                "SET STATEMENT max_statement_time = {:.3} FOR SELECT STRAIGHT_JOIN ",
                millis as f64 / 1000.0
            ));
        } else {
            sql.push(&format!(
                "SELECT /*+ MAX_EXECUTION_TIME({millis}) */ STRAIGHT_JOIN "
            ));
        }
    }

    fn from(&self, sql: &mut Sql, index: SortColumn) {
        let table = match self.driver {
            Driver::Term(_) => "`product_terms` AS `t`",
            _ => "`products`",
        };
        sql.push(&format!(
            " FROM {table} FORCE INDEX (`{}`)",
            self.driver.index(index)
        ));
    }

    /// The conditions that make `index`'s range: the word or owner it
    /// starts with, and the price when it is sorted by price.
    fn range(&self, sql: &mut Sql, index: SortColumn) {
        let alias = self.driver.alias();
        match &self.driver {
            Driver::All => {}
            Driver::Owner(owner) => {
                sql.push(&format!(" AND {alias}.`owner_id` = "));
                sql.bind(Value::Int(*owner));
            }
            Driver::Term(term) => {
                sql.push(&format!(" AND {alias}.`term` = "));
                sql.bind(Value::Text(term.clone()));
            }
        }
        if index == SortColumn::Price {
            self.price(sql);
        }
    }

    fn price(&self, sql: &mut Sql) {
        let alias = self.driver.alias();
        if let Some(min) = self.query.min_cents {
            sql.push(&format!(" AND {alias}.`price_cents` >= "));
            sql.bind(Value::Int(min));
        }
        if let Some(max) = self.query.max_cents {
            sql.push(&format!(" AND {alias}.`price_cents` <= "));
            sql.bind(Value::Int(max));
        }
    }

    /// (column, id) beyond the cursor, spelt as two ranges of the index
    /// (the column beyond the value, or equal to it with the id beyond),
    /// so the read starts right after the cursor's entry even when many
    /// share its value.
    fn after(&self, sql: &mut Sql) {
        let Some((value, id)) = &self.query.after else {
            return;
        };
        let column = format!("{}.{}", self.driver.alias(), column_name(self.query.column));
        let beyond = if self.query.descending { " < " } else { " > " };
        sql.push(&format!(" AND ({column}{beyond}"));
        sql.bind(value.clone().into());
        sql.push(&format!(" OR ({column} = "));
        sql.bind(value.clone().into());
        sql.push(&format!(" AND {}{beyond}", self.driver.id()));
        sql.bind(Value::Int(*id));
        sql.push("))");
    }

    fn order(&self, sql: &mut Sql, column: SortColumn) {
        let direction = if self.query.descending { " DESC" } else { "" };
        sql.push(&format!(
            " ORDER BY {}.{}{direction}, {}{direction}",
            self.driver.alias(),
            column_name(column),
            self.driver.id()
        ));
    }
}

fn column_name(column: SortColumn) -> &'static str {
    match column {
        SortColumn::CreatedAt => "`created_at`",
        SortColumn::Price => "`price_cents`",
        SortColumn::Name => "`name`",
    }
}

pub type PageSelection = (AsSelect<ProductRow, Mysql>, users::username);

/// A bound value.
#[derive(Debug, Clone)]
enum Value {
    Int(i64),
    Text(String),
    Time(NaiveDateTime),
}

impl From<SortValue> for Value {
    fn from(value: SortValue) -> Self {
        match value {
            SortValue::Time(at) => Self::Time(at),
            SortValue::Cents(cents) => Self::Int(cents),
            SortValue::Text(text) => Self::Text(text),
        }
    }
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Bind(Value),
    /// The page's select list, as diesel renders [`ProductRow`].
    Selection,
}

/// A statement built piece by piece: diesel's DSL has neither index
/// hints nor `STRAIGHT_JOIN`. Values are always bound, never spliced.
#[derive(Debug, Clone, Default)]
struct Sql {
    parts: Vec<Part>,
}

impl Sql {
    fn push(&mut self, text: &str) {
        match self.parts.last_mut() {
            Some(Part::Text(last)) => last.push_str(text),
            _ => self.parts.push(Part::Text(text.to_owned())),
        }
    }

    fn bind(&mut self, value: Value) {
        self.parts.push(Part::Bind(value));
    }

    fn typed<ST>(self) -> Typed<ST> {
        Typed {
            sql: self,
            selection: (ProductRow::as_select(), users::username),
            _type: std::marker::PhantomData,
        }
    }
}

/// A [`Sql`] statement whose rows have the SQL type `ST`.
#[derive(Debug, Clone)]
pub struct Typed<ST> {
    sql: Sql,
    selection: PageSelection,
    _type: std::marker::PhantomData<ST>,
}

impl<ST> QueryFragment<Mysql> for Typed<ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Mysql>) -> QueryResult<()> {
        for part in &self.sql.parts {
            match part {
                Part::Text(text) => out.push_sql(text),
                Part::Bind(Value::Int(n)) => out.push_bind_param::<BigInt, _>(n)?,
                Part::Bind(Value::Text(text)) => out.push_bind_param::<Text, _>(text)?,
                Part::Bind(Value::Time(at)) => out.push_bind_param::<Datetime, _>(at)?,
                Part::Selection => self.selection.walk_ast(out.reborrow())?,
            }
        }
        Ok(())
    }
}

// No static id: the prepared-statement cache keys each shape of the
// statement by its SQL text, so every shape is prepared once per
// connection.
impl<ST> QueryId for Typed<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST: 'static> Query for Typed<ST> {
    type SqlType = ST;
}
