"""mongoengine documents: the shape of matloop's data in MongoDB, with indexes and validation.

Lineage: ModelRecord -> Trial (model_version) -> Measurement (trial); Candidate -> Material.
Documents never leave ``db``: :mod:`db.convert` turns them into domain dataclasses.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, datetime
from typing import Any

from mongoengine import (
    CASCADE,
    DateTimeField,
    DictField,
    Document,
    EmbeddedDocument,
    EmbeddedDocumentField,
    EmbeddedDocumentListField,
    FileField,
    FloatField,
    IntField,
    ListField,
    ReferenceField,
    StringField,
    ValidationError,
)
from pymatgen.core import Composition, Structure
from pymatgen.util.string import formula_double_format
from pymongo.errors import OperationFailure

from discovery.compositions import canonical_composition, reduced_formula
from discovery.domain import Direction, TrialStatus

NAME_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"
#: Instrument ids and result sources: names that may also hold ':' (``lab:xrd-2``).
SOURCE_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_.\-:]{0,127}$"


def check_name(name: str, field: str = "name") -> str:
    """``name`` when it is a campaign's or token's name (:data:`NAME_REGEX`).

    Raises:
        ValueError: naming ``field``, the name and what a name may hold.
    """
    if not re.fullmatch(NAME_REGEX, name):
        raise ValueError(
            f"{field}: {name!r} must start with a letter or digit and hold only letters, "
            "digits, '_', '.' and '-' (at most 128)"
        )
    return name


logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Current UTC time, millisecond precision (what BSON stores)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def alphabetical_formula(composition: Composition) -> str:
    """OPTIMADE's ``chemical_formula_reduced``: elements in alphabetical order, no 1s (B2Mg)."""
    reduced = composition.reduced_composition
    return "".join(f"{el}{formula_double_format(reduced[el])}" for el in sorted(map(str, reduced)))


def molar_fractions(composition: Composition) -> dict[str, float]:
    """Each element's molar fraction of ``composition``, by symbol in alphabetical order.

    What the filter ``fraction.<element>`` compares on materials and records: stored with
    them (``fractions``) from their canonical composition, so La1.85Sr0.15CuO4
    (Cu20La37O80Sr3) holds Sr at 3/140 = 0.15/7 and a hydrate its water's H and O
    (``MgSO4·7H2O``, MgH14SO11: Mg 1/27). An element absent has no entry: its fraction is 0.

    Example:
        >>> molar_fractions(Composition("Fe2O3"))
        {'Fe': 0.4, 'O': 0.6}

    Args:
        composition: Amounts of each element (atoms, or any multiple of them).

    Raises:
        ValueError: naming ``formula``, for a composition with no atoms.
    """
    amounts = {str(element): float(amount) for element, amount in composition.items()}
    total = math.fsum(amounts.values())
    if not total > 0:
        raise ValueError(f"formula: {composition.formula!r} has no atoms")
    return {symbol: amounts[symbol] / total for symbol in sorted(amounts)}


