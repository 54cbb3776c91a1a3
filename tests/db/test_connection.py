"""Checking a MongoDB URI before connecting (:func:`db.connection.check_uri`)."""

from __future__ import annotations

import pytest

from db.connection import check_uri, connect, database_name
from matloop.settings import Settings


@pytest.mark.parametrize(
    ("uri", "name"),
    [
        ("mongodb://127.0.0.1:27217", "matloop"),
        ("mongodb://127.0.0.1:27217/opv", "opv"),
        ("mongodb://h1:27017,h2:27017/opv?replicaSet=rs0", "opv"),
        ("mongodb+srv://user:pw@cluster.example.net/opv?retryWrites=true", "opv"),
    ],
)
def test_mongodb_uris_name_their_database(uri: str, name: str) -> None:
    assert check_uri(uri) == uri and database_name(uri) == name


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("127.0.0.1:27961", "'127.0.0.1:27961' is not a MongoDB URI: it must start with"),
        ("localhost:27017", "did you mean 'mongodb://localhost:27017'?"),  # not db "27017"
        ("http://db:27017/opv", "'http://db:27017/opv' is not a MongoDB URI"),
        ("mongodb://", "'mongodb://' names no host"),
        ("mongodb://user:pw@/opv", "'mongodb://user:***@/opv' names no host"),
        ("mongodb://db/my.opv", "the database name 'my.opv' (the URI's path) cannot contain '.'"),
        ("mongodb://[::1/opv", "not a MongoDB URI (Invalid IPv6 URL)"),
        ("admin:secret@db:27017", "'admin:***@db:27017' is not a MongoDB URI"),
    ],
)
def test_what_is_not_a_mongodb_uri_is_refused_naming_its_source(uri: str, message: str) -> None:
    with pytest.raises(ValueError, match=r"^MATLOOP_MONGODB_URI: ") as raised:
        check_uri(uri, "MATLOOP_MONGODB_URI")
    assert message in str(raised.value) and "secret" not in str(raised.value)


def test_connect_refuses_a_bad_uri_before_it_drops_its_connection(mongodb_uri: str) -> None:
    from db.connection import database

    with pytest.raises(ValueError, match=r"^MongoDB URI: '127\.0\.0\.1:1' is not"):
        connect("127.0.0.1:1")
    assert database().name == database_name(mongodb_uri)  # still connected


def test_settings_check_the_uri_they_come_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATLOOP_MONGODB_URI", "127.0.0.1:27961")
    with pytest.raises(ValueError, match=r"^MATLOOP_MONGODB_URI: '127\.0\.0\.1:27961'"):
        Settings().uri  # noqa: B018
    monkeypatch.delenv("MATLOOP_MONGODB_URI")
    monkeypatch.setenv("MATLOOP_DATABASE", "my.opv")
    with pytest.raises(ValueError, match=r"^MATLOOP_DATABASE: .* cannot contain '\.'"):
        Settings().uri  # noqa: B018
    monkeypatch.setenv("MATLOOP_DATABASE", "opv")
    assert Settings().uri.endswith("/opv")


@pytest.mark.parametrize(
    ("port", "message"),
    [("abc", "a valid integer"), ("0", "greater than or equal to 1"), ("70000", "65535")],
)
def test_a_setting_that_does_not_read_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, port: str, message: str
) -> None:
    monkeypatch.setenv("MATLOOP_DB_PORT", port)
    with pytest.raises(ValueError, match=rf"^MATLOOP_DB_PORT: input should be .*{message}.*, got"):
        Settings()


def test_find_in_reads_every_value_in_chunks_once_each(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import db.connection
    from db.connection import database, find_in

    collection = database()["find_in_test"]
    collection.insert_many([{"n": n, "tags": [n % 3]} for n in range(7)])
    monkeypatch.setattr(db.connection, "IN_CHUNK", 2)
    found = find_in(collection, "n", [6, 0, 3, 3, 5, 1, 99], {"_id": 0, "n": 1})
    assert sorted(row["n"] for row in found) == [0, 1, 3, 5, 6]  # a repeat read once
    assert sorted(row["n"] for row in find_in(collection, "tags", [2], {"n": 1})) == [2, 5]
    assert list(find_in(collection, "n", [])) == []
