"""Schemathesis hooks for the catalog API.

Every generated request that needs a bearer token gets one from a fresh
login, so operations that end sessions (logout, logoutEverywhere,
changePassword, refreshTokens) cannot spoil the tokens of later requests.
refreshTokens and logout take the refresh token; the admin operations the
admin's access token (CATALOG_ADMIN_PASSWORD); everything else the fuzz
user's access token.

The admin operations that change an account (editUser,
logoutUserEverywhere) are aimed at a user kept for the purpose whenever
the generated id is a valid one: generated changes may promote, demote,
disable or log out that user, but never the admin or the fuzz user whose
tokens the other operations need.
"""

import os
import uuid

import httpx
import schemathesis

BASE_URL = os.environ["CATALOG_BASE_URL"]
USERNAME = "fuzz_" + uuid.uuid4().hex[:12]
PASSWORD = "contract-" + uuid.uuid4().hex
REFRESH_OPERATIONS = {"refreshTokens", "logout"}
ADMIN_OPERATIONS = {"listUsers", "getUser", "editUser", "logoutUserEverywhere", "listAuditEvents"}
CHANGE_OPERATIONS = {"editUser", "logoutUserEverywhere"}
ADMIN_PASSWORD = os.environ["CATALOG_ADMIN_PASSWORD"]
TARGET = "fuzz_target_" + uuid.uuid4().hex[:8]

_signed_up = False
_target_id = None


def _admin_tokens() -> dict:
    with httpx.Client(base_url=BASE_URL, timeout=30) as client:
        response = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        response.raise_for_status()
        return response.json()


def _target() -> int:
    global _target_id
    if _target_id is None:
        with httpx.Client(base_url=BASE_URL, timeout=30) as client:
            response = client.post(
                "/api/auth/signup",
                json={"username": TARGET, "email": f"{TARGET}@example.com", "password": PASSWORD},
            )
            response.raise_for_status()
            _target_id = response.json()["id"]
    return _target_id


def _tokens() -> dict:
    global _signed_up
    with httpx.Client(base_url=BASE_URL, timeout=30) as client:
        if not _signed_up:
            response = client.post(
                "/api/auth/signup",
                json={"username": USERNAME, "email": f"{USERNAME}@example.com", "password": PASSWORD},
            )
            response.raise_for_status()
            _signed_up = True
        response = client.post("/api/auth/login", json={"username": USERNAME, "password": PASSWORD})
        response.raise_for_status()
        return response.json()


@schemathesis.auth(refresh_interval=None)
class CatalogTokens:
    """A fresh token pair for each test case."""

    def get(self, case, context):
        operation_id = case.operation.definition.raw.get("operationId")
        return _admin_tokens() if operation_id in ADMIN_OPERATIONS else _tokens()

    def set(self, case, data, context):
        operation_id = case.operation.definition.raw.get("operationId")
        kind = "refresh_token" if operation_id in REFRESH_OPERATIONS else "access_token"
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data[kind]}"


# Public product reads may be served by a read replica. A client that
# follows the contract passes the last write's Catalog-Consistency token to
# the reads after it; without it, a read right after a create (as the
# stateful phase makes through the Location link) may rightly miss the
# product for a moment. So reads generated without the header get the
# last token seen; generated (or malformed) ones are left as they are.
_last_consistency_token = None
READ_OPERATIONS = {"getProduct", "listProducts"}


@schemathesis.hook
def after_call(context, case, response):
    global _last_consistency_token
    tokens = response.headers.get("catalog-consistency")
    if tokens and 200 <= response.status_code < 300:
        _last_consistency_token = tokens[0]


@schemathesis.hook
def before_call(context, case, **kwargs):
    operation_id = case.operation.definition.raw.get("operationId")
    if operation_id in CHANGE_OPERATIONS and case.path_parameters:
        id_ = case.path_parameters.get("id")
        if isinstance(id_, int) and not isinstance(id_, bool) and id_ >= 1:
            case.path_parameters["id"] = _target()
    if operation_id not in READ_OPERATIONS or _last_consistency_token is None:
        return
    case.headers = case.headers or {}
    if not any(name.lower() == "catalog-consistency" for name in case.headers):
        case.headers["Catalog-Consistency"] = _last_consistency_token