class MaterialDocument(Document):
    """A material, keyed by its canonical reduced formula (pymatgen)."""

    formula = StringField(required=True, unique=True)
    formula_alphabetical = StringField()  # OPTIMADE chemical_formula_reduced
    formula_descriptive = StringField()  # OPTIMADE chemical_formula_descriptive: as written
    elements = ListField(StringField(), required=True)
    nelements = IntField(required=True, min_value=1)
    chemsys = StringField(required=True)
    # symbol -> molar fraction (molar_fractions): what filters' fraction.<element> compare
    fractions = DictField()
    structure = DictField(null=True)
    # set aside by an upgrade: {json: the structure as stored, as text; reason}; never served
    unservable_structure = DictField(null=True)
    created_at = DateTimeField(default=utcnow)

    meta: dict[str, Any] = {
        "collection": "materials",
        "indexes": [
            "elements",
            "nelements",
            "chemsys",
            "formula_alphabetical",
            "formula_descriptive",
        ],
    }

    def clean(self) -> None:
        """Canonicalise the formula and derive elements, count, chemical system and fractions.

        The formula as written (whitespace collapsed) stays ``formula_descriptive`` unless
        one is given.
        """
        try:
            composition = Composition(self.formula)
            # Fe2O3, Fe1O1.5 and Fe0.5O0.75 are one material, Zn0.9999Ga0.0001O is not ZnO
            composition = canonical_composition(composition)
        except Exception as error:
            raise ValidationError(f"formula: cannot parse {self.formula!r} ({error})") from None
        if not composition.valid:
            raise ValidationError(f"formula: {self.formula!r} contains unknown elements")
        if composition.num_atoms <= 0:
            raise ValidationError(f"formula: {self.formula!r} has no atoms")
        if self.structure:
            try:
                structure = Structure.from_dict(self.structure)
            except Exception as error:
                raise ValidationError(f"structure: not a pymatgen structure ({error})") from None
            own = reduced_formula(structure.composition.as_dict())
            if own != reduced_formula(composition.as_dict()):
                raise ValidationError(
                    f"structure: its formula {own} does not match formula "
                    f"{reduced_formula(composition.as_dict())}"
                )
        if not self.formula_descriptive:
            written = self.formula if isinstance(self.formula, str) else composition.formula
            self.formula_descriptive = " ".join(written.split())
        self.formula = reduced_formula(composition.as_dict())  # Li5Fe6O9, not Li5(Fe2O3)3
        self.formula_alphabetical = alphabetical_formula(composition)
        self.elements = sorted(str(e) for e in composition.elements)
        self.nelements = len(self.elements)
        self.chemsys = composition.chemical_system
        self.fractions = molar_fractions(composition)


class ObjectiveEmbedded(EmbeddedDocument):
    """An objective and its direction."""

    name = StringField(required=True)
    direction = StringField(required=True, choices=[d.value for d in Direction])
    unit = StringField(null=True)


class SettingsEmbedded(EmbeddedDocument):
    """How a campaign chooses experiments."""

    strategy = StringField(required=True, default="gp")
    initial = IntField(required=True, min_value=1, default=10)
    batch_size = IntField(required=True, min_value=1, default=4)
    seed = IntField(required=True, default=0)
    prior_model = StringField(null=True)
    budget = IntField(min_value=1, null=True)  # absent on older campaigns: open-ended


class CampaignDocument(Document):
    """A campaign: search space, objectives, constraints, settings and status."""

    name = StringField(required=True, unique=True, regex=NAME_REGEX)
    space = DictField(required=True)
    objectives = EmbeddedDocumentListField(ObjectiveEmbedded, required=True)
    constraints = ListField(DictField())
    settings = EmbeddedDocumentField(SettingsEmbedded, required=True)
    pool_size = IntField(min_value=0, default=0)
    status = StringField(choices=["active", "closed"], default="active")
    source = StringField(null=True)
    source_sha256 = StringField(null=True)  # of the file source names; absent on older ones
    # How matloop generated the pool (discovery.domain.PoolRecipe.to_dict); absent on
    # older campaigns and on pools read from a file or given to the API.
    pool_recipe = DictField(null=True, default=None)
    created_at = DateTimeField(default=utcnow)
    # The trial queue's bookkeeping, kept here because SecantusDB materialises every
    # document an index lookup matches (no early stop at a limit, counts scan the
    # collection): next_sequence hands out trial sequences without a max() query, and
    # queue_floor (a hint, see CampaignStore.claim) lets a claim read a narrow window
    # of the queue instead of every proposed trial; next_batch counts the batches
    # stored, so that a proposal planned on stale trials is refused rather than stored
    # beside another one. Absent on older campaigns.
    next_sequence = IntField(min_value=0)
    queue_floor = IntField(min_value=0)
    next_batch = IntField(min_value=0)
    # the last proposals' request ids and the batches they stored (REMEMBERED_REQUESTS of
    # them): a retry gets its batch back, even after another proposal stored one
    recent_requests = ListField(DictField())

    meta: dict[str, Any] = {"collection": "campaigns", "indexes": ["status"]}


