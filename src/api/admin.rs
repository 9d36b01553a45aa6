//! The Admin operations: find accounts, change their role or disable
//! them (optionally conditional on `If-Match`), end their sessions, and
//! read the audit trail. Only active admins may call them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::domain::Services;
use crate::domain::accounts::Role;
use crate::domain::admin::{
    AdminReads, AdminUser, Administration, AuditPage, AuditQuery, UserChange, UserPage, UserQuery,
};
use crate::domain::audit::{Actor, AuditEvent};
use crate::domain::catalog::DEFAULT_PAGE_SIZE;

use super::ApiTags;
use super::auth::RoleView;
use super::body::{JsonBody, request_body};
use super::conditional::{ConditionHeader, Preconditions, user_tag};
use super::fields::Nullable;
use super::params::{AuditActor, AuditTarget, Once, PageCursor, PageSize, UserId, UserPrefix};
use super::problem::problems;
use super::security::AccessToken;

/// An account as an admin sees it.
#[derive(Debug, Object)]
#[oai(rename = "AdminUser")]
pub struct AdminUserView {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: RoleView,
    /// A disabled account cannot log in, and its sessions have ended.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    /// How many products the account owns.
    pub products: i64,
}

impl From<AdminUser> for AdminUserView {
    fn from(user: AdminUser) -> Self {
        Self {
            id: user.id,
            username: user.username,
            email: user.email,
            role: user.role.into(),
            disabled: user.disabled,
            created_at: user.created_at,
            products: user.products,
        }
    }
}

/// One page of accounts. A page may hold fewer than `limit` items, even
/// none, while `next_cursor` is present; only a null `next_cursor` means
/// the end.
#[derive(Debug, Object)]
pub struct AdminUserPage {
    pub items: Vec<AdminUserView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Nullable<String>,
}

impl From<UserPage> for AdminUserPage {
    fn from(page: UserPage) -> Self {
        Self {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: Nullable(page.next_cursor),
        }
    }
}

/// One admin action, as recorded in the transaction of its change.
#[derive(Debug, Object)]
#[oai(rename = "AuditEvent")]
pub struct AuditEventView {
    pub id: i64,
    /// Who: `user:<id>` (an admin, through the API) or `cli:<name>` (an
    /// operator at the command line).
    pub actor: String,
    /// What: `user.update`, `user.logout_all`, `user.set_password`,
    /// `product.edit` or `product.delete`.
    pub action: String,
    /// To what: `user:<id>` or `product:<id>`.
    pub target: String,
    /// The changed fields before the action.
    pub before: BTreeMap<String, serde_json::Value>,
    /// The changed fields after it (empty after a delete).
    pub after: BTreeMap<String, serde_json::Value>,
    /// The `X-Request-Id` of the request that made it; null at the
    /// command line.
    #[oai(nullable)]
    pub request_id: Nullable<String>,
    pub created_at: DateTime<Utc>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            actor: event.actor,
            action: event.action,
            target: event.target,
            before: event.before.into_iter().collect(),
            after: event.after.into_iter().collect(),
            request_id: Nullable(event.request_id),
            created_at: event.created_at,
        }
    }
}

/// One page of the audit trail, newest first.
#[derive(Debug, Object)]
pub struct AuditEventPage {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    #[oai(nullable)]
    pub next_cursor: Nullable<String>,
}

impl From<AuditPage> for AuditEventPage {
    fn from(page: AuditPage) -> Self {
        Self {
            items: page.items.into_iter().map(Into::into).collect(),
            next_cursor: Nullable(page.next_cursor),
        }
    }
}

request_body! {
    /// What to change; at least one. A field left out keeps its value.
    /// `role`: `user` demotes an admin, `admin` promotes a user.
    pub struct EditUserRequest min_keys = 1 {
        // Undocumented here: a description beside a `$ref` becomes an
        // `allOf` some client generators cannot read.
        pub role: Option<RoleView> => unless_absent,
        /// `true` disables the account and ends its sessions; `false`
        /// enables it again (its old sessions stay ended).
        pub disabled: Option<bool> => unless_absent,
    }
}

#[derive(Debug, ApiResponse)]
pub enum UserPageResponse {
    /// One page of accounts.
    #[oai(status = 200)]
    Ok(Json<AdminUserPage>),
}

#[derive(Debug, ApiResponse)]
pub enum UserResponse {
    /// The account.
    #[oai(status = 200)]
    Ok(
        Json<AdminUserView>,
        /// The account's version; send it as `If-Match` to change only
        /// this version.
        #[oai(header = "ETag")]
        String,
    ),
}

#[derive(Debug, ApiResponse)]
pub enum SessionsEndedResponse {
    /// Every session of the account has ended.
    #[oai(status = 204)]
    Ended,
}

#[derive(Debug, ApiResponse)]
pub enum AuditPageResponse {
    /// One page of events, newest first.
    #[oai(status = 200)]
    Ok(Json<AuditEventPage>),
}

problems! {
    pub enum AdminListProblem for [AdminReads::LIST_FAILURES] {
        /// A parameter is invalid, or `cursor` was not made for this query; `field` names it.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or revoked.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The caller is not an active admin.
        403 => Forbidden,
    }
}

problems! {
    pub enum AdminGetProblem for [AdminReads::GET_FAILURES] {
        /// `id` is not a user id.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or revoked.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The caller is not an active admin.
        403 => Forbidden,
        /// No account has this id.
        404 => NotFound,
    }
}

