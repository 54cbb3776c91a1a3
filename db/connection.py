"""Connecting mongoengine (and the raw pymongo client behind it) to a MongoDB URI."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import mongoengine
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

from db.documents import ensure_indexes

DEFAULT_DATABASE = "matloop"
logger = logging.getLogger(__name__)

_ALIAS = mongoengine.DEFAULT_CONNECTION_NAME


def database_name(uri: str) -> str:
    """The database named in the URI path, or ``matloop``."""
    return urlparse(uri).path.lstrip("/") or DEFAULT_DATABASE


def connect(uri: str, timeout_ms: int = 5000) -> Database:
    """Connect the default mongoengine alias to ``uri`` and create indexes.

    Reconnecting to another URI replaces the previous connection.

    Raises:
        ConnectionError: if no server answers within ``timeout_ms``.

    """
    mongoengine.disconnect(alias=_ALIAS)
    mongoengine.connect(
        db=database_name(uri),
        host=uri,
        alias=_ALIAS,
        serverSelectionTimeoutMS=timeout_ms,
        uuidRepresentation="standard",
        tz_aware=False,
    )
    try:
        client().admin.command("ping")
    except Exception as error:
        mongoengine.disconnect(alias=_ALIAS)
        raise ConnectionError(f"no MongoDB answers at {redact(uri)}: {error}") from None
    ensure_indexes()
    upgrade_documents()
    return database()


def upgrade_documents() -> None:
    """Bring documents stored by earlier versions up to date (idempotent, on connect).

    A connection that may not write (a reader's credentials) leaves them as they are,
    with a warning: the reads then see the older shapes.
    """
    from db.literature import upgrade_literature  # they import this package
    from db.materials import upgrade_materials

    try:
        upgrade_literature()
        upgrade_materials()
    except OperationFailure as error:
        logger.warning("stored documents not upgraded (%s); connect once with write access", error)


def disconnect() -> None:
    """Close the default connection."""
    mongoengine.disconnect(alias=_ALIAS)


def client() -> MongoClient:
    """The pymongo client behind the default alias (for sessions and transactions)."""
    return mongoengine.get_connection(_ALIAS)


def database() -> Database:
    """The pymongo database behind the default alias."""
    return mongoengine.get_db(_ALIAS)


def redact(uri: str) -> str:
    """The URI with any password replaced by ``***`` (for messages and logs)."""
    parsed = urlparse(uri)
    if parsed.password is None:
        return uri
    return uri.replace(f":{parsed.password}@", ":***@", 1)