class CandidateDocument(Document):
    """A member of a campaign's discrete pool, with reference values when it is a data set."""

    campaign = ReferenceField(CampaignDocument, required=True, reverse_delete_rule=CASCADE)
    index = IntField(required=True, min_value=0)
    parameters = DictField(required=True)
    reference = DictField(null=True)
    label = StringField(null=True)  # as the pool names it: a sample id, a formula as written
    material = ReferenceField(MaterialDocument, null=True)

    meta: dict[str, Any] = {
        "collection": "candidates",
        "indexes": [{"fields": ["campaign", "index"], "unique": True}],
    }


class TrialDocument(Document):
    """One proposed experiment, who proposed it and what became of it."""

    campaign = ReferenceField(CampaignDocument, required=True, reverse_delete_rule=CASCADE)
    sequence = IntField(required=True, min_value=0)
    batch = StringField(required=True)
    parameters = DictField(required=True)
    candidate = IntField(null=True, min_value=0)
    label = StringField(null=True)  # its candidate's: what the lab knows it by
    # A composition campaign's trial: the elements its fraction parameters hold
    # (discovery.compositions.present_elements: float noise is none), alphabetical, and how
    # many, which trial filters' elements and nelements test. Absent on other campaigns'
    # trials (and on trials stored before them, until the upgrade).
    elements = ListField(StringField(), default=None)
    nelements = IntField(min_value=0)
    status = StringField(required=True, choices=[s.value for s in TrialStatus])
    strategy = StringField(null=True)
    model_version = StringField(null=True)
    acquisition_value = FloatField(null=True)
    claimed_by = StringField(null=True)
    # The claim that leased it: a claim reads back its ids and keeps those with its token
    # (no index: each index costs every trial write ~0.1 ms on SecantusDB).
    claim_token = StringField()
    lease_expires_at = DateTimeField(null=True)
    # the lease length last asked for (claim or heartbeat): a heartbeat naming none renews
    # for as long; absent on trials leased before it was kept (DEFAULT_LEASE_SECONDS)
    lease_seconds = FloatField(null=True)
    reason = StringField(null=True)  # why it failed or was given up
    # Who failed or abandoned it: the instrument, else a marker that no instrument name can
    # be (db.campaigns.GIVEN_UP_BY_*); a repeat of the same give-up is then told apart
    # from another's. Absent on trials given up before it was recorded.
    given_up_by = StringField(null=True)
    # Partial results (db.convert.part_to_raw), in the order they came: one instrument's
    # outcomes each. Absent until the first; a trial that has some is not handed out
    # again when its lease runs out (its sample exists), and completes with the last.
    parts = ListField(DictField(), default=None)
    # Hand-offs (holder, to, operator, at), oldest first: the sample's way between
    # instruments. Absent until the first; a trial handed on is kept as one with parts.
    handoffs = ListField(DictField(), default=None)
    # Set while a pool candidate is pending or completed: a unique index then forbids
    # proposing it twice, even by agents in different processes.
    active_candidate = IntField(min_value=0)  # absent, not null, when free
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    meta: dict[str, Any] = {
        "collection": "trials",
        "indexes": [
            {"fields": ["campaign", "sequence"], "unique": True},
            {
                "fields": ["campaign", "active_candidate"],
                "unique": True,
                "partialFilterExpression": {"active_candidate": {"$exists": True}},
            },
            # Equality on campaign and status, a range on sequence: a claim's window.
            ["campaign", "status", "sequence"],
            ["campaign", "status", "lease_expires_at"],
            ["campaign", "batch"],
            ["campaign", "label"],  # a sample the lab knows by name: label="P001"
            # A part's key, looked up across the campaign's trials: sparse, so that only
            # trials with parts are in it (no cost to every other trial's writes).
            {"fields": ["parts.idempotency_key"], "sparse": True},
            # A composition campaign's trials filtered by element or by count: one index
            # each. With one over campaign, nelements and elements, SecantusDB reads every
            # trial of the campaign for an element, and its <= on nelements misses the
            # bound (0.7.0b3: nelements <= 2 found no trial of 2 elements).
            ["campaign", "elements"],
            ["campaign", "nelements"],
            "model_version",
        ],
    }


