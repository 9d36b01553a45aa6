//! Query plans at scale. Each statement that can touch more than one row
//! is built by the code that issues it, then run under `ANALYZE` (MariaDB)
//! or `EXPLAIN ANALYZE` (MySQL) on 100,000 products from 1,000 owners, so
//! a plan that would sort or scan at a million rows fails here. A page
//! must be read from an index in page order: no filesort, no temporary
//! table, no full scan, and no more rows read from its driving table than
//! the page asks for.

use std::time::Duration;

use catalog::db::listing::{self, ListQuery, PageRows, ReadLimit};
use catalog::db::products::{SortColumn, SortValue};
use catalog::db::{refresh_tokens, throttle_counters};
use chrono::{NaiveDateTime, TimeDelta};
use diesel::mysql::Mysql;
use diesel::prelude::*;
use diesel::query_builder::QueryFragment;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl};
use serde_json::Value;

use crate::binary::Binary;
use crate::explain::{Explain, inlined};
use crate::helpers::server::insert_owners;
use crate::helpers::{TestApp, admin_sql, server_url};

const OWNERS: i64 = 1_000;
const PRODUCTS_PER_OWNER: i64 = 100;
const TOKENS_PER_OWNER: i64 = 20;

/// Fills the app's database: 1,000 owners with 100 products each, ids
/// interleaved across owners as real traffic would leave them, created a
/// second apart, with prices from 1.00 to 100.00 that do not follow the
/// order of creation, names or owners, and 100 names each shared by 1,000
/// products (so a cursor often lands among equal sort values); 20 refresh
/// tokens per owner in every state; a login counter per owner. Times are
/// UTC, as the service writes them. Portable
/// SQL: MySQL's recursive CTEs stop at 1,000 levels, so larger sets come
/// from cross joins.
async fn load(database: &str) {
    let numbers = |n: i64| {
        format!("WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})")
    };
    admin_sql(
        Some(database),
        &[
            insert_owners(OWNERS),
            format!(
                "INSERT INTO products (owner_id, name, description, price_cents, created_at, \
                 updated_at) {} \
                 SELECT u.id, CONCAT('Product ', n.i), CONCAT('Sold by owner', u.id, \
                 IF(u.id % 2 = 0, ' sturdy', ' flimsy'), \
                 IF((n.i % 10 = 0 AND u.id % 2 = 1) OR (n.i = 50 AND u.id % 100 = 0), ' matte', '')), \
                 (1 + (n.i * 37 + u.id * 11) % 100) * 100, \
                 TIMESTAMP('2026-01-01') + INTERVAL (n.i * 1000 + u.id) SECOND, UTC_TIMESTAMP(6) \
                 FROM n CROSS JOIN users u ORDER BY n.i, u.id",
                numbers(PRODUCTS_PER_OWNER)
            ),
            // Tokens issued over the last 20 days: some expired, some used,
            // some revoked, most alive.
            format!(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, issued_at, \
                 expires_at, idle_expires_at, used_at, revoked_at) {} \
                 SELECT UNHEX(SHA2(CONCAT(u.id, '/', n.i), 256)), UNHEX(MD5(CONCAT(u.id, '/', n.i DIV 5))), \
                 u.id, UTC_TIMESTAMP(6) - INTERVAL n.i DAY, UTC_TIMESTAMP(6) + INTERVAL (14 - n.i) DAY, \
                 UTC_TIMESTAMP(6) + INTERVAL (1 - n.i) DAY, IF(n.i % 5 = 0, NULL, UTC_TIMESTAMP(6) - INTERVAL n.i DAY), \
                 IF(u.id % 50 = 0, UTC_TIMESTAMP(6), NULL) \
                 FROM n CROSS JOIN users u",
                numbers(TOKENS_PER_OWNER)
            ),
            // Throttle counters of the last 16 minutes: as between two
            // purges, few are past their 15-minute window.
            "INSERT INTO throttle_counters (throttle_key, hits, window_started_at) \
             SELECT UNHEX(SHA2(CONCAT('user:', id), 256)), 1 + id % 10, UTC_TIMESTAMP(6) - INTERVAL (id % 16) MINUTE FROM users"
                .to_owned(),
            // The search index, as the service's tokenizer cuts these
            // names and descriptions (checked below on a sample).
            term_rows("w.term", "TRUE").replace(
                "FROM products p",
                "FROM products p CROSS JOIN \
                 (SELECT 'product' AS term UNION ALL SELECT 'sold' UNION ALL SELECT 'by') w",
            ),
            term_rows("SUBSTRING(p.name, 9)", "CHAR_LENGTH(p.name) >= 10"),
            term_rows("CONCAT('owner', p.owner_id)", "TRUE"),
            term_rows("IF(p.owner_id % 2 = 0, 'sturdy', 'flimsy')", "TRUE"),
            term_rows("'matte'", "p.description LIKE '% matte'"),
            "INSERT INTO search_terms (term, products) SELECT term, COUNT(*) FROM product_terms GROUP BY term"
                .to_owned(),
            "ANALYZE TABLE users, products, refresh_tokens, throttle_counters, product_terms, search_terms"
                .to_owned(),
        ],
    )
    .await;
}

/// Index rows for the word `term` (an SQL expression over `p`, the
/// product) of every product where `condition` holds.
fn term_rows(term: &str, condition: &str) -> String {
    format!(
        "INSERT INTO product_terms (product_id, term, owner_id, price_cents, created_at, name) \
         SELECT p.id, {term}, p.owner_id, p.price_cents, p.created_at, p.name FROM products p \
         WHERE {condition}"
    )
}

/// How one table is read.
#[derive(Debug, Clone, PartialEq)]
struct Access {
    table: String,
    /// MySQL's `EXPLAIN` access types: `ALL` (a table scan), `index` (a
    /// whole-index scan), `range`, `ref`, `eq_ref`, `const`.
    access: String,
    key: Option<String>,
    /// Rows actually read per loop, and loops, where the server says.
    rows: Option<f64>,
    loops: f64,
}

/// What the server did with a statement.
#[derive(Debug, Default)]
struct Plan {
    /// Tables in join order.
    tables: Vec<Access>,
    sorts: bool,
    temporary: bool,
    raw: String,
}

