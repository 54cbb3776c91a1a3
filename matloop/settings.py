"""Settings from the environment (``MATLOOP_*``) with defaults for a single-user machine."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_path
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """matloop's settings.

    Attributes:
        home: Where the embedded database keeps its data, pid file and log.
        mongodb_uri: Any MongoDB to use instead of the embedded one.
        db_port: Port of the embedded database server (loopback only).
        database: Database name used with the embedded server.

    """

    model_config = SettingsConfigDict(env_prefix="MATLOOP_", frozen=True)

    home: Path = Field(default_factory=lambda: user_data_path("matloop"))
    mongodb_uri: str | None = None
    db_port: int = Field(default=27217, ge=1, le=65535)
    database: str = "matloop"

    @property
    def uri(self) -> str:
        """The URI every command connects to."""
        if self.mongodb_uri:
            return self.mongodb_uri
        return f"mongodb://127.0.0.1:{self.db_port}/{self.database}"

    @property
    def embedded(self) -> bool:
        """True when commands use the embedded server (no ``MATLOOP_MONGODB_URI``)."""
        return not self.mongodb_uri
