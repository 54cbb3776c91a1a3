"""Dump and restore a whole matloop database, GridFS included, in mongodump's file format.

A dump is a folder with one ``<collection>.bson`` file per collection (BSON documents,
concatenated, as ``mongodump`` writes them, so ``mongorestore`` can read it too) and a
``manifest.json`` with document counts and a SHA-256 per file. Restore checks the
manifest first and writes nothing when a file is missing or altered.

A dump is one point in time: every collection is read in one read-only transaction at
snapshot read concern, so a dump taken while instruments report holds no completed trial
without its measurement, and no GridFS file without its chunks. Restore makes the target
the dump: with ``drop``, collections the dump does not hold are dropped too.

The schema version (:data:`db.connection.SCHEMA_COLLECTION`) is dumped like any
collection and restored with the documents it describes: a dump without one (written
before versions) leaves the target without one, so the next connection upgrades them.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference

from db.connection import SCHEMA_COLLECTION

FORMAT = "matloop-dump-1"
#: What an index's description holds besides its options: the rest (unique, sparse,
#: background, ...) is restored as it was, so that mongoengine's ensure_indexes on the next
#: connection finds the very index it asks for (SecantusDB refuses one that differs).
INDEX_FIELDS = ("v", "key", "ns")
#: Documents as the server's bytes: a dump copies them, never re-encodes them.
RAW: CodecOptions = CodecOptions(document_class=RawBSONDocument)
#: Server error codes that end a snapshot transaction: SnapshotTooOld, SnapshotUnavailable,
#: NoSuchTransaction, TransactionExceededLifetimeLimitSeconds.
ENDED = frozenset({239, 246, 251, 290})
#: What a dumped collection may be called: no path separators, no leading dot.
COLLECTION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,119}")


@dataclass(frozen=True)
class DumpReport:
    """What a dump or restore moved: collection name -> documents.

    Attributes:
        folder: The dump.
        counts: Documents per collection.
        dropped: Collections of the target that a restore dropped as the dump lacks them.
    """

    folder: Path
    counts: dict[str, int]
    dropped: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        """All documents."""
        return sum(self.counts.values())


def dump(database: Database, folder: Path) -> DumpReport:
    """Write every collection of ``database`` to ``folder`` (created; must be empty).

    Documents are copied as the raw bytes the server sent (no decoding, so nothing is
    lost to a codec), into a hidden sibling folder renamed to ``folder`` only once every
    file and the manifest are written: a failed dump leaves nothing behind. All
    collections are read at one point in time (a snapshot transaction), however busy the
    database is.

    Raises:
        ValueError: ``folder`` is not empty, or the server ended the snapshot before every
            collection was read (MongoDB ends a transaction after
            ``transactionLifetimeLimitSeconds``, 60 s by default); nothing is left then.
    """
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ValueError(f"{folder}: not empty; dump into a new folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f".{folder.name}.partial-{uuid.uuid4().hex}")
    partial.mkdir()
    try:
        counts = _write(database, partial)
        if folder.exists():
            folder.rmdir()
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return DumpReport(folder, counts)


def collections(database: Database) -> list[str]:
    """The collections a dump holds and a restore replaces: not views, not ``system.*``.

    ``system.profile`` and the like are the server's (mongodump leaves them out too): a
    capped one cannot even be read at snapshot read concern.
    """
    names = database.list_collection_names(filter={"type": "collection"})
    return sorted(n for n in names if not n.startswith("system."))


def _write(database: Database, folder: Path) -> dict[str, int]:
    # collections and their indexes are listed first: MongoDB lists neither in a transaction
    names = collections(database)
    indexes = {name: _indexes(database, name) for name in names}
    counts: dict[str, int] = {}
    digests: dict[str, str] = {}
    try:
        with (
            database.client.start_session() as session,
            # snapshot reads are the primary's: a backup URI may prefer a secondary
            session.start_transaction(
                read_concern=ReadConcern("snapshot"), read_preference=ReadPreference.PRIMARY
            ),
        ):
            for name in names:
                counts[name], digests[name] = _write_collection(
                    database, name, folder / f"{name}.bson", session
                )
        if (created := sorted(set(collections(database)) - set(names))) != []:
            # e.g. the first model's GridFS bucket: its record may be in the snapshot
            raise ValueError(f"collections {created} were created while the dump ran: dump again")
    except OperationFailure as error:
        if not (error.has_error_label("TransientTransactionError") or error.code in ENDED):
            raise
        raise ValueError(
            f"the database could not be read at one point in time ({error}); the server "
            "ended the dump's snapshot (MongoDB ends a transaction after "
            "transactionLifetimeLimitSeconds, 60 s by default): dump again, with the "
            "writers (matloop serve, flow workers) stopped or that limit raised"
        ) from None
    manifest = {
        "format": FORMAT,
        "database": database.name,
        "created_at": datetime.now(UTC).isoformat(),
        "collections": {
            n: {"documents": counts[n], "sha256": digests[n], "indexes": indexes[n]} for n in counts
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return counts


def _write_collection(
    database: Database, name: str, path: Path, session: ClientSession
) -> tuple[int, str]:
    """Write one collection's documents, as read in ``session``; their count and SHA-256."""
    digest = hashlib.sha256()
    count = 0
    collection = database[name].with_options(codec_options=RAW)
    with path.open("wb") as out:
        for document in collection.find(sort=[("_id", 1)], session=session):
            out.write(document.raw)
            digest.update(document.raw)
            count += 1
    return count, digest.hexdigest()