impl Plan {
    /// The first table read that is not a constant: the one whose rows
    /// drive the rest.
    fn driving(&self) -> Option<&Access> {
        self.tables
            .iter()
            .find(|t| !matches!(t.access.as_str(), "const" | "system"))
    }

    /// Every way this plan breaks the rules for a statement that must read
    /// at most `max_rows` rows of `table` through `key` and look up
    /// anything else by a unique key. `max_rows` of `None` bounds nothing,
    /// for statements without a `LIMIT` that must still use `key`.
    fn violations(&self, table: &str, key: &str, max_rows: Option<f64>) -> Vec<String> {
        let mut found = Vec::new();
        if self.sorts {
            found.push("sorts (filesort)".to_owned());
        }
        if self.temporary {
            found.push("uses a temporary table".to_owned());
        }
        for t in &self.tables {
            if t.access == "ALL" {
                found.push(format!("scans all of `{}`", t.table));
            }
        }
        match self.driving() {
            None => found.push("reads no table".to_owned()),
            Some(driving) => {
                if driving.table != table {
                    found.push(format!("starts from `{}`, not `{table}`", driving.table));
                }
                if driving.key.as_deref() != Some(key) {
                    found.push(format!(
                        "reads `{}` through {:?}, not `{key}`",
                        driving.table, driving.key
                    ));
                }
                if let (Some(max), Some(rows)) = (max_rows, driving.rows) {
                    let read = rows * driving.loops;
                    if read > max {
                        found.push(format!(
                            "reads {read} rows of `{}` for at most {max}",
                            driving.table
                        ));
                    }
                }
                if max_rows.is_none() && driving.access == "index" {
                    found.push(format!("scans the whole `{key}` index"));
                }
            }
        }
        let driving = self.driving().map(|t| t.table.clone());
        for t in &self.tables {
            if Some(&t.table) == driving.as_ref() {
                continue;
            }
            if !matches!(t.access.as_str(), "eq_ref" | "const" | "system") {
                found.push(format!(
                    "joins `{}` by {} instead of its primary key",
                    t.table, t.access
                ));
            }
            if t.rows.is_some_and(|rows| rows > 1.0) {
                found.push(format!("reads several `{}` rows per product", t.table));
            }
        }
        found
    }
}

/// MariaDB's `ANALYZE FORMAT=JSON`, and MySQL's `EXPLAIN FORMAT=JSON`:
/// tables in document order, which is join order; any filesort or
/// temporary table anywhere in the tree.
fn parse_json(raw: &str) -> Plan {
    fn walk(value: &Value, plan: &mut Plan) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let marks = !matches!(child, Value::Bool(false) | Value::Null);
                    if key.contains("filesort") && marks {
                        plan.sorts = true;
                    }
                    if key.contains("temporary") && marks {
                        plan.temporary = true;
                    }
                    if key == "table"
                        && let Some(name) = child.get("table_name").and_then(Value::as_str)
                    {
                        let number = |field: &str| child.get(field).and_then(Value::as_f64);
                        plan.tables.push(Access {
                            table: name.to_owned(),
                            access: child["access_type"].as_str().unwrap_or("?").to_owned(),
                            key: child.get("key").and_then(Value::as_str).map(str::to_owned),
                            rows: number("r_rows"),
                            loops: number("r_loops").unwrap_or(1.0),
                        });
                    }
                    walk(child, plan);
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, plan)),
            _ => {}
        }
    }
    let mut plan = Plan {
        raw: raw.to_owned(),
        ..Plan::default()
    };
    let json: Value =
        serde_json::from_str(&escape_stray_backslashes(raw)).expect("the plan is JSON");
    walk(&json, &mut plan);
    plan
}

/// MariaDB prints binary values in conditions as they are: raw control
/// characters, and backslashes that are not JSON escapes. Escapes both so
/// the document parses.
fn escape_stray_backslashes(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_control() && c != '\n' {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
            continue;
        }
        out.push(c);
        if c == '\\' {
            match chars.peek() {
                Some('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't' | 'u') => {
                    out.extend(chars.next());
                }
                _ => out.push('\\'),
            }
        }
    }
    out
}

/// MySQL's `EXPLAIN ANALYZE` tree: one iterator per line, access lines
/// such as `-> Index range scan on products using PRIMARY over (id < 5)
/// (reverse)  (cost=… rows=…) (actual time=0.03..0.05 rows=21 loops=1)`.
///
/// The access lines are those MySQL's `SetIndexInfoInObject`
/// (sql/join_optimizer/explain_access_path.cc) writes:
/// `[<Prefix>] [COVERING] INDEX <index_operation> ON table_alias USING
/// index_name …`, the prefix `Single-row` (EQ_REF), `Multi-range` (MRR)
/// or `Full-text` (FULL_TEXT_SEARCH), with the word after a prefix in
/// lower case; and `Table scan on`, `Constant row from`. Whatever the
/// storage engine adds (InnoDB's Multi-Range Read note) comes after.
fn parse_mysql_tree(raw: &str) -> Plan {
    const ACCESS: [(&str, &str); 16] = [
        ("Single-row covering index lookup on ", "eq_ref"),
        ("Single-row index lookup on ", "eq_ref"),
        ("Multi-range covering index lookup on ", "ref"),
        ("Multi-range index lookup on ", "ref"),
        ("Full-text covering index search on ", "fulltext"),
        ("Full-text index search on ", "fulltext"),
        ("Covering index range scan on ", "range"),
        ("Index range scan on ", "range"),
        ("Covering index skip scan on ", "range"),
        ("Index skip scan on ", "range"),
        ("Covering index lookup on ", "ref"),
        ("Index lookup on ", "ref"),
        ("Covering index scan on ", "index"),
        ("Index scan on ", "index"),
        ("Table scan on ", "ALL"),
        ("Constant row from ", "const"),
    ];
    let actual = regex::Regex::new(r"\(actual time=\S+ rows=([0-9.e+]+) loops=([0-9]+)\)")
        .expect("valid regex");
    let mut plan = Plan {
        raw: raw.to_owned(),
        ..Plan::default()
    };
    for line in raw.lines() {
        let node = line.trim_start().trim_start_matches("-> ");
        if node.starts_with("Sort") || node.contains("filesort") {
            plan.sorts = true;
        }
        if node.starts_with("Temporary table")
            || node.starts_with("Materialize")
            || node.starts_with("Aggregate using temporary table")
        {
            plan.temporary = true;
        }
        let Some((prefix, access)) = ACCESS.iter().find(|(prefix, _)| node.starts_with(prefix))
        else {
            continue;
        };
        let rest = &node[prefix.len()..];
        let table = rest.split_whitespace().next().unwrap_or("?");
        let key = rest
            .split_once(" using ")
            .and_then(|(_, after)| after.split_whitespace().next())
            .map(str::to_owned);
        let (rows, loops) = actual.captures(node).map_or((None, 1.0), |c| {
            (c[1].parse().ok(), c[2].parse().unwrap_or(1.0))
        });
        plan.tables.push(Access {
            table: table.trim_matches('`').to_owned(),
            access: (*access).to_owned(),
            key,
            rows,
            loops,
        });
    }
    plan
}

