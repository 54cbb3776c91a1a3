"""Connecting mongoengine (and the raw pymongo client behind it) to a MongoDB URI.

Schema version: the ``meta`` collection holds one document, ``{_id: "schema", version:
N}``, the number of the last upgrade step the stored documents have been through.
:func:`connect` reads it and runs only the steps of :data:`UPGRADE_STEPS` numbered
above it, raising the version after each (a crash resumes at the step it stopped in).

- A fresh database (no version, no documents) is stamped with :data:`SCHEMA_VERSION`
  and runs no step; one stored before versions existed (documents, no version) runs
  every step, once.
- The version is only ever raised (``$max``): processes that connect at once may both
  run a step, which is why every step is idempotent, and neither lowers the other's.
- A database at a newer version than this code's was upgraded by a newer matloop: it is
  used as it is, with a warning, and nothing is upgraded or written (an error would stop
  older processes still running during a rolling upgrade).
- A connection that may not write (a reader's credentials) leaves documents and version
  as they are, with a warning.

Adding upgrade step N + 1:
    1. Write the upgrade as a function in the module that owns the documents. It must be
       idempotent and safe beside a concurrent run of itself: filter each update on the
       old shape, as :func:`db.materials.upgrade_materials` does.
    2. Append ``UpgradeStep(N + 1, "what it changes", "db.module:function")`` to
       :data:`UPGRADE_STEPS`. Never renumber, reorder or remove a released step.
    3. Test it: store the old shape, set the stored version to N (see
       ``tests/db/test_schema_version.py``), connect, and read the new shape.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse, urlsplit

import mongoengine
from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from db.documents import ensure_indexes

DEFAULT_DATABASE = "matloop"
#: Where the schema version is stored: collection and document id.
SCHEMA_COLLECTION = "meta"
SCHEMA_ID = "schema"
logger = logging.getLogger(__name__)

_ALIAS = mongoengine.DEFAULT_CONNECTION_NAME


@dataclass(frozen=True)
class UpgradeStep:
    """One numbered upgrade of stored documents.

    Attributes:
        version: The schema version the step brings the documents to (1, 2, ...).
        name: What it changes, for logs.
        target: ``"module:function"`` of the idempotent upgrade, imported when it runs
            (the repositories import this module).
    """

    version: int
    name: str
    target: str

    def run(self) -> None:
        """Import the upgrade function and call it."""
        module, function = self.target.split(":")
        getattr(importlib.import_module(module), function)()


#: Every upgrade, in order; append new ones (see the module docstring).
UPGRADE_STEPS: tuple[UpgradeStep, ...] = (
    UpgradeStep(1, "unset the open end of bounds", "db.literature:unset_open_bound_ends"),
    UpgradeStep(2, "papers count readings and citing records", "db.literature:count_readings"),
    UpgradeStep(3, "materials get a descriptive formula", "db.materials:upgrade_materials"),
    UpgradeStep(4, "materials' formulas without brackets", "db.materials:plain_material_formulas"),
    UpgradeStep(5, "canonical record formulas", "db.literature:canonical_record_formulas"),
    UpgradeStep(6, "records keyed by composition", "db.literature:merge_records_by_composition"),
    UpgradeStep(
        7, "unservable structures set aside", "db.materials:set_aside_unservable_structures"
    ),
    UpgradeStep(
        8, "materials keyed as written formulas read today", "db.materials:reread_written_formulas"
    ),
    UpgradeStep(
        9, "records read from hydrates get their water", "db.literature:reread_adduct_records"
    ),
    UpgradeStep(10, "papers' words counted for near twins", "db.literature:count_paper_words"),
    UpgradeStep(
        11,
        "values stated exactly and approximately one record",
        "db.literature:merge_stated_readings",
    ),
    UpgradeStep(12, "materials get molar fractions", "db.materials:fill_material_fractions"),
    UpgradeStep(13, "records get molar fractions", "db.literature:fill_record_fractions"),
    UpgradeStep(14, "composition trials store their elements", "db.campaigns:fill_trial_elements"),
    UpgradeStep(
        15,
        "campaigns' strategies as their trials name them",
        "db.campaigns:canonical_campaign_strategies",
    ),
)
#: The version of the documents this code writes and reads.
SCHEMA_VERSION = UPGRADE_STEPS[-1].version


#: The schemes of MongoDB connection strings.
URI_SCHEMES = ("mongodb", "mongodb+srv")
#: What a URI looks like, for messages.
URI_EXAMPLE = "mongodb://HOST[:PORT]/DATABASE, e.g. mongodb://127.0.0.1:27017/matloop"
#: Characters MongoDB refuses in a database name (the name is the URI's path).
_BAD_NAME_CHARACTERS = '/\\. "$\x00'


def check_uri(uri: str, source: str = "MongoDB URI") -> str:
    """``uri``, checked to be a MongoDB connection string matloop can connect with.

    Checked before any connection, so that a URI without its scheme
    (``127.0.0.1:27017``) is not read as a database named ``127.0.0.1:27017``, or
    ``localhost:27017`` as a database named ``27017`` on the default host.

    Args:
        uri: The connection string.
        source: Where it came from, named first in the message
            (``MATLOOP_MONGODB_URI``, an option).

    Returns:
        ``uri`` unchanged.

    Raises:
        ValueError: without a ``mongodb://`` or ``mongodb+srv://`` scheme, without a
            host, or naming a database MongoDB refuses.
    """
    try:
        parsed = urlsplit(uri)
        shown = _shown(uri)
    except ValueError as error:  # "Invalid IPv6 URL", ...
        raise ValueError(f"{source}: not a MongoDB URI ({error}); expected {URI_EXAMPLE}") from None
    if parsed.scheme not in URI_SCHEMES:
        # "host:port" alone parses as a path (or as scheme "host"): suggest the scheme
        guess = f"; did you mean 'mongodb://{shown}'?" if "://" not in uri else ""
        raise ValueError(
            f"{source}: {shown!r} is not a MongoDB URI: it must start with mongodb:// or "
            f"mongodb+srv:// ({URI_EXAMPLE}){guess}"
        )
    if not parsed.netloc.rpartition("@")[2]:
        raise ValueError(f"{source}: {shown!r} names no host; expected {URI_EXAMPLE}")
    name = parsed.path.lstrip("/")
    bad = sorted({c for c in name if c in _BAD_NAME_CHARACTERS})
    if bad:
        listed = " ".join(repr(c) for c in bad)
        raise ValueError(
            f"{source}: {shown!r}: the database name {name!r} (the URI's path) cannot "
            f"contain {listed}"
        )
    return uri


def _shown(uri: str) -> str:
    """``uri`` without its password, also when it lacks its scheme (``user:pw@host``)."""
    if "://" in uri:
        return redact(uri)
    return redact(f"mongodb://{uri}").removeprefix("mongodb://")


def database_name(uri: str) -> str:
    """The database named in the URI path, or ``matloop``.

    Raises:
        ValueError: for a string that is not a MongoDB URI (:func:`check_uri`).
    """
    return urlsplit(check_uri(uri)).path.lstrip("/") or DEFAULT_DATABASE


def connect(uri: str, timeout_ms: int = 5000, prepare: bool = True) -> Database:
    """Connect the default mongoengine alias to ``uri``, create indexes, upgrade documents.

    Reconnecting to another URI replaces the previous connection. ``prepare=False``
    connects only: a backup must copy the documents as they are, not as this matloop
    would upgrade them (an upgrade cannot be undone).

    Raises:
        ValueError: if ``uri`` is not a MongoDB URI (:func:`check_uri`).
        ConnectionError: if no server answers within ``timeout_ms``.

    """
    name = database_name(uri)  # checks the URI before the old connection is dropped
    mongoengine.disconnect(alias=_ALIAS)
    mongoengine.connect(
        db=name,
        host=uri,
        alias=_ALIAS,
        serverSelectionTimeoutMS=timeout_ms,
        journal=True,  # acknowledged once in MongoDB's journal: a crash keeps what was answered
        uuidRepresentation="standard",
        tz_aware=False,
    )
    try:
        client().admin.command("ping")
    except Exception as error:
        mongoengine.disconnect(alias=_ALIAS)
        raise ConnectionError(f"no MongoDB answers at {redact(uri)}: {error}") from None
    if prepare:
        ensure_indexes()
        upgrade_documents()
    return database()


def upgrade_documents(steps: tuple[UpgradeStep, ...] = ()) -> None:
    """Run the upgrade steps the stored documents have not been through (on connect).

    Reads the stored version (one document) and writes nothing when it is current; see
    the module docstring for fresh, older and newer databases and read-only credentials.

    Args:
        steps: The upgrades, numbered 1, 2, ... in order; :data:`UPGRADE_STEPS` if empty.
    """
    steps = steps or UPGRADE_STEPS
    current = steps[-1].version
    found = schema_version()
    if found == current:
        return
    if found is not None and found > current:
        logger.warning(
            "stored documents are at schema version %d, newer than this matloop's %d: "
            "they are used as they are; install the matloop that upgraded them",
            found,
            current,
        )
        return
    if found is None:  # before versions, the documents need every step; none are fresh
        found = 0 if _holds_documents(database()) else current
    try:
        _run(steps, found, current)
    except OperationFailure as error:
        logger.warning("stored documents not upgraded (%s); connect once with write access", error)


def _run(steps: tuple[UpgradeStep, ...], stored: int, current: int) -> None:
    """Run the steps above ``stored``, recording each; stamp ``current`` if none is due."""
    meta = database()[SCHEMA_COLLECTION]
    for step in steps:
        if step.version > stored:
            logger.info("upgrading stored documents, step %d: %s", step.version, step.name)
            step.run()
            raise_schema_version(meta, step.version)
    if stored == current:  # a fresh database: nothing to upgrade, only to stamp
        raise_schema_version(meta, current)


def schema_version() -> int | None:
    """The stored schema version; ``None`` for a fresh database or one stored before it."""
    found = database()[SCHEMA_COLLECTION].find_one({"_id": SCHEMA_ID})
    return None if found is None else int(found.get("version", 0))


def raise_schema_version(meta: Collection, version: int) -> None:
    """Store ``version`` unless a higher one is stored (a newer process may be ahead).

    Args:
        meta: The :data:`SCHEMA_COLLECTION` collection.
        version: The version the documents are now at.
    """
    update = {"$max": {"version": version}}
    try:
        meta.update_one({"_id": SCHEMA_ID}, update, upsert=True)
    except DuplicateKeyError:  # a concurrent first write inserted it: update that one
        meta.update_one({"_id": SCHEMA_ID}, update)


def _holds_documents(db: Database) -> bool:
    """Whether any collection holds a document (asked once, for a database without version)."""
    names = [n for n in db.list_collection_names() if not n.startswith("system.")]
    return any(db[n].find_one({}, {"_id": 1}) is not None for n in names if n != SCHEMA_COLLECTION)


#: Most values one ``$in`` lists. The embedded server's lookup grows with the square of
#: the list (4,000 passage ids: 27 s in one query, 3.3 s in chunks of 500).
IN_CHUNK = 500


def find_in(
    collection: Collection,
    field: str,
    values: Iterable[Any],
    projection: Mapping[str, Any] | None = None,
    session: ClientSession | None = None,
) -> Iterator[dict[str, Any]]:
    """The documents whose ``field`` is one of ``values``, read :data:`IN_CHUNK` at a time.

    Args:
        collection: The pymongo collection.
        field: The field compared (``_id``, ``key``, a list field such as ``merged_ids``).
        values: The values, repeats allowed (each is asked for once).
        projection: The fields to read, as for ``find``.
        session: A transaction's session.
    """
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), IN_CHUNK):
        chunk = {field: {"$in": unique[start : start + IN_CHUNK]}}
        yield from collection.find(chunk, projection, session=session)


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
