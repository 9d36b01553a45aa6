//! Administration: finding accounts, changing their role or disabling
//! them, ending their sessions, setting a password from the command line,
//! and reading the audit trail. Every change is one audit event, written
//! in the change's transaction.
//!
//! [`AdminReads`] reads, in signed keyset pages; [`Administration`]
//! changes, with the same rules whoever acts: an admin through the API
//! or an operator at the command line.
//!
//! **The last active admin.** An active admin is one with the admin role
//! who is not disabled. A change that would leave none is refused. Every
//! change to an account first locks the active admins' rows, so two
//! changes that could each take one away run one after the other, and
//! the second sees what the first did.

use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde_json::{Map, Value, json};

use crate::db::{self, Conn, Database, admin::AdminUserRow, admin::Fold};
use crate::metric_names::label::admin_action;

use super::accounts::Role;
use super::audit::{self, Action, Actor, AuditEvent};
use super::catalog::Expected;
use super::clock::Clock;
use super::cursor::{Cursors, Position};
use super::error::{Error, Failures, Kind, Result};
use super::passwords::Passwords;
use super::sessions;
use super::values::{NewPassword, login_key};

/// The longest `q` a user search takes: an email's length.
pub const MAX_PREFIX_CHARS: usize = super::values::Email::MAX;

/// An account as an admin sees it.
#[derive(Debug, Clone)]
pub struct AdminUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// How many products the account owns.
    pub products: i64,
    /// Moves on whenever any of the above changes; the ETag names it.
    pub version: i32,
}

impl From<AdminUserRow> for AdminUser {
    fn from(row: AdminUserRow) -> Self {
        Self {
            id: row.id,
            username: row.username,
            email: row.email,
            role: Role::from_db(&row.role),
            disabled: row.disabled_at.is_some(),
            created_at: row.created_at.and_utc(),
            products: row.product_count,
            version: row.version,
        }
    }
}

/// A page of accounts. It may hold fewer than asked for, even none,
/// while `next_cursor` is present (see [`AdminReads::users`]).
#[derive(Debug, Clone)]
pub struct UserPage {
    pub items: Vec<AdminUser>,
    pub next_cursor: Option<String>,
}

/// A page of the audit trail, newest first.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// Which accounts to list.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// A prefix of the username or the email, in any case.
    pub prefix: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Only events by this actor (`user:<id>` or `cli:<name>`).
    pub actor: Option<String>,
    /// Only events about this target (`user:<id>` or `product:<id>`).
    pub target: Option<String>,
    pub limit: u32,
    pub cursor: Option<String>,
}

/// What an admin changes about an account; `None` keeps it.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

fn bad_cursor() -> Error {
    Error::Invalid {
        field: "cursor",
        reason: "was not made by this service for this query; start again without it".into(),
    }
}

/// Refuses anyone but an active admin.
async fn require_admin(conn: &mut Conn, caller: i64) -> Result<()> {
    let row = db::users::find(conn, caller).await?;
    match row {
        Some(row) if Role::from_db(&row.role) == Role::Admin && row.disabled_at.is_none() => Ok(()),
        _ => Err(Error::NotAdmin),
    }
}

/// Reads for admins.
#[derive(Clone)]
pub struct AdminReads {
    db: Database,
    cursors: Cursors,
}

impl AdminReads {
    pub const LIST_FAILURES: Failures = &[Kind::Invalid, Kind::NotAdmin];
    pub const GET_FAILURES: Failures = &[Kind::NotFound, Kind::NotAdmin];

    pub fn new(db: Database, cursors: Cursors) -> Self {
        Self { db, cursors }
    }

