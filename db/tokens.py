"""API tokens: random secrets shown once, stored only as SHA-256 hashes, with scopes.

Scopes: ``read`` (researchers, dashboards), ``write`` (instruments: claim trials and
report results, limited to the token's campaigns), ``admin`` (everything, all campaigns).
A token limited to campaigns (an instrument's) reads those campaigns alone: a lab PC's
token opens neither other groups' campaigns nor the literature, materials and models.

An instrument token may be bound to one instrument: it then acts only as that instrument
(claims, heartbeats, results, give-ups), so a result it sends is checked against the
trial's lease even when it does not name its source. The binding also reserves the name:
while the token is unrevoked, no other non-admin token acts as that instrument.

A dashboard sign-in is a session of its own (:class:`SessionDocument`): its random secret,
stored hashed like a token's, reads for the token it signed in with until it ends.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mongoengine import (
    BooleanField,
    DateTimeField,
    Document,
    ListField,
    NotUniqueError,
    StringField,
)
from pymongo.database import Database

from db.documents import NAME_REGEX, SOURCE_REGEX, check_name, utcnow

SCOPES = ("read", "write", "admin")
ROLES: dict[str, tuple[str, ...]] = {
    "researcher": ("read",),
    "instrument": ("read", "write"),
    "admin": ("read", "write", "admin"),
}
PREFIX = "mlp_"
#: How a dashboard session's secret starts: never a token's (:data:`PREFIX`).
SESSION_PREFIX = "mls_"
#: The source a result that names none is stored as (``agents.campaign.UNNAMED``): no
#: token may be bound to it, as results under it pass any trial's lease check.
UNNAMED_SOURCE = "api"


class TokenDocument(Document):
    """A token's hash, scopes and campaigns; the secret itself is never stored."""

    name = StringField(required=True, unique=True, regex=NAME_REGEX)
    token_hash = StringField(required=True, unique=True, regex=r"^[0-9a-f]{64}$")
    scopes = ListField(StringField(choices=SCOPES), required=True)
    campaigns = ListField(StringField())
    instrument = StringField(regex=SOURCE_REGEX)
    revoked = BooleanField(default=False)
    created_at = DateTimeField(default=utcnow)

    # the instrument index: each write naming an instrument asks who is bound to it
    meta: dict[str, Any] = {"collection": "tokens", "indexes": ["instrument"]}  # noqa: RUF012


