"""Dump and restore a whole matloop database, GridFS included, in mongodump's file format.

A dump is a folder with one ``<collection>.bson`` file per collection (BSON documents,
concatenated, as ``mongodump`` writes them, so ``mongorestore`` can read it too) and a
``manifest.json`` with document counts and a SHA-256 per file. Restore checks the
manifest first and writes nothing when a file is missing or altered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bson
from pymongo.database import Database

FORMAT = "matloop-dump-1"
INDEX_OPTIONS = ("unique", "sparse", "partialFilterExpression", "expireAfterSeconds")


@dataclass(frozen=True)
class DumpReport:
    """What a dump or restore moved: collection name -> documents."""

    folder: Path
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """All documents."""
        return sum(self.counts.values())


def dump(database: Database, folder: Path) -> DumpReport:
    """Write every collection of ``database`` to ``folder`` (created; must be empty)."""
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise ValueError(f"{folder}: not empty; dump into a new folder")
    counts: dict[str, int] = {}
    digests: dict[str, str] = {}
    indexes: dict[str, list[dict]] = {}
    for name in sorted(database.list_collection_names()):
        path = folder / f"{name}.bson"
        digest = hashlib.sha256()
        count = 0
        with path.open("wb") as out:
            for document in database[name].find(sort=[("_id", 1)]):
                data = bson.encode(document)
                out.write(data)
                digest.update(data)
                count += 1
        counts[name], digests[name] = count, digest.hexdigest()
        indexes[name] = [
            {
                "keys": list(map(list, info["key"])),
                **{k: v for k, v in info.items() if k in INDEX_OPTIONS},
                "name": index,
            }
            for index, info in database[name].index_information().items()
            if index != "_id_"
        ]
    manifest = {
        "format": FORMAT,
        "database": database.name,
        "created_at": datetime.now(UTC).isoformat(),
        "collections": {
            n: {"documents": counts[n], "sha256": digests[n], "indexes": indexes[n]} for n in counts
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return DumpReport(folder, counts)


def _read(path: Path) -> list[dict]:
    return list(bson.decode_all(path.read_bytes()))


def restore(database: Database, folder: Path, drop: bool = False) -> DumpReport:
    """Load a dump into ``database``.

    Args:
        database: Target database.
        folder: A folder written by :func:`dump`.
        drop: Replace collections that already hold documents (else refuse).

    Raises:
        ValueError: missing/altered files, or a non-empty target without ``drop``;
            nothing is written then.
    """
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ValueError(f"{folder}: no manifest.json; not a matloop dump")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{manifest_path}: format {manifest.get('format')!r} is not {FORMAT}")
    documents: dict[str, list[dict]] = {}
    for name, expected in manifest["collections"].items():
        path = folder / f"{name}.bson"
        if not path.is_file():
            raise ValueError(f"{path}: missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != expected["sha256"]:
            raise ValueError(f"{path}: checksum differs from manifest.json (altered or truncated)")
        documents[name] = _read(path)
    occupied = [n for n in documents if database[n].estimated_document_count() > 0]
    if occupied and not drop:
        raise ValueError(f"collections {occupied} are not empty; pass drop=True (--drop)")
    for name, rows in documents.items():
        database.drop_collection(name)
        database.create_collection(name)
        for index in manifest["collections"][name].get("indexes", []):
            options = {k: v for k, v in index.items() if k != "keys"}
            database[name].create_index([tuple(k) for k in index["keys"]], **options)
        if rows:
            database[name].insert_many(rows, ordered=True)
    return DumpReport(folder, {n: len(r) for n, r in documents.items()})
