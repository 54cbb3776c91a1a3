"""Settings from the environment (``MATLOOP_*``) with defaults for a single-user machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from platformdirs import user_data_path
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Prefix of the environment variables that set :class:`Settings`.
ENV_PREFIX = "MATLOOP_"

#: The annotated corpora of a checkout: ``shared/data/corpora`` beside the repository, as
#: the team's machines hold it, wherever a command is run from.
DEFAULT_CORPORA = Path(__file__).resolve().parents[2] / "shared" / "data" / "corpora"


class Settings(BaseSettings):
    """matloop's settings.

    Attributes:
        home: Where the embedded database keeps its data, pid file and log.
        mongodb_uri: Any MongoDB to use instead of the embedded one.
        db_port: Port of the embedded database server (loopback only).
        database: Database name used with the embedded server.
        corpora: The folder holding the annotated corpora (``supermat/``,
            ``synthesis-procedures/``) that ``matloop literature train``/``eval`` read.

    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    home: Path = Field(default_factory=lambda: user_data_path("matloop"))
    mongodb_uri: str | None = None
    db_port: int = Field(default=27217, ge=1, le=65535)
    database: str = "matloop"
    corpora: Path = Field(default_factory=lambda: DEFAULT_CORPORA)

    def __init__(self, **values: Any) -> None:
        """Read the environment.

        Raises:
            ValueError: naming each variable that does not read and why, one per line
                (``MATLOOP_DB_PORT: input should be a valid integer, got 'abc'``).
        """
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise ValueError("\n".join(map(_described, error.errors()))) from None

    @property
    def uri(self) -> str:
        """The URI every command connects to.

        Raises:
            ValueError: naming ``MATLOOP_MONGODB_URI`` (or ``MATLOOP_DATABASE``) when it
                is not a MongoDB URI (no ``mongodb://`` scheme, no host, a database
                name MongoDB refuses): commands print it as their ``error:`` line.
        """
        from db.connection import check_uri  # here: `matloop --help` loads no database code

        if self.mongodb_uri:
            return check_uri(self.mongodb_uri, f"{ENV_PREFIX}MONGODB_URI")
        embedded = f"mongodb://127.0.0.1:{self.db_port}/{self.database}"
        return check_uri(embedded, f"{ENV_PREFIX}DATABASE")

    @property
    def embedded(self) -> bool:
        """True when commands use the embedded server (no ``MATLOOP_MONGODB_URI``)."""
        return not self.mongodb_uri


def _described(error: Any) -> str:
    """One pydantic error as the environment variable it came from, its problem and value."""
    variable = ENV_PREFIX + "_".join(map(str, error["loc"])).upper()
    message = error["msg"][:1].lower() + error["msg"][1:]
    return f"{variable}: {message}, got {error['input']!r}"