/// A connection to the app's database that can explain statements.
struct Explainer {
    conn: AsyncMysqlConnection,
    mariadb: bool,
    url: String,
}

impl Explainer {
    async fn connect(app: &TestApp) -> Self {
        let url = format!("{}/{}", server_url(), app.database);
        let mut conn = AsyncMysqlConnection::establish(&url)
            .await
            .expect("connects");
        let version: String = diesel::select(diesel::dsl::sql::<Text>("VERSION()"))
            .get_result(&mut conn)
            .await
            .expect("version");
        Self {
            conn,
            mariadb: version.contains("MariaDB"),
            url,
        }
    }

    async fn text<Q: QueryFragment<Mysql> + Send + Sync>(
        &mut self,
        prefix: &'static str,
        statement: &Q,
    ) -> String {
        if self.mariadb {
            self.text_prepared(prefix, statement).await
        } else {
            self.text_unprepared(prefix, statement).await
        }
    }

    /// The plan of the statement as the service sends it, prepared.
    async fn text_prepared<Q: QueryFragment<Mysql> + Send + Sync>(
        &mut self,
        prefix: &'static str,
        statement: &Q,
    ) -> String {
        let explain = Explain { prefix, statement };
        // Bytes: a plan may quote binary values that are not UTF-8.
        let rows: Vec<Vec<u8>> = explain.load(&mut self.conn).await.expect("EXPLAIN runs");
        String::from_utf8_lossy(&rows.concat()).into_owned()
    }

    /// The plan through the text protocol, binds written in: MySQL does
    /// not say it can prepare `EXPLAIN ANALYZE`, and none runs here to
    /// ask, so its branch does not rely on it.
    async fn text_unprepared<Q: QueryFragment<Mysql>>(
        &mut self,
        prefix: &'static str,
        statement: &Q,
    ) -> String {
        use mysql_async::prelude::Queryable;
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&self.url).unwrap())
            .await
            .expect("connects");
        let rows: Vec<Vec<u8>> = conn
            .query(format!("{prefix}{}", inlined(statement)))
            .await
            .expect("EXPLAIN runs");
        conn.disconnect().await.ok();
        String::from_utf8_lossy(&rows.concat()).into_owned()
    }

    /// The family of some refresh token `load` wrote.
    async fn a_token_family(&mut self) -> Vec<u8> {
        catalog::db::schema::refresh_tokens::table
            .select(catalog::db::schema::refresh_tokens::family_id)
            .first(&mut self.conn)
            .await
            .expect("a token")
    }

    /// The time limit the service's list reads carry on this server.
    fn limit(&self) -> ReadLimit {
        ReadLimit {
            mariadb: self.mariadb,
            max: Duration::from_secs(10),
        }
    }

    /// Runs a SELECT and reports its plan with the rows actually read.
    async fn select<Q: QueryFragment<Mysql> + Send + Sync>(&mut self, statement: &Q) -> Plan {
        if self.mariadb {
            parse_json(&self.text("ANALYZE FORMAT=JSON ", statement).await)
        } else {
            parse_mysql_tree(&self.text("EXPLAIN ANALYZE ", statement).await)
        }
    }

    /// [`Self::select`] for a statement that cannot cross threads (a
    /// boxed one), through the text protocol with its binds written in.
    async fn select_inlined<Q: QueryFragment<Mysql>>(&mut self, statement: &Q) -> Plan {
        if self.mariadb {
            parse_json(
                &self
                    .text_unprepared("ANALYZE FORMAT=JSON ", statement)
                    .await,
            )
        } else {
            parse_mysql_tree(&self.text_unprepared("EXPLAIN ANALYZE ", statement).await)
        }
    }

    /// Reports the plan of a write; MariaDB also runs it.
    async fn write<Q: QueryFragment<Mysql> + Send + Sync>(&mut self, statement: &Q) -> Plan {
        let prefix = if self.mariadb {
            "ANALYZE FORMAT=JSON "
        } else {
            "EXPLAIN FORMAT=JSON "
        };
        parse_json(&self.text(prefix, statement).await)
    }
}

