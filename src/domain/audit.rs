//! The audit trail: who did what to whom, one event per admin action,
//! written in the transaction of the change (so a change that fails
//! leaves none), and never changed afterwards.

use std::sync::LazyLock;

use chrono::{DateTime, NaiveDateTime, Utc};
use regex::Regex;
use serde_json::{Map, Value};

use crate::db::{self, Conn, admin::NewAuditRow};
use crate::metric_names as names;
use crate::telemetry::current_request_id;

use super::error::{Error, Result};

/// Who acts: an admin through the API, or an operator at the command
/// line (named by their operating-system user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    User(i64),
    Cli(String),
}

/// What an event's `actor` may be, for the spec and the parser alike:
/// `user:<id>` or `cli:<operating-system user>`.
pub const ACTOR_PATTERN: &str = r"^(user:[1-9][0-9]{0,18}|cli:[A-Za-z0-9._-]{1,64})$";
/// What an event's `target` may be: `user:<id>` or `product:<id>`.
pub const TARGET_PATTERN: &str = r"^(user|product):[1-9][0-9]{0,18}$";

static ACTOR_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(ACTOR_PATTERN).expect("valid"));
static TARGET_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(TARGET_PATTERN).expect("valid"));

/// Whether `text` is an actor as events name them.
pub fn is_actor(text: &str) -> bool {
    ACTOR_RE.is_match(text)
}

/// Whether `text` is a target as events name them.
pub fn is_target(text: &str) -> bool {
    TARGET_RE.is_match(text)
}

impl Actor {
    /// The operator at the command line. A name outside the letters,
    /// digits, `.`, `_` and `-` an actor may hold has those characters
    /// replaced by `_`.
    pub fn cli(os_user: &str) -> Self {
        let name: String = os_user
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        Self::Cli(if name.is_empty() {
            "unknown".into()
        } else {
            name
        })
    }

    /// As events name it.
    pub fn label(&self) -> String {
        match self {
            Self::User(id) => format!("user:{id}"),
            Self::Cli(name) => format!("cli:{name}"),
        }
    }
}

/// The target of an action on an account.
pub fn user_target(id: i64) -> String {
    format!("user:{id}")
}

/// The target of an action on a product.
pub fn product_target(id: i64) -> String {
    format!("product:{id}")
}

/// One recorded action.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// The changed fields before the action, and after it.
    pub before: Map<String, Value>,
    pub after: Map<String, Value>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<db::admin::AuditRow> for AuditEvent {
    type Error = Error;

    fn try_from(row: db::admin::AuditRow) -> Result<Self> {
        let mut changes: Map<String, Value> =
            serde_json::from_str(&row.changes).map_err(Error::internal)?;
        let mut side = |name: &str| match changes.remove(name) {
            Some(Value::Object(fields)) => fields,
            _ => Map::new(),
        };
        let (before, after) = (side("before"), side("after"));
        Ok(Self {
            id: row.id,
            actor: row.actor,
            action: row.action,
            target: row.target,
            before,
            after,
            request_id: row.request_id,
            created_at: row.created_at.and_utc(),
        })
    }
}

/// An action to record: what changed, field by field.
pub struct Action<'a> {
    pub actor: &'a Actor,
    /// One of `names::label::admin_action`.
    pub action: &'static str,
    pub target: String,
    pub before: Map<String, Value>,
    pub after: Map<String, Value>,
}

impl Action<'_> {
    /// Writes the event, in the caller's transaction, with the id of the
    /// request being served (none at the command line).
    pub async fn record(&self, conn: &mut Conn, now: NaiveDateTime) -> Result<()> {
        let changes = serde_json::json!({ "before": self.before, "after": self.after }).to_string();
        let request_id = current_request_id();
        let row = NewAuditRow {
            actor: &self.actor.label(),
            action: self.action,
            target: &self.target,
            changes: &changes,
            request_id: (!request_id.is_empty()).then_some(request_id.as_str()),
            created_at: now,
        };
        db::admin::record(conn, &row).await?;
        Ok(())
    }

    /// Counts and logs the action, once its transaction has committed.
    pub fn announce(&self) {
        metrics::counter!(names::ADMIN_ACTIONS, "action" => self.action).increment(1);
        tracing::info!(
            actor = %self.actor.label(),
            action = self.action,
            target = %self.target,
            request_id = %current_request_id(),
            "admin action"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_are_named_as_the_pattern_says() {
        assert_eq!(Actor::User(12).label(), "user:12");
        assert_eq!(Actor::cli("root").label(), "cli:root");
        assert_eq!(Actor::cli("dom\\jo ann").label(), "cli:dom_jo_ann");
        assert_eq!(Actor::cli("").label(), "cli:unknown");
        for actor in [Actor::User(1), Actor::cli("ops-1.x"), Actor::cli("ü")] {
            assert!(is_actor(&actor.label()), "{actor:?}");
        }
        for bad in ["user:0", "user:01", "cli:", "admin", "user:1 ", "cli:a b"] {
            assert!(!is_actor(bad), "{bad}");
        }
        assert!(is_target("user:3") && is_target("product:9"));
        assert!(!is_target("cli:root") && !is_target("product:-1"));
    }
}
