//! Queries on `users`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::models::{NewUserRow, UserRow};
use super::schema::users;
use super::{Conn, Error, Result, duplicate_key, last_insert_id};

/// Inserts an account and returns its id, or [`Error::Duplicate`] naming
/// the unique key it collided with.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn insert(conn: &mut Conn, row: &NewUserRow<'_>) -> Result<i64> {
    match diesel::insert_into(users::table)
        .values(row)
        .execute(conn)
        .await
    {
        Ok(_) => last_insert_id(conn).await,
        Err(err) => Err(duplicate_key(&err).map_or(Error::Query(err), Error::Duplicate)),
    }
}

#[tracing::instrument(level = "debug", skip(conn))]
pub async fn find(conn: &mut Conn, id: i64) -> Result<Option<UserRow>> {
    Ok(users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The key of a username or an email, naming the unique key to search.
#[derive(Debug, Clone, Copy)]
pub enum LoginKey<'a> {
    Username(&'a [u8]),
    Email(&'a [u8]),
}

/// Finds an account by one of its unique keys: a single-row lookup,
/// whatever the table's size.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn find_by_login_key(conn: &mut Conn, key: LoginKey<'_>) -> Result<Option<UserRow>> {
    let query = users::table.select(UserRow::as_select()).into_boxed();
    let query = match key {
        LoginKey::Username(key) => query.filter(users::username_key.eq(key)),
        LoginKey::Email(key) => query.filter(users::email_key.eq(key)),
    };
    Ok(query.first(conn).await.optional()?)
}

#[tracing::instrument(level = "debug", skip(conn))]
pub async fn set_role(conn: &mut Conn, id: i64, role: &str, now: NaiveDateTime) -> Result<()> {
    diesel::update(users::table.find(id))
        .set((
            users::role.eq(role),
            users::version.eq(users::version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Stores a new password hash and moves the token version on, so tokens
/// issued before stop working.
#[tracing::instrument(level = "debug", skip_all, fields(id))]
pub async fn set_password(
    conn: &mut Conn,
    id: i64,
    password_hash: &str,
    now: NaiveDateTime,
) -> Result<()> {
    diesel::update(users::table.find(id))
        .set((
            users::password_hash.eq(password_hash),
            users::token_version.eq(users::token_version + 1),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves the token version on, so every access token issued so far stops
/// working.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn bump_token_version(conn: &mut Conn, id: i64) -> Result<()> {
    diesel::update(users::table.find(id))
        .set(users::token_version.eq(users::token_version + 1))
        .execute(conn)
        .await?;
    Ok(())
}

/// The user's current token version, if the user exists.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn token_version(conn: &mut Conn, id: i64) -> Result<Option<i32>> {
    Ok(users::table
        .find(id)
        .select(users::token_version)
        .first(conn)
        .await
        .optional()?)
}

/// Adds `delta` to the owner's product count, moving the account's
/// version on (the count is part of what an admin sees). Every create and
/// delete takes the owner's row before any row that refers to it or that
/// other writes share (the search index's counts): two creates by one
/// owner then queue on this lock instead of deadlocking on the shared
/// lock a foreign-key check takes.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn count_products(conn: &mut Conn, owner_id: i64, delta: i64) -> Result<()> {
    diesel::update(users::table.find(owner_id))
        .set((
            users::product_count.eq(users::product_count + delta),
            users::version.eq(users::version + 1),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Locks an account's row until the transaction ends.
#[tracing::instrument(level = "debug", skip(conn))]
pub async fn lock(conn: &mut Conn, id: i64) -> Result<()> {
    users::table
        .find(id)
        .select(users::id)
        .for_update()
        .first::<i64>(conn)
        .await
        .optional()?;
    Ok(())
}