    /// A page of accounts. Without a prefix: newest first. With one:
    /// those whose username starts with it, in username order, then
    /// those whose email does (and username does not), in email order;
    /// case is ignored. Each page reads at most one more entry of an
    /// index than it can return, so a page of the email part may hold
    /// fewer accounts than asked for, or none, before its end.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn users(&self, caller: i64, query: UserQuery) -> Result<UserPage> {
        let tag = format!("admin-users|q={}", query.prefix.as_deref().unwrap_or(""));
        let position = query
            .cursor
            .as_deref()
            .map(|cursor| self.cursors.decode(cursor, &tag).ok_or_else(bad_cursor))
            .transpose()?;
        let limit = i64::from(query.limit);
        let (rows, next) = self
            .db
            .run(async |conn| {
                require_admin(conn, caller).await?;
                match &query.prefix {
                    None => all_page(conn, position, limit).await,
                    Some(prefix) => prefix_page(conn, prefix, position, limit).await,
                }
            })
            .await?;
        Ok(UserPage {
            items: rows.into_iter().map(AdminUser::from).collect(),
            next_cursor: next.map(|position| self.cursors.encode(&position, &tag)),
        })
    }

    /// One account.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn user(&self, caller: i64, id: i64) -> Result<AdminUser> {
        self.db
            .run(async |conn| {
                require_admin(conn, caller).await?;
                db::admin::find(conn, id).await?.ok_or(Error::NotFound)
            })
            .await
            .map(AdminUser::from)
    }

    /// A page of the audit trail, newest first.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn audit(&self, caller: i64, query: AuditQuery) -> Result<AuditPage> {
        let (actor, target) = (query.actor.as_deref(), query.target.as_deref());
        let tag = format!(
            "audit|actor={}|target={}",
            actor.unwrap_or(""),
            target.unwrap_or("")
        );
        let before = match query.cursor.as_deref() {
            None => None,
            Some(cursor) => match self.cursors.decode(cursor, &tag) {
                Some(Position::Id(id)) => Some(id),
                _ => return Err(bad_cursor()),
            },
        };
        let limit = i64::from(query.limit);
        let mut rows = self
            .db
            .run(async |conn| {
                require_admin(conn, caller).await?;
                Ok::<_, Error>(db::admin::events(conn, actor, target, before, limit + 1).await?)
            })
            .await?;
        let next_cursor = (rows.len() as i64 > limit).then(|| {
            rows.truncate(query.limit as usize);
            let last = rows.last().map_or(0, |row| row.id);
            self.cursors.encode(&Position::Id(last), &tag)
        });
        Ok(AuditPage {
            items: rows
                .into_iter()
                .map(AuditEvent::try_from)
                .collect::<Result<_>>()?,
            next_cursor,
        })
    }
}

/// A page of every account, newest first.
async fn all_page(
    conn: &mut Conn,
    position: Option<Position>,
    limit: i64,
) -> Result<(Vec<AdminUserRow>, Option<Position>)> {
    let before = match position {
        None => None,
        Some(Position::Id(id)) => Some(id),
        Some(_) => return Err(bad_cursor()),
    };
    let mut rows = db::admin::page_all(conn, before, limit + 1).await?;
    let next = (rows.len() as i64 > limit).then(|| {
        rows.truncate(limit as usize);
        Position::Id(rows.last().map_or(0, |row| row.id))
    });
    Ok((rows, next))
}

/// A page of the accounts matching a prefix: the username part (step 1),
/// then the email part (step 2), which passes over accounts the first
/// part listed.
async fn prefix_page(
    conn: &mut Conn,
    prefix: &str,
    position: Option<Position>,
    limit: i64,
) -> Result<(Vec<AdminUserRow>, Option<Position>)> {
    let (step, after) = match position {
        None => (1, None),
        Some(Position::Step(step @ (1 | 2), text, id)) => (step, Some((text, id))),
        Some(_) => return Err(bad_cursor()),
    };
    let mut rows = Vec::new();
    let mut after = after;
    if step == 1 {
        let after_key = after.as_ref().map(|(text, id)| (text.as_str(), *id));
        rows = db::admin::page_matching(conn, Fold::Username, prefix, after_key, limit + 1).await?;
        if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            let last = rows.last().expect("a full page has a last row");
            let next = Position::Step(1, last.username_fold.clone(), last.id);
            return Ok((rows, Some(next)));
        }
        after = None;
    }
    let room = limit - rows.len() as i64;
    if room == 0 {
        // The email part starts on the next page.
        return Ok((rows, Some(Position::Step(2, String::new(), 0))));
    }
    let after_key = after.as_ref().map(|(text, id)| (text.as_str(), *id));
    let mut emails =
        db::admin::page_matching(conn, Fold::Email, prefix, after_key, room + 1).await?;
    let next = (emails.len() as i64 > room).then(|| {
        emails.truncate(room as usize);
        let last = emails.last().expect("room is at least one");
        Position::Step(2, last.email_fold.clone(), last.id)
    });
    // Folded by the same LOWER() as the username part's match, so the
    // accounts passed over are exactly those it listed.
    let folded = db::admin::fold(conn, prefix).await?;
    rows.extend(
        emails
            .into_iter()
            .filter(|row| !row.username_fold.starts_with(&folded)),
    );
    Ok((rows, next))
}