def _indexes(database: Database, name: str) -> list[dict[str, Any]]:
    """A collection's indexes but ``_id``'s, as :func:`restore` creates them."""
    return [
        {
            "keys": list(map(list, info["key"])),
            **{k: v for k, v in info.items() if k not in INDEX_FIELDS},
            "name": index,
        }
        for index, info in database[name].index_information().items()
        if index != "_id_"
    ]


def _read(path: Path) -> list[RawBSONDocument]:
    return list(bson.decode_all(path.read_bytes(), RAW))


def read_manifest(folder: Path) -> dict[str, Any]:
    """The checked ``manifest.json`` of a dump.

    Raises:
        ValueError: naming the manifest, when it is missing, not JSON, of another format,
            or lists a collection by a name that is not a plain collection name (which
            would read files outside the dump).
    """
    path = folder / "manifest.json"
    if not path.is_file():
        raise ValueError(f"{folder}: no manifest.json; not a matloop dump")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeError) as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"{path}: not a JSON manifest ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"{path}: format {found!r} is not {FORMAT}")
    collections = manifest.get("collections")
    if not isinstance(collections, dict):
        raise ValueError(f"{path}: collections must be an object of name -> file entry")
    for name, entry in collections.items():
        if not COLLECTION_NAME.fullmatch(name) or name.startswith("system."):
            raise ValueError(f"{path}: collections.{name!r} is not a collection name")
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise ValueError(f"{path}: collections.{name}.sha256 is missing")
        indexes = entry.get("indexes", [])
        if not isinstance(indexes, list) or not all(
            isinstance(i, dict) and isinstance(i.get("keys"), list) for i in indexes
        ):
            raise ValueError(f"{path}: collections.{name}.indexes must be a list of {{keys: ...}}")
    return manifest


class RestoreInterruptedError(ValueError):
    """A restore that failed while writing: the target is half restored."""


def restore(database: Database, folder: Path, drop: bool = False) -> DumpReport:
    """Load a dump into ``database``.

    Args:
        database: Target database.
        folder: A folder written by :func:`dump`.
        drop: Replace collections that already hold documents (else refuse), and drop
            the target's collections that the dump does not hold, so that the target is
            the dump (the report names them).

    Raises:
        ValueError: a bad manifest, missing/altered files, or a non-empty target without
            ``drop``; nothing is written then.
        RestoreInterruptedError: when a write fails (another process writing to the
            target, the server gone), naming the collection and what to do.
    """
    manifest = read_manifest(folder)
    documents: dict[str, list[RawBSONDocument]] = {}
    for name, expected in manifest["collections"].items():
        path = folder / f"{name}.bson"
        if not path.is_file():
            raise ValueError(f"{path}: missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected["sha256"]:
            raise ValueError(f"{path}: checksum differs from manifest.json (altered or truncated)")
        documents[name] = _read(path)
    # every connection stamps a version, even into an empty target: it goes with the dump
    occupied = [
        n
        for n in documents
        if n != SCHEMA_COLLECTION and database[n].estimated_document_count() > 0
    ]
    if occupied and not drop:
        raise ValueError(f"collections {occupied} are not empty; pass drop=True (--drop)")
    # a collection the dump lacks would mix the target's past with the dump's (GridFS
    # files of models the dump does not have, tokens revoked since): it goes
    others = sorted(set(collections(database)) - set(documents)) if drop else []
    name = SCHEMA_COLLECTION
    try:
        for name in [*others, SCHEMA_COLLECTION]:
            database.drop_collection(name)
        for name, rows in documents.items():
            database.drop_collection(name)
            database.create_collection(name)
            for index in manifest["collections"][name].get("indexes", []):
                options = {k: v for k, v in index.items() if k != "keys"}
                database[name].create_index([tuple(k) for k in index["keys"]], **options)
            if rows:
                database[name].insert_many(rows, ordered=True)
    except PyMongoError as error:  # a writer meanwhile (a duplicate key), the server gone
        raise RestoreInterruptedError(
            f"restore stopped at collection {name!r} ({type(error).__name__}: "
            f"{str(error)[:160]}): the database now holds part of the dump and whatever was "
            "written meanwhile. Stop everything that writes to it (matloop serve, flows "
            "serve, instruments) and restore again with drop=True (--drop)"
        ) from None
    dropped = tuple(n for n in others if n != SCHEMA_COLLECTION)
    return DumpReport(folder, {n: len(r) for n, r in documents.items()}, dropped)
