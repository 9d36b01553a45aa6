//! Queries of administration: accounts as an admin sees them, in keyset
//! pages, the lock behind the last-admin guard, and the audit trail.
//!
//! Every page reads one index in page order and stops at the page:
//! - all accounts: the primary key, newest first;
//! - a prefix search: `users_username_fold` (then `users_email_fold`), a
//!   range of the folded prefix in (fold, id) order. The prefix is folded
//!   by the same `LOWER()` that makes the stored forms, so the two agree;
//! - the audit trail: the primary key, or `audit_events_actor` /
//!   `audit_events_target` when filtered, newest first.

use chrono::NaiveDateTime;
use diesel::dsl::{AsSelect, SqlTypeOf};
use diesel::mysql::Mysql;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;

use super::schema::{audit_events, users};
use super::{Conn, Result, last_insert_id};

/// An account as an admin sees it.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = users, check_for_backend(diesel::mysql::Mysql))]
pub struct AdminUserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: String,
    pub disabled_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub version: i32,
    pub product_count: i64,
    pub username_fold: String,
    pub email_fold: String,
}

/// Which folded form a prefix search reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    Username,
    Email,
}

impl Fold {
    fn column(self) -> &'static str {
        match self {
            Self::Username => "username_fold",
            Self::Email => "email_fold",
        }
    }

    fn index(self) -> &'static str {
        match self {
            Self::Username => "users_username_fold",
            Self::Email => "users_email_fold",
        }
    }
}

/// A `LIKE` pattern matching what starts with `prefix`, its wildcards
/// escaped (`\` is the escape character).
fn escaped(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

type UserSelection = SqlTypeOf<AsSelect<AdminUserRow, Mysql>>;

/// The statement of [`page_all`], for the plan test.
pub fn page_all_statement(
    before: Option<i64>,
    limit: i64,
) -> users::BoxedQuery<'static, Mysql, UserSelection> {
    let mut query = users::table
        .select(AdminUserRow::as_select())
        .order(users::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(users::id.lt(before));
    }
    query
}

/// Up to `limit` accounts, newest first, before id `before`.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn page_all(
    conn: &mut Conn,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AdminUserRow>> {
    Ok(page_all_statement(before, limit).load(conn).await?)
}

/// The statement of [`page_matching`], for the plan test.
pub fn page_matching_statement(
    fold: Fold,
    prefix: &str,
    after: Option<(&str, i64)>,
    limit: i64,
) -> BoxedSqlQuery<'static, Mysql, SqlQuery> {
    let column = fold.column();
    let condition = if after.is_some() {
        format!(" AND ({column} > ? OR ({column} = ? AND id > ?))")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT id, username, email, role, disabled_at, created_at, version, product_count, \
         username_fold, email_fold FROM users FORCE INDEX ({index}) \
         WHERE {column} LIKE CONCAT(LOWER(?), '%'){condition} ORDER BY {column}, id LIMIT ?",
        index = fold.index()
    );
    let query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(escaped(prefix));
    let query = match after {
        Some((text, id)) => query
            .bind::<Text, _>(text.to_owned())
            .bind::<Text, _>(text.to_owned())
            .bind::<BigInt, _>(id),
        None => query,
    };
    query.bind::<BigInt, _>(limit)
}

/// `text` folded as the stored forms are, by the database's `LOWER()`.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn fold(conn: &mut Conn, text: &str) -> Result<String> {
    let lower = diesel::dsl::sql::<Text>("LOWER(")
        .bind::<Text, _>(text.to_owned())
        .sql(")");
    Ok(diesel::select(lower).get_result(conn).await?)
}

/// Up to `limit` accounts whose folded `fold` starts with the folded
/// `prefix`, in (fold, id) order, after `after` (a stored fold and an id)
/// when given.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn page_matching(
    conn: &mut Conn,
    fold: Fold,
    prefix: &str,
    after: Option<(&str, i64)>,
    limit: i64,
) -> Result<Vec<AdminUserRow>> {
    Ok(page_matching_statement(fold, prefix, after, limit)
        .load(conn)
        .await?)
}