/// Changes to accounts, by an admin or an operator.
#[derive(Clone)]
pub struct Administration {
    db: Database,
    passwords: Passwords,
    clock: Clock,
}

/// The fields of a change that moved, before and after.
type Diff = (Map<String, Value>, Map<String, Value>);

impl Administration {
    pub const UPDATE_FAILURES: Failures = &[
        Kind::Invalid,
        Kind::NotAdmin,
        Kind::NotFound,
        Kind::PreconditionFailed,
        Kind::LastAdmin,
    ];
    pub const LOGOUT_ALL_FAILURES: Failures = &[Kind::NotAdmin, Kind::NotFound];

    pub fn new(db: Database, passwords: Passwords, clock: Clock) -> Self {
        Self {
            db,
            passwords,
            clock,
        }
    }

    /// Changes an account's role or disabled state, at a version
    /// `expected` allows. Disabling ends every session of the account;
    /// enabling does not bring them back. A change that would leave no
    /// active admin is [`Error::LastAdmin`]. A change to what the account
    /// already is changes nothing and records nothing.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: i64,
        expected: &Expected,
        change: UserChange,
    ) -> Result<AdminUser> {
        if change.role.is_none() && change.disabled.is_none() {
            return Err(Error::Invalid {
                field: "body",
                reason: "must change at least one of `role` and `disabled`".into(),
            });
        }
        let now = self.clock.now();
        let (row, diff) = self
            .db
            .run(async |conn| {
                if let Actor::User(caller) = actor {
                    // Checked before any lock, so callers who may not
                    // change anything never wait for the admins' rows.
                    require_admin(conn, *caller).await?;
                }
                conn.transaction::<_, Error, _>(async |conn| {
                    let admins = db::admin::lock_active_admins(conn).await?;
                    if let Actor::User(caller) = actor
                        && !admins.contains(caller)
                    {
                        return Err(Error::NotAdmin);
                    }
                    let row = db::admin::lock(conn, id).await?.ok_or(Error::NotFound)?;
                    expected.check(row.version)?;
                    let role_was = Role::from_db(&row.role);
                    let disabled_was = row.disabled_at.is_some();
                    let role = change.role.unwrap_or(role_was);
                    let disabled = change.disabled.unwrap_or(disabled_was);
                    if role == role_was && disabled == disabled_was {
                        return Ok((row, None));
                    }
                    let stays_active_admin = role == Role::Admin && !disabled;
                    if admins == [id] && !stays_active_admin {
                        return Err(Error::LastAdmin);
                    }
                    let disabled_at = disabled.then(|| row.disabled_at.unwrap_or(now));
                    db::admin::update(conn, id, role.as_str(), disabled_at, now).await?;
                    if disabled && !disabled_was {
                        sessions::end_all(conn, id, now).await?;
                    }
                    let (mut before, mut after) = (Map::new(), Map::new());
                    if role != role_was {
                        before.insert("role".into(), json!(role_was.as_str()));
                        after.insert("role".into(), json!(role.as_str()));
                    }
                    if disabled != disabled_was {
                        before.insert("disabled".into(), json!(disabled_was));
                        after.insert("disabled".into(), json!(disabled));
                    }
                    let diff = (before, after);
                    action(actor, admin_action::USER_UPDATE, id, &diff)
                        .record(conn, now)
                        .await?;
                    let row = db::admin::find(conn, id)
                        .await?
                        .ok_or_else(|| Error::internal("a locked account vanished"))?;
                    Ok((row, Some(diff)))
                })
                .await
            })
            .await?;
        if let Some(diff) = &diff {
            action(actor, admin_action::USER_UPDATE, id, diff).announce();
        }
        Ok(row.into())
    }

    /// Ends every session of an account without disabling it.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn logout_all(&self, actor: &Actor, id: i64) -> Result<()> {
        let now = self.clock.now();
        let diff = self
            .db
            .run(async |conn| {
                if let Actor::User(caller) = actor {
                    require_admin(conn, *caller).await?;
                }
                conn.transaction::<_, Error, _>(async |conn| {
                    db::admin::lock(conn, id).await?.ok_or(Error::NotFound)?;
                    let version = db::users::token_version(conn, id)
                        .await?
                        .ok_or(Error::NotFound)?;
                    sessions::end_all(conn, id, now).await?;
                    let diff = (
                        field("token_version", json!(version)),
                        field("token_version", json!(version + 1)),
                    );
                    action(actor, admin_action::USER_LOGOUT_ALL, id, &diff)
                        .record(conn, now)
                        .await?;
                    Ok(diff)
                })
                .await
            })
            .await?;
        action(actor, admin_action::USER_LOGOUT_ALL, id, &diff).announce();
        Ok(())
    }

    /// Sets the password of the account named `username` (at the command
    /// line, for the locked-out case) and ends its sessions, as a
    /// password change does.
    #[tracing::instrument(level = "debug", skip(self, password))]
    pub async fn set_password(
        &self,
        actor: &Actor,
        username: &str,
        password: NewPassword,
    ) -> Result<()> {
        let id = self.id_of(username).await?;
        let hash = self.passwords.hash(password.into_secret()).await?;
        let now = self.clock.now();
        let diff = self
            .db
            .run(async |conn| {
                conn.transaction::<_, Error, _>(async |conn| {
                    db::admin::lock(conn, id).await?.ok_or(Error::NotFound)?;
                    let version = db::users::token_version(conn, id)
                        .await?
                        .ok_or(Error::NotFound)?;
                    db::users::set_password(conn, id, &hash, now).await?;
                    db::refresh_tokens::revoke_user(conn, id, now).await?;
                    // The hash itself is never recorded.
                    let mut after = field("token_version", json!(version + 1));
                    after.insert("password".into(), json!("changed"));
                    let diff = (field("token_version", json!(version)), after);
                    action(actor, admin_action::USER_SET_PASSWORD, id, &diff)
                        .record(conn, now)
                        .await?;
                    Ok(diff)
                })
                .await
            })
            .await?;
        action(actor, admin_action::USER_SET_PASSWORD, id, &diff).announce();
        Ok(())
    }

    /// The id of the account named `username` (in any case).
    pub async fn id_of(&self, username: &str) -> Result<i64> {
        let key = login_key(username);
        self.db
            .run(async |conn| db::admin::id_by_username_key(conn, &key).await)
            .await?
            .ok_or(Error::NotFound)
    }

    /// Every account with the admin role, active or not, oldest first.
    pub async fn admins(&self) -> Result<Vec<AdminUser>> {
        let rows = self
            .db
            .run(async |conn| db::admin::admins(conn).await)
            .await?;
        Ok(rows.into_iter().map(AdminUser::from).collect())
    }
}

fn field(name: &str, value: Value) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert(name.to_owned(), value);
    map
}

fn action<'a>(actor: &'a Actor, action: &'static str, id: i64, diff: &Diff) -> Action<'a> {
    Action {
        actor,
        action,
        target: audit::user_target(id),
        before: diff.0.clone(),
        after: diff.1.clone(),
    }
}
