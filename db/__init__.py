"""Storage: mongoengine documents, repositories and the embedded database server.

Imports domain types from ``discovery.domain`` / ``discovery.spaces`` only; never torch,
BoTorch, transformers or Prefect.
"""

from db.campaigns import (
    CampaignExistsError,
    CampaignNotFoundError,
    CampaignStore,
    ConcurrentProposalError,
    RecordReport,
    TrialNotFoundError,
    TrialStateError,
)
from db.connection import connect, disconnect
from db.server import EmbeddedServer, ephemeral_server

__all__ = [
    "CampaignExistsError",
    "CampaignNotFoundError",
    "CampaignStore",
    "ConcurrentProposalError",
    "EmbeddedServer",
    "RecordReport",
    "TrialNotFoundError",
    "TrialStateError",
    "connect",
    "disconnect",
    "ephemeral_server",
]