/// Fails with every broken rule of every statement at once.
fn assert_no_violations(failures: Vec<String>) {
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The report of a plan that breaks the rules for reading at most
/// `max_rows` of `table` through `key` (see [`Plan::violations`]).
fn check(name: &str, plan: &Plan, table: &str, key: &str, max_rows: Option<f64>) -> Option<String> {
    let violations = plan.violations(table, key, max_rows);
    (!violations.is_empty()).then(|| {
        format!(
            "{name}: {}\nplan: {:?}\n{}",
            violations.join("; "),
            plan.tables,
            plan.raw
        )
    })
}

/// The sort value and id of the row `offset` rows into `column` order
/// (of one owner's products, when given): where a cursor that deep points.
async fn position(
    db: &mut Explainer,
    column: SortColumn,
    descending: bool,
    owner: Option<i64>,
    offset: i64,
) -> (SortValue, i64) {
    use catalog::db::schema::products as p;
    let mut query = p::table
        .select((p::created_at, p::price_cents, p::name, p::id))
        .into_boxed();
    if let Some(owner) = owner {
        query = query.filter(p::owner_id.eq(owner));
    }
    query = match (column, descending) {
        (SortColumn::CreatedAt, false) => query.order((p::created_at.asc(), p::id.asc())),
        (SortColumn::CreatedAt, true) => query.order((p::created_at.desc(), p::id.desc())),
        (SortColumn::Price, false) => query.order((p::price_cents.asc(), p::id.asc())),
        (SortColumn::Price, true) => query.order((p::price_cents.desc(), p::id.desc())),
        (SortColumn::Name, false) => query.order((p::name.asc(), p::id.asc())),
        (SortColumn::Name, true) => query.order((p::name.desc(), p::id.desc())),
    };
    let (at, cents, name, id): (NaiveDateTime, i64, String, i64) = query
        .offset(offset)
        .first(&mut db.conn)
        .await
        .expect("a row that deep");
    let value = match column {
        SortColumn::CreatedAt => SortValue::Time(at),
        SortColumn::Price => SortValue::Cents(cents),
        SortColumn::Name => SortValue::Text(name),
    };
    (value, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_is_read_from_an_index_in_page_order() {
    let app = TestApp::spawn().await;
    load(&app.database).await;
    let mut db = Explainer::connect(&app).await;
    let failures = plain_page_violations(
        &mut db,
        OWNERS / 2,
        OWNERS * PRODUCTS_PER_OWNER,
        PRODUCTS_PER_OWNER,
    )
    .await;
    assert_no_violations(failures);
}

/// With a single owner, the optimizer would rather buffer the one-row
/// users table than look it up for each product: a plan that reads and
/// sorts every product. Pages must not depend on how many owners there
/// are.
#[tokio::test(flavor = "multi_thread")]
async fn pages_of_a_single_owners_catalog_are_read_from_an_index_too() {
    const PRODUCTS: i64 = 20_000;
    let app = TestApp::spawn().await;
    admin_sql(
        Some(&app.database),
        &[
            insert_owners(1),
            format!(
                "INSERT INTO products (owner_id, name, description, price_cents, created_at, \
                 updated_at) \
                 WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999) \
                 SELECT (SELECT MIN(id) FROM users), CONCAT('Product ', k), NULL, \
                 (1 + k * 37 % 100) * 100, TIMESTAMP('2026-01-01') + INTERVAL k SECOND, \
                 UTC_TIMESTAMP(6) \
                 FROM (SELECT a.i * 1000 + b.i + 1 AS k FROM n a CROSS JOIN n b \
                       WHERE a.i < {}) numbers ORDER BY k",
                PRODUCTS / 1000
            ),
            "ANALYZE TABLE users, products".to_owned(),
        ],
    )
    .await;
    let mut db = Explainer::connect(&app).await;
    let owner: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT MIN(id) FROM users)",
    ))
    .get_result(&mut db.conn)
    .await
    .unwrap();
    let failures = plain_page_violations(&mut db, owner, PRODUCTS, PRODUCTS).await;
    assert_no_violations(failures);
}

/// The plan of every plain page (no filter beyond its index): every sort,
/// both directions, for the whole catalog of `total` products and for
/// `owner`'s `owned`, from the start and from a cursor halfway down; at
/// the default and the largest page, each plus the one row that tells
/// whether another page follows.
async fn plain_page_violations(
    db: &mut Explainer,
    owner: i64,
    total: i64,
    owned: i64,
) -> Vec<String> {
    let mut failures = Vec::new();
    for column in [SortColumn::CreatedAt, SortColumn::Price, SortColumn::Name] {
        for descending in [true, false] {
            for one_owner in [None, Some(owner)] {
                let depth = if one_owner.is_some() { owned } else { total } / 2;
                let middle = position(db, column, descending, one_owner, depth).await;
                for after in [None, Some(middle)] {
                    for limit in [21_i64, 101] {
                        let query = ListQuery {
                            owner: one_owner,
                            terms: Vec::new(),
                            min_cents: None,
                            max_cents: None,
                            column,
                            descending,
                            after: after.clone(),
                            limit,
                        };
                        // MariaDB cannot explain `SET STATEMENT … FOR`; the
                        // hint form is a comment to it, and the same plan.
                        let hinted = ReadLimit {
                            mariadb: false,
                            ..db.limit()
                        };
                        let plan = db.select(&listing::plain_statement(hinted, &query)).await;
                        let name = format!(
                            "{column:?} desc={descending} owner={one_owner:?} cursor={} limit {limit}",
                            after.is_some()
                        );
                        let key = column.index_name(one_owner.is_some());
                        failures.extend(check(&name, &plan, "products", key, Some(limit as f64)));
                    }
                }
            }
        }
    }
    failures
}

/// The text the MySQL branch sends, binds written in, is planned and read
/// as the prepared statement is: checked here, on MariaDB, for pages with
/// integer, text and date-time binds.
#[tokio::test(flavor = "multi_thread")]
async fn a_statement_with_its_binds_written_in_is_planned_as_the_prepared_one() {
    let app = TestApp::spawn().await;
    load(&app.database).await;
    let mut db = Explainer::connect(&app).await;
    let middle = position(&mut db, SortColumn::CreatedAt, true, None, 50_000).await;
    let page = |owner, terms: Vec<String>, after| ListQuery {
        owner,
        terms,
        min_cents: Some(500),
        max_cents: None,
        column: SortColumn::CreatedAt,
        descending: true,
        after,
        limit: 21,
    };
    let hinted = ReadLimit {
        mariadb: false,
        ..db.limit()
    };
    for query in [
        page(None, Vec::new(), Some(middle.clone())),
        page(Some(OWNERS / 2), Vec::new(), None),
    ] {
        let statement = listing::plain_statement(hinted, &query);
        let inlined_sql = inlined(&statement);
        assert!(!inlined_sql.contains('?'), "{inlined_sql}");
        let prepared = parse_json(&db.text_prepared("ANALYZE FORMAT=JSON ", &statement).await);
        let written_in = parse_json(&db.text_unprepared("ANALYZE FORMAT=JSON ", &statement).await);
        assert!(!prepared.tables.is_empty());
        assert_eq!(prepared.tables, written_in.tables, "{inlined_sql}");
    }
    // Bytes and a date-time, in a write (explained, not run).
    let now: NaiveDateTime = chrono::Utc::now().naive_utc();
    let family = db.a_token_family().await;
    let revoke = refresh_tokens::revoke_family_statement(&family, now);
    let inlined_sql = inlined(&revoke);
    assert!(inlined_sql.contains("X'"), "{inlined_sql}");
    let prepared = parse_json(&db.text_prepared("EXPLAIN FORMAT=JSON ", &revoke).await);
    let written_in = parse_json(&db.text_unprepared("EXPLAIN FORMAT=JSON ", &revoke).await);
    assert_eq!(prepared.tables, written_in.tables, "{inlined_sql}");
    assert_eq!(
        prepared.tables[0].key.as_deref(),
        Some("refresh_tokens_family")
    );
}