#[tracing::instrument(level = "debug", skip(conn))]
pub async fn find(conn: &mut Conn, id: i64) -> Result<Option<AdminUserRow>> {
    Ok(users::table
        .find(id)
        .select(AdminUserRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Every account with the admin role, oldest first (through
/// `users_active_admins`).
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn admins(conn: &mut Conn) -> Result<Vec<AdminUserRow>> {
    Ok(users::table
        .filter(users::role.eq("admin"))
        .select(AdminUserRow::as_select())
        .order(users::id)
        .load(conn)
        .await?)
}

/// The id of the account with this username key, if any.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn id_by_username_key(conn: &mut Conn, key: &[u8]) -> Result<Option<i64>> {
    Ok(users::table
        .filter(users::username_key.eq(key))
        .select(users::id)
        .first(conn)
        .await
        .optional()?)
}

/// Locks the active admins' rows (and only theirs, through
/// `users_active_admins`) until the transaction ends, and returns their
/// ids. Every change that could take an admin away takes this lock first,
/// so two of them run one after the other and the second sees the first.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn lock_active_admins(conn: &mut Conn) -> Result<Vec<i64>> {
    Ok(lock_active_admins_statement().load(conn).await?)
}

/// Locks one account's row until the transaction ends.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn lock(conn: &mut Conn, id: i64) -> Result<Option<AdminUserRow>> {
    Ok(users::table
        .find(id)
        .select(AdminUserRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// Sets an account's role and disabled time, moving its version on.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn update(
    conn: &mut Conn,
    id: i64,
    role: &str,
    disabled_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<()> {
    diesel::update(users::table.find(id))
        .set((
            users::role.eq(role),
            users::disabled_at.eq(disabled_at),
            users::version.eq(users::version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// An audit event to record.
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct NewAuditRow<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub changes: &'a str,
    pub request_id: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = audit_events, check_for_backend(diesel::mysql::Mysql))]
pub struct AuditRow {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub changes: String,
    pub request_id: Option<String>,
    pub created_at: NaiveDateTime,
}

#[tracing::instrument(level = "debug", skip_all)]
pub async fn record(conn: &mut Conn, row: &NewAuditRow<'_>) -> Result<i64> {
    diesel::insert_into(audit_events::table)
        .values(row)
        .execute(conn)
        .await?;
    last_insert_id(conn).await
}

/// The statement of [`events`], for the plan test. The index is named:
/// with a filter on one actor, the optimizer would sooner walk the
/// primary key and filter, which reads the whole trail for a rare one.
pub fn events_statement(
    actor: Option<&str>,
    target: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> BoxedSqlQuery<'static, Mysql, SqlQuery> {
    let index = match (actor, target) {
        (None, None) => "PRIMARY",
        (Some(_), None) => "audit_events_actor",
        (None, Some(_)) => "audit_events_target",
        (Some(_), Some(_)) => "audit_events_actor_target",
    };
    let mut conditions = Vec::new();
    if actor.is_some() {
        conditions.push("actor = ?");
    }
    if target.is_some() {
        conditions.push("target = ?");
    }
    if before.is_some() {
        conditions.push("id < ?");
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT id, actor, action, target, changes, request_id, created_at FROM audit_events \
         FORCE INDEX ({index}){filter} ORDER BY id DESC LIMIT ?"
    );
    let mut query = diesel::sql_query(sql).into_boxed();
    if let Some(actor) = actor {
        query = query.bind::<Text, _>(actor.to_owned());
    }
    if let Some(target) = target {
        query = query.bind::<Text, _>(target.to_owned());
    }
    if let Some(before) = before {
        query = query.bind::<BigInt, _>(before);
    }
    query.bind::<BigInt, _>(limit)
}

/// Up to `limit` events, newest first, before id `before`, by `actor`
/// and about `target` when given.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn events(
    conn: &mut Conn,
    actor: Option<&str>,
    target: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    Ok(events_statement(actor, target, before, limit)
        .load(conn)
        .await?)
}

/// The statement of [`lock_active_admins`], for the plan test.
pub fn lock_active_admins_statement() -> impl for<'q> diesel_async::methods::LoadQuery<'q, Conn, i64>
+ diesel::query_builder::QueryFragment<Mysql>
+ diesel::query_builder::QueryId
+ Send
+ Sync
+ 'static {
    users::table
        .filter(users::role.eq("admin"))
        .filter(users::disabled_at.is_null())
        .select(users::id)
        .order(users::id)
        .for_update()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_in_a_prefix_match_only_themselves() {
        assert_eq!(escaped("a_b%c\\d"), "a\\_b\\%c\\\\d");
        assert_eq!(escaped("Ann"), "Ann");
    }
}
