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
from db.models import (
    describe_model_record,
    list_model_records,
    load_model_record,
    save_model_record,
)
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
    "describe_model_record",
    "disconnect",
    "ephemeral_server",
    "list_model_records",
    "load_model_record",
    "save_model_record",
]