class SessionDocument(Document):
    """A dashboard sign-in: its random secret's hash, the token it signed in with, its end.

    The browser's cookie holds the session's secret, never the token: a cookie that leaks
    (a shared machine, a page served over plain HTTP) reads the dashboard until it
    expires or its owner signs out, and writes nothing, as the API takes no session for a
    bearer token.
    """

    session_hash = StringField(required=True, unique=True, regex=r"^[0-9a-f]{64}$")
    token = StringField(required=True)  # the token's name: revoked, its sessions end
    expires_at = DateTimeField(required=True)
    created_at = DateTimeField(default=utcnow)

    meta: dict[str, Any] = {  # noqa: RUF012
        "collection": "sessions",
        "indexes": ["token", "expires_at"],  # a token's sessions; those ended, at sign-in
    }


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name, scopes and campaigns it may write to.

    ``instrument`` is the one instrument the token acts for (None: any it names).
    """

    name: str
    scopes: frozenset[str]
    campaigns: frozenset[str]
    created_at: datetime | None = None
    instrument: str | None = None

    def can_read(self) -> bool:
        """Read access to something: the campaigns it may read (:meth:`reads`)."""
        return "read" in self.scopes or "admin" in self.scopes

    def reads(self, campaign: str | None) -> bool:
        """Read ``campaign`` (its trials, measurements, lineage; None: what is no campaign's).

        Admin tokens and tokens limited to no campaign (researchers') read everything; a
        token limited to campaigns (an instrument's) reads those campaigns alone.
        """
        if not self.can_read():
            return False
        if self.is_admin() or not self.campaigns:
            return True
        return campaign is not None and campaign in self.campaigns

    def can_write(self, campaign: str) -> bool:
        """Claim trials and report results for ``campaign``."""
        return "admin" in self.scopes or ("write" in self.scopes and campaign in self.campaigns)

    def is_admin(self) -> bool:
        """Manage campaigns, materials and tokens."""
        return "admin" in self.scopes

    def acting_as(self, named: str | None, field: str = "instrument") -> str | None:
        """The instrument a request acts for: the bound one, else the one it names.

        The token alone decides; :func:`acting_for` also refuses an instrument that another
        token is bound to.

        Raises:
            PermissionError: a bound token names another instrument (in ``field``).
        """
        if self.instrument is None or named in (None, self.instrument):
            return self.instrument or named
        raise PermissionError(
            f"{field}: token {self.name!r} acts only for instrument {self.instrument!r}, "
            f"not {named!r}"
        )


def acting_for(principal: Principal, named: Mapping[str, str | None]) -> dict[str, str | None]:
    """The instruments a request acts for, each as :meth:`Principal.acting_as` says.

    A token bound to an instrument reserves its name: a non-admin token bound to none may
    not act as it. Admin tokens act for any instrument (an operator giving a trial up).
    At most one (indexed) query, whatever the number of fields.

    Args:
        principal: The caller.
        named: Each field of the request that names an instrument (``source``,
            ``results[2].source``), with the instrument it names (None: none).

    Returns:
        Each field's instrument: the token's, else the one named (None: neither).

    Raises:
        PermissionError: a bound token names another instrument, or an unbound one names an
            instrument that another token is bound to (naming the field).
    """
    acting = {field: principal.acting_as(name, field) for field, name in named.items()}
    if principal.instrument is not None or principal.is_admin():
        return acting
    bound = bound_to({name for name in acting.values() if name is not None})
    for field, name in acting.items():
        if name is not None and (taken := bound.get(name.casefold())) is not None:
            instrument, token = taken
            raise PermissionError(
                f"{field}: instrument {instrument!r} is bound to token {token!r}; "
                "only that token (or an admin token) acts for it"
                + (f" (nor as {name!r}, its name in other case)" if name != instrument else "")
            )
    return acting


def bound_to(instruments: Iterable[str]) -> dict[str, tuple[str, str]]:
    """The unrevoked token each of ``instruments`` is bound to, if any (the first by name).

    Names that differ only in case are one (``XRD-2`` is ``xrd-2``): a binding reserves the
    name in any case, so that no other token's results read as the bound instrument's.

    Returns:
        For each bound instrument, by its name casefolded: its name as bound and the
        token's name.
    """
    wanted = {name.casefold() for name in instruments}
    if not wanted:
        return {}
    # every bound token, matched here: a lab binds tens, and one regex of a hundred names
    # would pass the database's length limit for a pattern
    found = TokenDocument.objects(instrument__ne=None, revoked=False).only("name", "instrument")
    bound: dict[str, tuple[str, str]] = {}
    for document in found.order_by("name"):
        key = document.instrument.casefold()
        if key in wanted:
            bound.setdefault(key, (document.instrument, document.name))
    return bound


def hash_token(secret: str) -> str:
    """SHA-256 of a token (tokens are 256-bit random, so no salt or slow hash is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    name: str, role: str, campaigns: list[str] | None = None, instrument: str | None = None
) -> tuple[str, Principal]:
    """Create a token for a role; returns the secret (shown once) and its principal.

    Args:
        name: The token's name (an identifier).
        role: ``researcher``, ``instrument`` or ``admin`` (:data:`ROLES`).
        campaigns: Campaigns an instrument token may write to (other roles read, or
            administer, every campaign).
        instrument: Binds an instrument token to this one instrument.

    Raises:
        ValueError: a name that is not a plain identifier, an unknown role, campaigns or an
            instrument for a token of another role than instrument, an instrument token
            without campaigns, or a taken name.
    """
    check_name(name)
    if role not in ROLES:
        raise ValueError(f"role: unknown {role!r}; choose from {sorted(ROLES)}")
    if campaigns and role != "instrument":
        raise ValueError(
            "campaigns: they limit the campaigns an instrument token writes to; role "
            f"{role!r} has {', '.join(ROLES[role])} access to every campaign and is not "
            "limited by them"
        )
    for campaign in campaigns or ():
        if not re.fullmatch(NAME_REGEX, campaign):
            raise ValueError(f"campaigns: {campaign!r} is not a campaign name")
    if role == "instrument" and not campaigns:
        raise ValueError("campaigns: an instrument token needs at least one campaign")
    if instrument is not None and role != "instrument":
        raise ValueError(f"instrument: only an instrument token is bound to one, not {role!r}")
    if instrument is not None and not re.fullmatch(SOURCE_REGEX, instrument):
        raise ValueError(f"instrument: {instrument!r} is not an instrument id")
    if instrument == UNNAMED_SOURCE:  # unnamed results are taken as any leaseholder's
        raise ValueError(
            f"instrument: {instrument!r} is what a result that names no source is stored as; "
            "bind the token to the instrument's own id"
        )
    secret = PREFIX + secrets.token_urlsafe(32)
    document = TokenDocument(
        name=name,
        token_hash=hash_token(secret),
        scopes=list(ROLES[role]),
        campaigns=list(campaigns or []),
        instrument=instrument,
    )
    try:
        document.save()
    except NotUniqueError:
        # a revoked token keeps its name: results it recorded (recorded_by) stay its own
        revoked = TokenDocument.objects(name=name, revoked=True).count() > 0
        why = " (revoked: a name is never given to another token)" if revoked else ""
        raise ValueError(f"name: a token named {name!r} already exists{why}") from None
    return secret, _principal(document)


def authenticate(secret: str) -> Principal | None:
    """The principal of a valid, unrevoked token, else None."""
    if not secret.startswith(PREFIX):
        return None
    digest = hash_token(secret)
    document = TokenDocument.objects(token_hash=digest, revoked=False).first()
    if document is None or not hmac.compare_digest(document.token_hash, digest):
        return None
    return _principal(document)


def start_session(principal: Principal, seconds: float) -> str:
    """Sign ``principal`` in to the dashboard for ``seconds``: the session's secret, once.

    Sessions that have ended are deleted here, so that signing in keeps the collection
    small.
    """
    now = utcnow()
    SessionDocument.objects(expires_at__lte=now).delete()
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    SessionDocument(
        session_hash=hash_token(secret),
        token=principal.name,
        expires_at=now + timedelta(seconds=seconds),
    ).save()
    return secret


def session_principal(secret: str) -> Principal | None:
    """The principal of a live session (its token unrevoked, its time not up), else None."""
    if not secret.startswith(SESSION_PREFIX):
        return None
    digest = hash_token(secret)
    session = SessionDocument.objects(session_hash=digest).first()
    if session is None or not hmac.compare_digest(session.session_hash, digest):
        return None
    if session.expires_at <= utcnow():
        return None
    token = TokenDocument.objects(name=session.token, revoked=False).first()
    return None if token is None else _principal(token)


def end_session(secret: str) -> None:
    """Sign a session out (none there: nothing happens)."""
    if secret.startswith(SESSION_PREFIX):
        SessionDocument.objects(session_hash=hash_token(secret)).delete()


def revoke_token(name: str) -> None:
    """Revoke a token by name, and end its sessions (raises LookupError if there is none)."""
    if not TokenDocument.objects(name=name).update(set__revoked=True):
        raise LookupError(f"no token named {name!r}")
    SessionDocument.objects(token=name).delete()


def list_tokens() -> list[Principal]:
    """All unrevoked tokens (names, scopes, campaigns; never secrets)."""
    return [_principal(d) for d in TokenDocument.objects(revoked=False).order_by("created_at")]


def _principal(document: TokenDocument) -> Principal:
    return Principal(
        document.name,
        frozenset(document.scopes),
        frozenset(document.campaigns),
        document.created_at,
        document.instrument,
    )


def token_states(database: Database) -> dict[str, bool]:
    """Token name -> revoked, as stored in ``database``.

    Read without mongoengine, so that a restore can compare the tokens before and after.
    """
    collection = database[TokenDocument._get_collection_name()]
    return {
        d["name"]: bool(d.get("revoked"))
        for d in collection.find({}, {"name": 1, "revoked": 1})
        if "name" in d
    }