class MeasurementDocument(Document):
    """A result reported for a trial; one per trial, stored once per idempotency key."""

    campaign = ReferenceField(CampaignDocument, required=True, reverse_delete_rule=CASCADE)
    trial = ReferenceField(TrialDocument, required=True, unique=True)
    values = DictField(required=True)
    units = DictField()
    # outcome -> {"value", "unit"} as the lab sent it, for each converted value; results
    # stored before it was kept have none
    reported = DictField()
    source = StringField(required=True)
    idempotency_key = StringField(required=True, min_length=1, max_length=256)
    received_at = DateTimeField(default=utcnow)
    recorded_by = StringField(null=True)  # the API token's name: who wrote it, whatever source
    # the values an operator's corrections replaced, oldest first (discovery.domain
    # .Correction as a dict, keyed by "idempotency_key"); absent on results never corrected
    corrections = ListField(DictField())

    meta: dict[str, Any] = {
        "collection": "measurements",
        "indexes": [
            {"fields": ["campaign", "idempotency_key"], "unique": True},
            {  # a correction's key names one correction in its campaign
                "fields": ["campaign", "corrections.idempotency_key"],
                "unique": True,
                "partialFilterExpression": {"corrections.idempotency_key": {"$exists": True}},
            },
        ],
    }


class MetricsDocument(Document):
    """A campaign's live metrics after a number of measurements (one row per count)."""

    campaign = ReferenceField(CampaignDocument, required=True, reverse_delete_rule=CASCADE)
    measurements = IntField(required=True, min_value=0)
    values = DictField(required=True)
    recorded_at = DateTimeField(default=utcnow)

    meta: dict[str, Any] = {
        "collection": "campaign_metrics",
        "indexes": [{"fields": ["campaign", "measurements"], "unique": True}],
    }


class ModelRecord(Document):
    """A trained model version: metrics, training-data hash and weights in GridFS.

    The version is derived from the data hash and, where the metrics describe it, how
    the model was fitted (``metrics.fit``, :func:`db.models.model_digest`); versions
    registered before fits were described keep the data hash alone, and read as ever. A
    campaign's models list the trials they were trained on (``metrics.train_trials``).
    """

    kind = StringField(required=True)
    version = StringField(required=True, unique=True)
    campaign = ReferenceField(CampaignDocument, null=True, reverse_delete_rule=CASCADE)
    metrics = DictField()
    data_hash = StringField(required=True, regex=r"^[0-9a-f]{64}$")
    featurizer_version = StringField(null=True)
    weights = FileField(collection_name="model_weights")
    created_at = DateTimeField(default=utcnow)

    meta: dict[str, Any] = {"collection": "models", "indexes": ["kind", "campaign"]}


ALL_DOCUMENTS: tuple[type[Document], ...] = (
    MaterialDocument,
    CampaignDocument,
    CandidateDocument,
    TrialDocument,
    MeasurementDocument,
    MetricsDocument,
    ModelRecord,
)


#: Server codes for an index that exists under the same name with other options or keys.
INDEX_CONFLICTS = (85, 86)  # IndexOptionsConflict, IndexKeySpecsConflict


def ensure_indexes() -> None:
    """Create every collection's indexes (idempotent).

    An index that exists with other options (restored from a dump that did not keep them
    all) is rebuilt as declared here: the collection's indexes are dropped and created
    again, which the data already satisfies.
    """
    from db.literature import LITERATURE_DOCUMENTS  # it imports this module

    for document in (*ALL_DOCUMENTS, *LITERATURE_DOCUMENTS):
        try:
            document.ensure_indexes()
        except OperationFailure as error:
            if error.code not in INDEX_CONFLICTS:
                raise
            collection = document._get_collection()
            logger.warning("rebuilding the indexes of %s: %s", collection.name, error)
            collection.drop_indexes()
            document.ensure_indexes()
