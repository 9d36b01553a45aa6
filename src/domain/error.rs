//! The one error type of the business layer. It names what went wrong in
//! domain terms; `api::problem` alone decides which HTTP status each means.

use crate::db;

use super::tokens::TokenError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that breaks a rule; `field` is the request field at fault.
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// A value that must be unique is in use; `field` is the request
    /// field that holds it.
    #[error("that {field} is already taken")]
    Taken { field: &'static str },
    /// Unknown user or wrong password; deliberately indistinguishable.
    #[error("invalid username or password")]
    BadCredentials,
    #[error("{0}")]
    Unauthenticated(#[from] TokenError),
    /// Too many failed logins for this account; try again later.
    #[error("too many failed attempts; try again in {retry_after_secs} seconds")]
    Throttled { retry_after_secs: u64 },
    /// The current password given to a password change is wrong.
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("not found")]
    NotFound,
    #[error("only the owner or an admin may do that")]
    Forbidden,
    /// A conditional write (`If-Match`) found another version.
    #[error("the product has changed since that version; fetch it again and retry")]
    PreconditionFailed,
    /// An idempotency key came back with a different request.
    #[error("this Idempotency-Key was used with a different request; use a new key")]
    IdempotencyKeyReused,
    /// The database does not answer or has no capacity to spare. The
    /// cause, when there is one, is logged, never shown.
    #[error("the database does not answer or is busy; try again shortly")]
    Unavailable(#[source] Option<Box<dyn std::error::Error + Send + Sync>>),
    /// Anything the caller cannot fix. The source is logged, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(err.into())
    }
}

impl From<db::Error> for Error {
    fn from(err: db::Error) -> Self {
        match err {
            db::Error::Duplicate(key) => Self::Taken {
                field: match key {
                    db::UniqueKey::Username => "username",
                    db::UniqueKey::Email => "email",
                },
            },
            db::Error::Unavailable(source) => Self::Unavailable(Some(source)),
            err @ db::Error::TimeLimit(_) => Self::Unavailable(Some(err.into())),
            other => Self::internal(other),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(err: diesel::result::Error) -> Self {
        db::Error::Query(err).into()
    }
}