#[test]
fn debug_shown_binds_become_sql_literals() {
    use diesel::dsl::sql;
    use diesel::sql_types::{BigInt, Binary, Nullable, Text};
    let statement = diesel::select(
        sql::<Text>("CONCAT(")
            .bind::<Text, _>("it's a \\ \"quote\", é")
            .sql(", ")
            .bind::<BigInt, _>(-5_i64)
            .sql(", ")
            .bind::<Binary, _>(vec![0_u8, 255])
            .sql(", ")
            .bind::<Nullable<BigInt>, _>(None::<i64>)
            .sql(")"),
    );
    assert_eq!(
        inlined(&statement),
        "SELECT CONCAT('it''s a \\\\ \"quote\", é', -5, X'00FF', NULL)"
    );
}

/// The index `load` writes in SQL is what the service would write: the
/// words of a sample of products are the tokenizer's.
async fn assert_index_is_the_tokenizers(db: &mut Explainer) {
    use catalog::db::schema::{product_terms as t, products as p};
    let sample: Vec<(i64, String, Option<String>)> = p::table
        .filter(p::id.le(3000).and(p::id.gt(2000)))
        .select((p::id, p::name, p::description))
        .load(&mut db.conn)
        .await
        .unwrap();
    assert_eq!(sample.len(), 1000);
    for (id, name, description) in sample {
        let mut stored: Vec<String> = t::table
            .filter(t::product_id.eq(id))
            .select(t::term)
            .load(&mut db.conn)
            .await
            .unwrap();
        let mut words = catalog::domain::search::product_words(&name, description.as_deref());
        stored.sort();
        words.sort();
        assert_eq!(stored, words, "{name} / {description:?}");
    }
}

/// The page `query` reads and the index entries it examined.
async fn examine(db: &mut Explainer, query: &ListQuery) -> (PageRows, u64) {
    let limit = db.limit();
    crate::examined::examine(&mut db.conn, limit, query).await
}

