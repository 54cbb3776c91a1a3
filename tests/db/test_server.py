from __future__ import annotations

from pathlib import Path

import pytest

from db import CampaignStore, connect, disconnect
from db.server import EmbeddedServer, free_port, ping
from discovery.domain import Campaign, Direction, Objective
from discovery.spaces import ContinuousParameter, SearchSpace


def test_embedded_server_keeps_data_across_restarts(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "home", port=free_port())
    assert server.status() is None
    info = server.start()
    try:
        assert server.start().pid == info.pid  # starting twice reuses the running server
        assert ping(info.uri)
        assert (tmp_path / "home" / "secantusd.pid").exists()
        connect(f"{info.uri}/matloop")
        space = SearchSpace((ContinuousParameter("x", 0, 1),))
        CampaignStore().create(Campaign("kept", space, (Objective("y", Direction.MINIMIZE),)))
        disconnect()
        assert server.stop()
        assert server.status() is None
        assert not ping(info.uri)
        info = server.start()
        connect(f"{info.uri}/matloop")
        assert [c.name for c in CampaignStore().campaigns()] == ["kept"]
        disconnect()
    finally:
        server.stop()
    assert not server.stop()


def test_port_taken_by_a_foreign_database_is_reported(mongodb_server: str, tmp_path: Path) -> None:
    port = int(mongodb_server.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match="MATLOOP_MONGODB_URI"):
        EmbeddedServer(tmp_path, port=port).start()
