"""Who is calling, and may they (CONTRACT.md: roles).

In Azure the identity comes from App Service authentication: the platform
strips any client-sent `X-MS-CLIENT-PRINCIPAL` and sets its own (base64 JSON
with `claims`), so the header is trusted only where that is switched on
(`WEBSITE_AUTH_ENABLED`, or `OMS_TRUST_PRINCIPAL_HEADER`). Everywhere else
callers present an API key from `OMS_API_KEYS` in `X-API-Key`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from common.api.problems import ProblemError
from common.config import Settings
from common.domain.models import Actor, ActorType

PRINCIPAL_HEADER = "X-MS-CLIENT-PRINCIPAL"
API_KEY_HEADER = "X-API-Key"

# Claim types App Service uses for roles and names (Entra ID tokens use the
# short forms, WS-Federation the URIs).
ROLE_CLAIMS = frozenset({"roles", "role", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"})
NAME_CLAIMS = ("preferred_username", "upn", "email", "name",
               "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
               "http://schemas.microsoft.com/identity/claims/objectidentifier", "oid", "sub")


class Role(StrEnum):
    VIEWER = "viewer"
    PLANNER = "planner"
    APPROVER = "approver"
    OPERATOR = "operator"
    INTEGRATION = "integration"
    ADMIN = "admin"


READERS = frozenset({Role.PLANNER.value, Role.APPROVER.value, Role.OPERATOR.value})


@dataclass(frozen=True)
class Identity:
    user: str
    roles: frozenset[str]
    via: str  # "api-key" | "principal"

    def has(self, role: Role) -> bool:
        if Role.ADMIN.value in self.roles or role.value in self.roles:
            return True
        # People who change orders need to read them; an integration only sends.
        return role == Role.VIEWER and bool(self.roles & READERS)

    @property
    def actor(self) -> Actor:
        """Integrations act as external systems; everyone else as a user."""
        only_integration = self.roles == {Role.INTEGRATION.value}
        return Actor(type=ActorType.EXTERNAL if only_integration else ActorType.USER, id=self.user)


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, kind="unauthorized",
                        headers={"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'})


def principal_identity(header: str) -> Identity:
    """The App Service principal: base64 JSON `{"claims": [{"typ", "val"}], "role_typ", "name_typ"}`
    (or the `userId`/`userRoles` shape of Static Web Apps)."""
    try:
        data: Any = json.loads(base64.b64decode(header, validate=False))
    except (binascii.Error, ValueError) as error:
        raise _unauthorized(f"{PRINCIPAL_HEADER} is not base64 JSON") from error
    if not isinstance(data, dict):
        raise _unauthorized(f"{PRINCIPAL_HEADER} is not a JSON object")
    claims = [c for c in data.get("claims") or [] if isinstance(c, dict)]
    role_types = ROLE_CLAIMS | ({data["role_typ"]} if isinstance(data.get("role_typ"), str) else set())
    roles = {str(c.get("val")) for c in claims if c.get("typ") in role_types}
    roles |= {str(r) for r in data.get("userRoles") or [] if isinstance(r, str)}
    name_types = ((data["name_typ"],) if isinstance(data.get("name_typ"), str) else ()) + NAME_CLAIMS
    by_type = {c.get("typ"): c.get("val") for c in claims}
    user = next((str(by_type[t]) for t in name_types if by_type.get(t)), None)
    user = user or data.get("userDetails") or data.get("userId")
    if not user:
        raise _unauthorized(f"{PRINCIPAL_HEADER} names no user")
    return Identity(user=str(user), roles=frozenset(roles), via="principal")


def api_key_identity(key: str, keys: Mapping[str, Mapping[str, Any]]) -> Identity | None:
    found: Identity | None = None
    for candidate, entry in keys.items():
        # Compare every key in constant time so timing tells nothing about near misses.
        if hmac.compare_digest(candidate.encode(), key.encode()) and found is None:
            roles = entry.get("roles") or []
            found = Identity(user=str(entry.get("user") or "api-key"),
                             roles=frozenset(str(r) for r in roles), via="api-key")
    return found


def principal_trusted(settings: Settings) -> bool:
    return settings.trust_principal_header


def identify(headers: Mapping[str, str], settings: Settings) -> Identity:
    """The caller's identity, or a 401 problem."""
    principal = headers.get(PRINCIPAL_HEADER)
    if principal and principal_trusted(settings):
        return principal_identity(principal)
    key = headers.get(API_KEY_HEADER)
    if key:
        identity = api_key_identity(key, settings.api_keys)
        if identity is None:
            raise _unauthorized("the API key is not valid")
        return identity
    raise _unauthorized(f"credentials required: send an API key in {API_KEY_HEADER}")


def authorize(identity: Identity, role: Role) -> Identity:
    if not identity.has(role):
        raise ProblemError(403, f"this needs the {role.value} role; {identity.user} has "
                           f"{', '.join(sorted(identity.roles)) or 'none'}", kind="forbidden",
                           required_role=role.value)
    return identity


# Declared for the OpenAPI document (and Swagger UI's Authorize button); the
# check itself is `identify`, which also reads the App Service principal.
api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey")


class RoleDependency:
    """`Depends(require(Role.X))`: the identity, if it holds role X. The route
    class runs it before the body is read, so nothing about a request is
    looked at (or changed) for a caller without credentials or role."""

    def __init__(self, role: Role, settings: Callable[[Request], Settings]) -> None:
        self.role = role
        self.settings = settings

    # async: it does no I/O, and a sync dependency costs a thread-pool hop per request.
    async def __call__(self, request: Request, _key: str | None = Depends(api_key_scheme)) -> Identity:
        cached = getattr(request.state, "identity", None)
        identity = cached if isinstance(cached, Identity) else identify(request.headers, self.settings(request))
        request.state.identity = identity
        return authorize(identity, self.role)
