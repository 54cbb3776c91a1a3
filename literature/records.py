"""Plain domain types for what the pipeline reads out of a paper.

A :class:`Mention` is an entity found in one sentence; a :class:`PropertyRecord` links a
value mention to a material mention; a :class:`PaperExtraction` is everything read from
one paper by one tagger version. Storage turns these into documents with provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from literature.text import Paper

# Entity label -> (property name, canonical unit) for value mentions.
VALUE_PROPERTIES: dict[str, tuple[str, str]] = {"tcValue": ("tc", "K")}

# Properties that are absolute temperatures in K: nothing can be below 0 K.
ABSOLUTE_TEMPERATURES: frozenset[str] = frozenset({"tc"})

#: Qualifiers of an upper bound ("below 39 K", "up to 40 K"): the reading has no ``low``.
UPPER_BOUNDS: frozenset[str] = frozenset({"<", "<="})
#: Qualifiers of a lower bound ("over 45 K", "at least 5 K"): the reading has no ``high``.
LOWER_BOUNDS: frozenset[str] = frozenset({">", ">="})
#: The property names records are read for, sorted (lower case, as stored: ``"tc"``).
PROPERTIES: tuple[str, ...] = tuple(sorted({name for name, _ in VALUE_PROPERTIES.values()}))


@dataclass(frozen=True)
class Mention:
    """An entity in a sentence.

    Attributes:
        label: Entity type, e.g. ``"material"``, ``"tcValue"``, ``"pressure"``.
        text: The characters as written.
        section: Index of the section in the paper.
        sentence: Index of the sentence in its section.
        start: First character, as an offset into the sentence.
        end: End character (exclusive), as an offset into the sentence.
        confidence: Tagger confidence in ``[0, 1]`` (mean probability of its tokens).
        normalized: What normalisation made of it: ``formula``, ``elements``, ``value``,
            ``low``, ``high``, ``unit``, ``qualifier`` ... (JSON-ready).
    """

    label: str
    text: str
    section: int
    sentence: int
    start: int
    end: int
    confidence: float = 1.0
    normalized: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[int, int, int, int, str]:
        """Where it is: unique within a paper."""
        return (self.section, self.sentence, self.start, self.end, self.label)


@dataclass(frozen=True)
class PropertyRecord:
    """A material's property value, read from one place in a paper.

    Attributes:
        material: Display name of the material (resolved formula, or the mention text).
        formula: Formula with doping variables resolved, in the author's element order
            (``"La1.85Sr0.15CuO4"``), when the material parses as a composition.
        property: Property name, e.g. ``"tc"``.
        value: The stated number in ``unit``: a point's value, a bound's number, the
            middle of a range.
        low: Lower end in ``unit``: ``value`` for a point, ``None`` for an upper bound
            (``"<"``, ``"<="``: "up to 40 K" says nothing of how low).
        high: Upper end in ``unit``: ``value`` for a point, ``None`` for a lower bound
            (``">"``, ``">="``).
        unit: Canonical unit, e.g. ``"K"``.
        qualifier: ``"="``, ``"<"``, ``">"``, ``"<="``, ``">="`` or ``"~"``.
        confidence: Probability in ``[0, 1]`` that the record is right (tagger confidences
            of both mentions times the link's confidence).
        material_mention: The material as found.
        value_mention: The value as found.
        conditions: What the value was read under, JSON-ready: the pressure in GPa as
            ``pressure_gpa``, or ``pressure_gpa_low``/``pressure_gpa_high`` for a range or
            a bound; an applied magnetic field in T as ``field_t``. Empty at ambient
            pressure in zero field or a measuring field (:data:`MEASURING_FIELD_T`).
        pressure_mention: The pressure linked to the value as found, if any; when it did
            not read as a pressure (no ``value`` in its ``normalized``), ``conditions``
            cannot say it and the record is not stored.
        uncertainty: The uncertainty stated with the value, in ``unit`` ("14.5 ± 0.3 K",
            "38(1) K"), else ``None``.
    """

    material: str
    formula: str | None
    property: str
    value: float
    low: float | None
    high: float | None
    unit: str
    qualifier: str
    confidence: float
    material_mention: Mention
    value_mention: Mention
    conditions: dict[str, Any] = field(default_factory=dict)
    pressure_mention: Mention | None = None
    uncertainty: float | None = None


def impossible(record: PropertyRecord) -> bool:
    """Whether a reading cannot be a claim: an absolute temperature below 0 K, or at 0 K.

    A value below 0 K is a misreading (a tagged "−1", a "−300 °C"). A transition at 0 K
    is none: "Tc rises from 0 K (y = 0) to 42 K (y = 1)" says the y = 0 end does not
    superconduct, and a prior trained on it would learn a Tc of 0 K.

    Args:
        record: A normalised reading (normalisation converts °C and °F to K).

    Returns:
        True for a property in :data:`ABSOLUTE_TEMPERATURES` in K with a value or bound
        below 0, or with every stated number 0.
    """
    values = (record.value, record.low, record.high)
    return why_impossible(record.property, record.unit, *values) is not None


def why_impossible(
    property: str, unit: str | None, value: float | None, low: float | None, high: float | None
) -> str | None:
    """Why a reading is :func:`impossible`, or None.

    A lower bound of 0 K ("Tc > 0 K": a ``low``, no ``high``) says the material
    superconducts: kept.
    """
    stated = [v for v in (value, low, high) if v is not None]
    if property not in ABSOLUTE_TEMPERATURES or unit != "K" or not stated:
        return None
    if min(stated) < 0:
        return "below absolute zero"
    lower_bound = low is not None and high is None  # "> 0 K"; a bare value is a point
    if not lower_bound and max(stated) == 0:
        return "at 0 K, which is no transition"
    return None


#: Atmospheric pressure (1 atm) in GPa, with room for "1 bar" and "0.1 MPa" written for it:
#: a reading at or below it is the material's plain value, under no condition.
AMBIENT_GPA = 1.1e-4


#: The largest magnetic field, in T, that a Tc measured in is still the material's plain
#: value: 10 mT (100 Oe). Magnetisation is measured in fields of 1 to 100 Oe, which move a
#: Tc by hundredths of a kelvin (an upper critical field rises by 0.1 to several T per K
#: below Tc); a Tc read in 1 T or 14 T is another reading, made under a condition.
MEASURING_FIELD_T = 0.01


def stated_conditions(conditions: dict[str, Any]) -> dict[str, Any]:
    """A stored record's ``conditions`` without an ambient pressure.

    Records stored before ambient pressure stopped being a condition carry
    ``pressure_gpa`` 1.01325e-4 for "at ambient pressure"; they are plain readings too.
    """
    return {k: v for k, v in conditions.items() if not (k == "pressure_gpa" and v <= AMBIENT_GPA)}


@dataclass(frozen=True)
class PaperExtraction:
    """Everything read from one paper.

    Attributes:
        paper: The parsed paper.
        mentions: Every entity found, in reading order.
        records: Linked property records.
        model_version: Version of the tagger that found the mentions.
        embeddings: Sentence embeddings keyed by ``(section, sentence)``, float32 bytes.
        records_rejected: Linked records not stored, not in ``records``
            (:func:`literature.pipeline.rejection`): impossible readings
            (:func:`impossible`), values read under a pressure that could not be read,
            and materials that are only values of variables ("x = 0.05 to x = 0.44").
    """

    paper: Paper
    mentions: list[Mention]
    records: list[PropertyRecord]
    model_version: str
    embeddings: dict[tuple[int, int], bytes] = field(default_factory=dict)
    records_rejected: int = 0
