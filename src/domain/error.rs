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
    /// The caller is not an active admin.
    #[error("only an admin may do that")]
    NotAdmin,
    /// The password verified, but an admin has disabled the account.
    #[error("this account is disabled; ask an admin")]
    AccountDisabled,
    /// The change would leave no active admin.
    #[error("this is the last active admin: promote or enable another admin first")]
    LastAdmin,
    /// A conditional request found the product at a version it did not
    /// expect.
    #[error("{0}")]
    PreconditionFailed(VersionCondition),
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

/// The condition on a product's version that a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionCondition {
    /// It had to be at one of the versions named.
    OneOf,
    /// It must not have been at any of the versions named.
    NoneOf,
}

impl std::fmt::Display for VersionCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::OneOf => "it has changed since that version; fetch it again and retry",
            Self::NoneOf => "it is at a version the request excludes",
        })
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The variants of [`Error`], without their details: what an operation
/// declares it may fail with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Invalid,
    Taken,
    BadCredentials,
    Unauthenticated,
    Throttled,
    WrongPassword,
    NotFound,
    Forbidden,
    NotAdmin,
    AccountDisabled,
    LastAdmin,
    PreconditionFailed,
    IdempotencyKeyReused,
    Unavailable,
    Internal,
}

/// What an operation may fail with besides [`Kind::Unavailable`] and
/// [`Kind::Internal`], which every operation that reaches the database
/// may. The API checks at compile time that each operation documents a
/// status for every kind its calls declare (`api::problem::problems!`),
/// and in debug builds that no call fails with a kind it did not
/// declare.
pub type Failures = &'static [Kind];

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Self::Invalid { .. } => Kind::Invalid,
            Self::Taken { .. } => Kind::Taken,
            Self::BadCredentials => Kind::BadCredentials,
            Self::Unauthenticated(_) => Kind::Unauthenticated,
            Self::Throttled { .. } => Kind::Throttled,
            Self::WrongPassword => Kind::WrongPassword,
            Self::NotFound => Kind::NotFound,
            Self::Forbidden => Kind::Forbidden,
            Self::NotAdmin => Kind::NotAdmin,
            Self::AccountDisabled => Kind::AccountDisabled,
            Self::LastAdmin => Kind::LastAdmin,
            Self::PreconditionFailed(_) => Kind::PreconditionFailed,
            Self::IdempotencyKeyReused => Kind::IdempotencyKeyReused,
            Self::Unavailable(_) => Kind::Unavailable,
            Self::Internal(_) => Kind::Internal,
        }
    }

    /// Whether an operation that declared `failures` may fail like this.
    pub fn declared_in(&self, failures: Failures) -> bool {
        let kind = self.kind();
        matches!(kind, Kind::Unavailable | Kind::Internal) || failures.contains(&kind)
    }

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