/// Every shape a visitor can ask for, in every sort and direction, from
/// the start and from a cursor halfway down the catalog, examines at
/// most the documented bound of index entries (plus one lookup of the
/// product and one of its owner per row); a page with nothing to filter
/// beyond its index examines only what it returns.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_examines_at_most_the_documented_bound() {
    let app = TestApp::spawn().await;
    load(&app.database).await;
    let mut db = Explainer::connect(&app).await;
    assert_index_is_the_tokenizers(&mut db).await;
    let total = OWNERS * PRODUCTS_PER_OWNER;
    let owner = OWNERS / 2;
    let words = |text: &str| -> Vec<String> { text.split(' ').map(str::to_owned).collect() };
    // (name, owner, words, min, max)
    type Case<'a> = (&'a str, Option<i64>, Vec<String>, Option<i64>, Option<i64>);
    let shapes: Vec<Case> = vec![
        ("everything", None, vec![], None, None),
        ("one owner", Some(owner), vec![], None, None),
        ("a price nobody has", None, vec![], Some(90_000_000), None),
        ("one cent", None, vec![], Some(5_000), Some(5_000)),
        ("a wide price range", None, vec![], Some(1_000), Some(6_000)),
        (
            "one owner's price range",
            Some(owner),
            vec![],
            Some(1_000),
            Some(2_000),
        ),
        (
            "a word in every product",
            None,
            words("product"),
            None,
            None,
        ),
        ("a rare word", None, words("owner500"), None, None),
        (
            "two common words never together",
            None,
            words("sturdy flimsy"),
            None,
            None,
        ),
        (
            "two words rarely together",
            None,
            words("sturdy matte"),
            None,
            None,
        ),
        (
            "three common words",
            None,
            words("product sold sturdy"),
            None,
            None,
        ),
        (
            "a common word and a price nobody has",
            None,
            words("product"),
            Some(90_000_000),
            None,
        ),
        (
            "a common word, one cent",
            None,
            words("sturdy"),
            Some(5_000),
            Some(5_000),
        ),
        (
            "a common word and an owner",
            Some(owner),
            words("product"),
            None,
            None,
        ),
        (
            "a word the owner lacks",
            Some(owner + 1),
            words("sturdy"),
            None,
            None,
        ),
    ];
    let mut failures = Vec::new();
    for column in [SortColumn::CreatedAt, SortColumn::Price, SortColumn::Name] {
        for descending in [true, false] {
            let middle = position(&mut db, column, descending, None, total / 2).await;
            for after in [None, Some(middle)] {
                for (name, owner, terms, min_cents, max_cents) in &shapes {
                    let limit = 101;
                    let query = ListQuery {
                        owner: *owner,
                        terms: terms.clone(),
                        min_cents: *min_cents,
                        max_cents: *max_cents,
                        column,
                        descending,
                        after: after.clone(),
                        limit,
                    };
                    let (page, examined) = examine(&mut db, &query).await;
                    let bound = if query.may_examine_many() {
                        listing::MAX_ENTRIES as u64 + 2 * limit as u64 + 2 * terms.len() as u64
                    } else {
                        // The page, each row's owner, the one beyond it,
                        // and an owner's name.
                        3 * limit as u64 + 4
                    };
                    if examined > bound {
                        failures.push(format!(
                            "{name} by {column:?} desc={descending} cursor={}: examined {examined} \
                             entries for at most {bound} ({} rows)",
                            after.is_some(),
                            page.rows.len()
                        ));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A page whose read stops at its bound holds what it found and a cursor
/// that resumes right after the last entry examined: followed to the
/// end, the pages hold exactly the matches, in order, once each; some
/// were short but not last.
#[tokio::test(flavor = "multi_thread")]
async fn short_pages_resume_where_their_read_stopped() {
    let app = TestApp::spawn().await;
    load(&app.database).await;
    let mut db = Explainer::connect(&app).await;
    for (sort, order) in [
        ("-created_at", "created_at DESC, id DESC"),
        ("price", "price_cents, id"),
        ("-name", "name DESC, id DESC"),
    ] {
        let expected: Vec<i64> = diesel::sql_query(format!(
            "SELECT id FROM products WHERE description LIKE '% sturdy%' \
             AND description LIKE '% matte' ORDER BY {order}"
        ))
        .load::<Id>(&mut db.conn)
        .await
        .expect("matches")
        .into_iter()
        .map(|row| row.id)
        .collect();
        assert_eq!(expected.len(), 10, "the data holds ten such products");
        let path = format!("/api/products?q=matte%20STURDY&sort={sort}");
        let (ids, short) = pages(&app, &path, 4).await;
        assert_eq!(ids, expected, "{sort}");
        assert!(short > 0, "{sort}: no page ended at its bound");
    }
    // A filter nobody matches, in an order it does not follow, ends at
    // once when its own range is empty (no short pages to walk).
    let (ids, short) = pages(&app, "/api/products?min_price=900000&sort=name", 20).await;
    assert!(ids.is_empty());
    assert_eq!(short, 0);
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// Follows `path` page by page with `limit`; answers the ids in order,
/// and how many pages were short but not last.
async fn pages(app: &TestApp, path: &str, limit: u32) -> (Vec<i64>, usize) {
    let mut ids = Vec::new();
    let mut short = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{path}&limit={limit}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let response = app.list_products(&url["/api/products".len()..]).await;
        assert_eq!(response.status(), 200, "{url}");
        let page: Value = response.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        ids.extend(items.iter().map(|item| item["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => {
                if items.len() < limit as usize {
                    short += 1;
                }
                cursor = Some(next.to_owned());
            }
            None => return (ids, short),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn other_statements_over_many_rows_use_their_index() {
    let app = TestApp::spawn().await;
    load(&app.database).await;
    let mut db = Explainer::connect(&app).await;
    let now: NaiveDateTime = chrono::Utc::now().naive_utc();
    let family = db.a_token_family().await;

    let mut failures = Vec::new();
    let plan = db.select(&refresh_tokens::purgeable_ids(now, 1000)).await;
    failures.extend(check(
        "token purge",
        &plan,
        "refresh_tokens",
        "refresh_tokens_purge_after",
        Some(1000.0),
    ));

    let plan = db
        .write(&refresh_tokens::revoke_family_statement(&family, now))
        .await;
    failures.extend(check(
        "revoke a session",
        &plan,
        "refresh_tokens",
        "refresh_tokens_family",
        None,
    ));

    let plan = db
        .write(&refresh_tokens::revoke_user_statement(OWNERS / 2, now))
        .await;
    failures.extend(check(
        "revoke a user's sessions",
        &plan,
        "refresh_tokens",
        "refresh_tokens_user",
        None,
    ));

    let cutoff = now - TimeDelta::minutes(15);
    let plan = db.write(&throttle_counters::purge_statement(cutoff)).await;
    failures.extend(check(
        "throttle counter purge",
        &plan,
        "throttle_counters",
        "throttle_counters_window",
        None,
    ));
    assert_no_violations(failures);
}

/// The check itself can fail: a page sorted on a column without an index,
/// and a filter no index serves, are both caught.
#[tokio::test(flavor = "multi_thread")]
async fn a_sort_or_scan_without_an_index_fails_the_check() {
    use catalog::db::schema::{products as p, users as u};
    let app = TestApp::spawn().await;
    load(&app.database).await;
    let mut db = Explainer::connect(&app).await;

    let sorted_by_unindexed = p::table
        .inner_join(u::table)
        .select((p::id, u::username))
        .order(p::updated_at.desc())
        .limit(21);
    let plan = db.select(&sorted_by_unindexed).await;
    let violations = plan.violations("products", "PRIMARY", Some(21.0));
    assert!(
        violations.iter().any(|v| v.contains("sorts")),
        "{violations:?}\n{}",
        plan.raw
    );

    let unindexed_filter = p::table.filter(p::version.eq(5)).select(p::id).limit(21);
    let plan = db.select(&unindexed_filter).await;
    let violations = plan.violations("products", "PRIMARY", Some(21.0));
    assert!(
        violations.iter().any(|v| v.contains("scans all")),
        "{violations:?}\n{}",
        plan.raw
    );
}

#[test]
fn mysql_trees_are_read_like_mariadb_plans() {
    let good = "\
-> Limit: 21 row(s)  (cost=9.6 rows=21) (actual time=0.0606..0.128 rows=21 loops=1)
    -> Nested loop inner join  (cost=9.6 rows=21) (actual time=0.0597..0.126 rows=21 loops=1)
        -> Index range scan on products using PRIMARY over (id < 50000) (reverse)  (cost=2.25 rows=21) (actual time=0.0453..0.0612 rows=21 loops=1)
        -> Single-row index lookup on users using PRIMARY (id=products.owner_id)  (cost=0.25 rows=1) (actual time=0.00274..0.00277 rows=1 loops=21)
";
    let plan = parse_mysql_tree(good);
    assert_eq!(plan.tables.len(), 2);
    assert_eq!(plan.tables[0].access, "range");
    assert_eq!(plan.tables[0].key.as_deref(), Some("PRIMARY"));
    assert_eq!(plan.tables[1].loops, 21.0);
    assert!(
        plan.violations("products", "PRIMARY", Some(21.0))
            .is_empty()
    );

    let bad = "\
-> Limit: 21 row(s)  (actual time=3200..3200 rows=21 loops=1)
    -> Sort: products.id DESC, limit input to 21 row(s) per chunk  (actual time=3200..3200 rows=21 loops=1)
        -> Stream results  (cost=1.1e+6 rows=1e+6) (actual time=0.1..2900 rows=1e+6 loops=1)
            -> Nested loop inner join  (actual time=0.1..2500 rows=1e+6 loops=1)
                -> Table scan on users  (cost=101 rows=1000) (actual time=0.05..0.6 rows=1000 loops=1)
                -> Index lookup on products using products_owner_id_id (owner_id=users.id)  (cost=100 rows=1000) (actual time=0.02..2.4 rows=1000 loops=1000)
";
    let violations = parse_mysql_tree(bad).violations("products", "PRIMARY", Some(21.0));
    for expected in ["sorts", "scans all of `users`", "starts from `users`"] {
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "{expected}: {violations:?}"
        );
    }
}

/// Every access-line form MySQL 8.4 writes for the plans the service
/// uses, as `SetIndexInfoInObject` and `SetObjectMembers`
/// (sql/join_optimizer/explain_access_path.cc) build them: covering and
/// plain lookups, single-row lookups, range scans in both directions with
/// an index condition and InnoDB's Multi-Range Read note, index scans,
/// a full-text search, batched (Multi-range) lookups, and a temporary
/// table. No MySQL server runs on these machines, so the lines are built
/// from that source, not captured.
#[test]
fn every_mysql_access_line_the_service_meets_is_recognised() {
    let tree = "\
-> Limit: 21 row(s)  (cost=9.6 rows=21) (actual time=0.06..0.13 rows=21 loops=1)
    -> Nested loop inner join  (actual time=0.06..0.12 rows=21 loops=1)
        -> Covering index range scan on t using product_terms_created over (term = 'lamp' AND created_at < '2026-01-01') (reverse)  (cost=2.3 rows=21) (actual time=0.04..0.06 rows=21 loops=1)
        -> Single-row covering index lookup on products using PRIMARY (id=t.product_id)  (cost=0.25 rows=1) (actual time=0.002..0.002 rows=1 loops=21)
        -> Single-row index lookup on users using PRIMARY (id=products.owner_id)  (cost=0.25 rows=1) (actual time=0.002..0.002 rows=1 loops=21)
        -> Covering index lookup on w0 using product_terms_created (term='red', created_at=t.created_at, product_id=t.product_id)  (cost=0.25 rows=1) (actual time=0.002..0.002 rows=1 loops=21)
        -> Index range scan on refresh_tokens using refresh_tokens_expires over (expires_at < '2026-01-01'), with index condition: (refresh_tokens.expires_at < TIMESTAMP'2026-01-01 00:00:00') (Multi-Range Read)  (cost=1 rows=5) (actual time=0.01..0.02 rows=5 loops=1)
        -> Index scan on products using products_created (reverse)  (cost=0.1 rows=21) (actual time=0.01..0.02 rows=21 loops=1)
        -> Full-text index search on products using products_search (name='lamp')  (cost=0.35 rows=1) (actual time=0.03..0.03 rows=3 loops=1)
        -> Multi-range index lookup on users using PRIMARY (id=products.owner_id)  (cost=0.3 rows=1) (actual time=0.01..0.01 rows=21 loops=1)
        -> Index lookup on products using products_owner_created (owner_id=7)  (cost=2 rows=100) (actual time=0.01..0.05 rows=21 loops=1)
        -> Table scan on <temporary>  (actual time=0.01..0.01 rows=1 loops=1)
            -> Aggregate using temporary table  (actual time=0.05..0.05 rows=1 loops=1)
";
    let plan = parse_mysql_tree(tree);
    let read: Vec<(&str, &str, Option<&str>)> = plan
        .tables
        .iter()
        .map(|t| (t.table.as_str(), t.access.as_str(), t.key.as_deref()))
        .collect();
    assert_eq!(
        read,
        [
            ("t", "range", Some("product_terms_created")),
            ("products", "eq_ref", Some("PRIMARY")),
            ("users", "eq_ref", Some("PRIMARY")),
            ("w0", "ref", Some("product_terms_created")),
            ("refresh_tokens", "range", Some("refresh_tokens_expires")),
            ("products", "index", Some("products_created")),
            ("products", "fulltext", Some("products_search")),
            ("users", "ref", Some("PRIMARY")),
            ("products", "ref", Some("products_owner_created")),
            ("<temporary>", "ALL", None),
        ]
    );
    assert_eq!(plan.tables[1].loops, 21.0);
    assert_eq!(plan.tables[6].rows, Some(3.0));
    assert!(plan.temporary);
    assert!(!plan.sorts);
}

/// A read the server stops at `DATABASE_READ_TIMEOUT_SECS` answers 503
/// with `Retry-After`; the metrics count it by shape, and the log names
/// the shape.
#[tokio::test(flavor = "multi_thread")]
async fn a_read_past_its_time_limit_is_503_counted_and_logged() {
    let binary = Binary::start(&[("DATABASE_READ_TIMEOUT_SECS", "0.001")]).await;
    load(binary.database().unwrap()).await;
    let response = reqwest::get(binary.url("/api/products?q=sturdy%20flimsy&sort=name"))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 503);
    binary.wait_for_log("search/window").await;
    binary.wait_for_log("DATABASE_READ_TIMEOUT").await;
    let metrics = binary.metrics().await;
    assert!(
        metrics.contains("catalog_list_time_limit_total{shape=\"search/window\"} 1"),
        "{metrics}"
    );
}

/// Searches that may examine many entries hold at most
/// `DATABASE_SCAN_SLOTS` connections: a flood of them gets 200 or a quick
/// 503, while the front page, a product and logins stay served.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_searches_leaves_the_front_page_and_logins_served() {
    let binary = Binary::start(&[("DATABASE_SCAN_SLOTS", "1"), ("DATABASE_POOL_SIZE", "4")]).await;
    load(binary.database().unwrap()).await;
    let client = reqwest::Client::new();
    let signup = client
        .post(binary.url("/api/auth/signup"))
        .json(&serde_json::json!({
            "username": "shopper", "email": "shopper@example.com", "password": "a long password"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for n in 0..48 {
        let (client, flooding, answered) = (client.clone(), flooding.clone(), answered.clone());
        let url = binary.url(&format!(
            "/api/products?q=sturdy%20flimsy&sort={}",
            ["name", "-price", "created_at"][n % 3]
        ));
        flood.spawn(async move {
            let mut statuses = Vec::new();
            while std::sync::atomic::AtomicBool::load(
                &flooding,
                std::sync::atomic::Ordering::Relaxed,
            ) {
                let response = client.get(&url).send().await.unwrap();
                statuses.push(response.status().as_u16());
                answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            statuses
        });
    }
    // The flood is under way once it has had as many answers as it has
    // clients.
    while std::sync::atomic::AtomicUsize::load(&answered, std::sync::atomic::Ordering::Relaxed) < 48
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut slowest = Duration::ZERO;
    for round in 0..40 {
        let started = std::time::Instant::now();
        let front = client
            .get(binary.url("/api/products"))
            .send()
            .await
            .unwrap();
        assert_eq!(front.status(), 200, "front page");
        let one = client
            .get(binary.url("/api/products/1"))
            .send()
            .await
            .unwrap();
        assert_eq!(one.status(), 200, "a product");
        slowest = slowest.max(started.elapsed());
        if round % 10 == 0 {
            let login = client
                .post(binary.url("/api/auth/login"))
                .json(&serde_json::json!({"username": "shopper", "password": "a long password"}))
                .send()
                .await
                .unwrap();
            assert_eq!(login.status(), 200, "login");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let statuses: Vec<u16> = flood.join_all().await.into_iter().flatten().collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(
        ok + refused,
        statuses.len(),
        "only 200 or 503: {statuses:?}"
    );
    assert!(ok > 0 && refused > 0, "{ok} served, {refused} refused");
    assert!(
        slowest < Duration::from_secs(1),
        "the front page took {slowest:?}"
    );
    let metrics = binary.metrics().await;
    assert!(
        !metrics.contains("catalog_list_scan_refused_total 0\n"),
        "{metrics}"
    );
}

/// 100,000 accounts whose usernames and emails all start with `user` (the
/// worst prefix: every account matches it), a tenth of them admins, and
/// 100,000 audit events by ten actors about a thousand targets.
async fn load_accounts(database: &str) {
    let thousand = "WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)";
    admin_sql(
        Some(database),
        &[
            "CREATE TABLE hundreds (i INT PRIMARY KEY)".to_owned(),
            "INSERT INTO hundreds WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL SELECT i + 1 \
             FROM n WHERE i < 99) SELECT i FROM n"
                .to_owned(),
            format!(
                "INSERT INTO users (username, username_key, email, email_key, password_hash, \
                 role, created_at, updated_at) {thousand} \
                 SELECT CONCAT('user', n.i * 100 + h.i), UNHEX(SHA2(CONCAT('user', n.i * 100 + h.i), 256)), \
                 CONCAT('User', n.i * 100 + h.i, '@example.com'), \
                 UNHEX(SHA2(CONCAT('user', n.i * 100 + h.i, '@example.com'), 256)), 'x', \
                 IF(h.i % 10 = 0, 'admin', 'user'), UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) \
                 FROM n CROSS JOIN hundreds h"
            ),
            format!(
                "INSERT INTO audit_events (actor, action, target, changes, request_id, created_at) \
                 {thousand} SELECT CONCAT('user:', 1 + (n.i * 100 + h.i) % 10), 'user.update', \
                 CONCAT('user:', 1 + (n.i * 100 + h.i) % 1000), '{{}}', NULL, UTC_TIMESTAMP(6) \
                 FROM n CROSS JOIN hundreds h"
            ),
            "DROP TABLE hundreds".to_owned(),
            "ANALYZE TABLE users, audit_events".to_owned(),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_pages_and_the_admin_lock_read_an_index_in_page_order() {
    use catalog::db::admin::{self, Fold};
    let app = TestApp::spawn().await;
    load_accounts(&app.database).await;
    let mut db = Explainer::connect(&app).await;
    let mut failures = Vec::new();
    let page = 21.0;
    for before in [None, Some(50_000)] {
        let plan = db
            .select_inlined(&admin::page_all_statement(before, 21))
            .await;
        failures.extend(check("all users", &plan, "users", "PRIMARY", Some(page)));
    }
    for (fold, key, after) in [
        (Fold::Username, "users_username_fold", None),
        (Fold::Username, "users_username_fold", Some(("user5", 5))),
        (Fold::Email, "users_email_fold", None),
        (
            Fold::Email,
            "users_email_fold",
            Some(("user5@example.com", 5)),
        ),
    ] {
        for prefix in ["user", "USER5", "u"] {
            let plan = db
                .select_inlined(&admin::page_matching_statement(fold, prefix, after, 21))
                .await;
            let name = format!("users matching {prefix:?} by {fold:?} after {after:?}");
            failures.extend(check(&name, &plan, "users", key, Some(page)));
        }
    }
    for (actor, target, key) in [
        (None, None, "PRIMARY"),
        (Some("user:3"), None, "audit_events_actor"),
        (None, Some("user:7"), "audit_events_target"),
        (Some("user:3"), Some("user:3"), "audit_events_actor_target"),
    ] {
        for before in [None, Some(60_000)] {
            let plan = db
                .select_inlined(&admin::events_statement(actor, target, before, 21))
                .await;
            let name = format!("audit by {actor:?} about {target:?} before {before:?}");
            failures.extend(check(&name, &plan, "audit_events", key, Some(page)));
        }
    }
    // The guard reads (and locks) the admins' entries only: 10,000 of
    // 100,000 accounts.
    let plan = db
        .select_inlined(&admin::lock_active_admins_statement())
        .await;
    failures.extend(check(
        "active admins",
        &plan,
        "users",
        "users_active_admins",
        Some(10_000.0),
    ));
    assert_no_violations(failures);
}