problems! {
    pub enum AdminEditProblem for [Administration::UPDATE_FAILURES] {
        /// A field is invalid, none is given, or `If-Match` is malformed; `field` names it.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or revoked.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The caller is not an active admin.
        403 => Forbidden,
        /// No account has this id.
        404 => NotFound,
        /// The change would leave no active admin (`type` ends in `last-admin`): promote or enable another admin first.
        409 => Conflict,
        /// `If-Match` does not name the account's current version (it changed meanwhile).
        412 => PreconditionFailed,
        /// The body is over 64 KiB.
        413 => PayloadTooLarge,
        /// The body is not `application/json`.
        415 => UnsupportedMediaType,
    }
}

problems! {
    pub enum AdminLogoutProblem for [Administration::LOGOUT_ALL_FAILURES] {
        /// `id` is not a user id.
        400 => BadRequest,
        /// The access token is missing, malformed, expired or revoked.
        #[oai(header(name = "WWW-Authenticate", ty = "String", description = "Always `Bearer`."))]
        401 => Unauthorized,
        /// The caller is not an active admin.
        403 => Forbidden,
        /// No account has this id.
        404 => NotFound,
    }
}

fn tagged(user: AdminUser) -> UserResponse {
    let etag = user_tag(user.id, user.version);
    UserResponse::Ok(Json(user.into()), etag)
}

pub struct AdminApi;

#[OpenApi(prefix_path = "/api/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// List users
    ///
    /// Every account, newest first; or, with `q`, those whose username
    /// or email starts with it (ignoring case): username matches first,
    /// in username order, then email matches, in email order.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list_users(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        /// Items per page.
        limit: Query<Once<PageSize>>,
        /// The `next_cursor` of the previous page, with the same `q`.
        cursor: Query<Once<PageCursor>>,
        /// The start of a username or an email, in any case.
        q: Query<Once<UserPrefix>>,
    ) -> Result<UserPageResponse, AdminListProblem> {
        let query = UserQuery {
            prefix: q.0.0.map(|q| q.0),
            limit: limit.0.0.map_or(DEFAULT_PAGE_SIZE, |size| size.0),
            cursor: cursor.0.0.map(|cursor| cursor.0),
        };
        let page = services.admin_reads.users(caller.0, query).await?;
        Ok(UserPageResponse::Ok(Json(page.into())))
    }

    /// Get a user
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn get_user(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        /// The account's id.
        id: Path<UserId>,
    ) -> Result<UserResponse, AdminGetProblem> {
        let user = services.admin_reads.user(caller.0, id.0.0).await?;
        Ok(tagged(user))
    }

    /// Change a user's role or disable them
    ///
    /// Disabling ends every session of the account at once: its access
    /// tokens stop working on their next request and its refresh tokens
    /// are revoked; logging in then answers 403. Enabling lets it log in
    /// again (old sessions stay ended). The last active admin cannot be
    /// demoted or disabled. With `If-Match`, only the version it names is
    /// changed; otherwise 412. Each change is an audit event.
    #[oai(path = "/users/:id", method = "patch", operation_id = "editUser")]
    async fn edit_user(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        /// The account's id.
        id: Path<UserId>,
        /// The strong `ETag` of the version being changed.
        #[oai(name = "If-Match")]
        if_match: Header<ConditionHeader>,
        body: JsonBody<EditUserRequest>,
    ) -> Result<UserResponse, AdminEditProblem> {
        let id = id.0.0;
        let expected = Preconditions::new(if_match.0, ConditionHeader(None)).for_user(id);
        let JsonBody(EditUserRequest { role, disabled }) = body;
        let change = UserChange {
            role: role.map(Role::from),
            disabled,
        };
        let user = services
            .admin
            .update_user(&Actor::User(caller.0), id, &expected, change)
            .await?;
        Ok(tagged(user))
    }

    /// End a user's sessions
    ///
    /// Every access and refresh token of the account stops working; the
    /// account is not disabled. An audit event records it.
    #[oai(
        path = "/users/:id/logout-all",
        method = "post",
        operation_id = "logoutUserEverywhere"
    )]
    async fn logout_user(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        /// The account's id.
        id: Path<UserId>,
    ) -> Result<SessionsEndedResponse, AdminLogoutProblem> {
        services
            .admin
            .logout_all(&Actor::User(caller.0), id.0.0)
            .await?;
        Ok(SessionsEndedResponse::Ended)
    }

    /// Read the audit trail
    ///
    /// Every admin action, newest first: changes to accounts, ended
    /// sessions, passwords set at the command line, and other users'
    /// products edited or deleted by an admin. Events are never changed
    /// or deleted.
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEvents")]
    async fn audit(
        &self,
        services: Data<&Services>,
        caller: AccessToken,
        /// Items per page.
        limit: Query<Once<PageSize>>,
        /// The `next_cursor` of the previous page, with the same filters.
        cursor: Query<Once<PageCursor>>,
        /// Only events by this actor.
        actor: Query<Once<AuditActor>>,
        /// Only events about this target.
        target: Query<Once<AuditTarget>>,
    ) -> Result<AuditPageResponse, AdminListProblem> {
        let query = AuditQuery {
            actor: actor.0.0.map(|actor| actor.0),
            target: target.0.0.map(|target| target.0),
            limit: limit.0.0.map_or(DEFAULT_PAGE_SIZE, |size| size.0),
            cursor: cursor.0.0.map(|cursor| cursor.0),
        };
        let page = services.admin_reads.audit(caller.0, query).await?;
        Ok(AuditPageResponse::Ok(Json(page.into())))
    }
}
