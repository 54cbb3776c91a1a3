"""Property surrogates trained on tables, campaigns or literature records, and registered.

Three sources of training data, one result (:class:`TrainedModel`):

* :func:`train_from_table`: a CSV of formulas (or CIF structures) and a numeric target;
* :func:`train_from_campaign`: the measured trials of a composition campaign (one
  molar-fraction parameter per element);
* :func:`train_from_records`: property records read from papers (one value per formula,
  the median of its papers' readings).

Each is :func:`train` of what a ``prepare_*`` function reads and splits
(:class:`PreparedTraining`, whose data and settings hash to the model's registry version
before anything is trained): it fits :func:`discovery.property_models.fit_property_model`
on the training split (ensembles early-stop and recalibrate on the validation split; a
GP, which would train on it, never sees it) and scores its Gaussian predictions on the
validation split (:func:`discovery.diagnostics.calibration`). :func:`register` stores the
model in the registry (weights in GridFS) under ``model:{kind}:{hash[:12]}``,
:func:`registered` finds it before training again, and :func:`load_property_model`
reads it back. :func:`evaluate_table` scores a registered model on a held-out table.

Example:
    >>> from db import connect
    >>> from matloop.settings import Settings
    >>> connect(Settings().uri)  # the registry is in the database
    >>> trained = train_from_table("bulk.csv", "target", "ensemble")
    >>> version = register(trained.model, trained.diagnostics, trained.data_hash, trained.info)
    >>> load_property_model(version).predict(["NaCl"]).mean

"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Structure

from agents.campaign import MAX_LINEAGE_TRIALS, trial_lineage
from db import CampaignStore
from db.literature import LiteratureStore
from db.models import (
    FIT_METRIC,
    describe_model_record,
    load_model_record,
    model_version,
    save_model_record,
)
from discovery.campaign_models import fitting_code
from discovery.compositions import element_fractions
from discovery.datasets import refuse_unreadable, repeated
from discovery.diagnostics import calibration
from discovery.domain import MAX_ABS_VALUE, ModelArtifact
from discovery.ensembles import TrainingConfig
from discovery.featurizers import parse_formula
from discovery.property_models import (
    KINDS,
    MAX_ELEMENTS,
    Prediction,
    PropertyModel,
    PropertyModelConfig,
    fit_property_model,
)
from discovery.spaces import few
from discovery.units import absolute_zero_at_zero, check_physical, convert, convertible
from literature.formulas import read_formula
from literature.records import stated_conditions, why_impossible

Material = str | Structure

MIN_SAMPLES = 5
"""Fewest labelled materials a model is trained on: in its training file when validation
has a file of its own, else in the training part of the split (so data that is split need
at least one more, for validation)."""

DEFAULT_VAL_FRACTION = 0.1
"""Share of a table held out for validation when neither a fraction nor a file is given."""

COMPOSITION_DECIMALS = 6
"""Decimals of the molar fractions that tell compositions apart. Tables write fractional
amounts to 8 decimals (as pymatgen's ``Composition.formula`` does), so
Hf0.16666667Be0.83333333, which is HfBe5, has fractions 3e-9 off HfBe5's: the 12 decimals
of the campaign pool's check keep the two apart, and a model would be validated on its
training data."""


@dataclass(frozen=True)
class LabelledData:
    """Materials with a target value each.

    Attributes:
        materials: ``n`` formulas, or pymatgen structures (for ``crystal-gnn``).
        y: ``n`` target values (target units).
        labels: ``n`` display names (the formula as written, or the structure's formula).
        rows: ``n`` 1-based data-row numbers in the source (for error messages).
        ids: ``n`` ids of the stored items the rows were read from (a campaign's trial
            ids), for lineage; empty when the rows are not stored items (a table's). A
            row merged from repeats of one material keeps its first item's id.

    """

    materials: list[Material]
    y: np.ndarray
    labels: list[str]
    rows: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.materials)

    def subset(self, index: Sequence[int] | np.ndarray) -> LabelledData:
        """The rows at ``index``, in that order."""
        index = [int(i) for i in index]
        rows = [self.rows[i] for i in index] if self.rows else []
        ids = [self.ids[i] for i in index] if self.ids else []
        return LabelledData(
            [self.materials[i] for i in index],
            self.y[index],
            [self.labels[i] for i in index],
            rows,
            ids,
        )


@dataclass(frozen=True)
class Validation:
    """Predictions on the validation split (for parity and calibration plots).

    Attributes:
        labels: ``m`` material names.
        observed: ``m`` measured targets.
        mean: ``m`` predictive means.
        std: ``m`` predictive standard deviations (noise included, > 0).

    """

    labels: list[str]
    observed: np.ndarray
    mean: np.ndarray
    std: np.ndarray


@dataclass(frozen=True)
class TrainedModel:
    """A fitted property model with its validation diagnostics and data hash.

    Attributes:
        model: The trained surrogate.
        diagnostics: Calibration on the validation split: ``mae``, ``rmse`` and ``nll``
            (target units; NLL in nats per point), ``coverage_95``,
            ``miscalibration_area`` and ``spearman`` (None when undefined).
        data_hash: SHA-256 (64 hex digits) of the training and validation materials and
            targets (and of the ids of the records they were read from) and the model
            settings: the model's registry identity.
        info: What the model predicts and from what: ``target``, ``source``, ``unit``
            (or None), ``validation`` (how the split was made) and its lineage (the
            records and their papers, or the trials); stored with its metrics.
        validation: The validation predictions behind ``diagnostics``.
        notes: Things worth telling the user (records skipped, ...).

    """

    model: PropertyModel
    diagnostics: dict[str, float | None]
    data_hash: str
    info: dict[str, Any]
    validation: Validation
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreparedTraining:
    """What a model is trained and scored on, read and split but not yet trained.

    Attributes:
        train: The training split.
        val: The validation split.
        config: The model's settings.
        info: What the model predicts and from what (:attr:`TrainedModel.info`).
        notes: Things worth telling the user (rows merged, records skipped, ...).
        declared_unit: The target's unit where the user declared it (a table's
            ``--unit``): part of the identity, since the same numbers in another unit
            are another model, and a retrained model given its unit must not be the
            unit-less one registered before.
        record_ids: Ids of the literature records the values were read from: part of
            the identity, since records are averaged per formula, so a new record of a
            formula's value would leave the data as they were (empty for tables and
            campaigns, each of whose source rows or trials is a row of the data).

    """

    train: LabelledData
    val: LabelledData
    config: PropertyModelConfig
    info: dict[str, Any]
    notes: tuple[str, ...] = ()
    declared_unit: str | None = None
    record_ids: tuple[str, ...] = ()

    @property
    def data_hash(self) -> str:
        """:func:`data_hash` of the splits, settings, declared unit and records: the identity."""
        return data_hash(self.train, self.val, self.config, self.declared_unit, self.record_ids)

    @property
    def fit(self) -> dict[str, str]:
        """How the model is fitted besides its data and settings: by which fitting code.

        Part of its version (:data:`db.models.FIT_METRIC`), so that a model trained
        again after an upgrade of matloop or of its fitting libraries is another version,
        not the old weights under the new fit's name
        (:func:`discovery.campaign_models.fitting_code`).
        """
        return {"code": fitting_code()}

    def version(self, prefix: str = "model") -> str:
        """The version :func:`register` gives the trained model, known before training."""
        described = ModelArtifact(self.config.kind, self.data_hash, {FIT_METRIC: self.fit}, b"")
        return model_version(described, prefix)


# -- hashing and splitting -------------------------------------------------------------


def _material_text(material: Material) -> str:
    if isinstance(material, Structure):
        return json.dumps(material.as_dict(), sort_keys=True, default=str)
    return str(material)


def _used_settings(config: PropertyModelConfig) -> PropertyModelConfig:
    """``config`` with the settings its kind does not read put back to their defaults.

    A GP given ensemble settings is the same GP, and hashes as one; defaults are kept
    (not dropped), so models registered with default settings keep their versions.
    """
    if config.kind == "gp":  # of the training settings, the GP reads the seed alone
        return replace(config, training=TrainingConfig(seed=config.training.seed), hidden=None)
    # the other kinds read no GP settings; a hybrid's parts are built with their own widths
    hidden = None if config.kind == "hybrid" else config.hidden
    return PropertyModelConfig(config.kind, config.training, hidden)


#: The GP settings in the hash of every other kind, which reads none of them: the defaults
#: they had when those models were first registered, kept so that they keep their versions.
_GP_SETTINGS_OF_OTHER_KINDS = {"exact_gp_limit": 4000, "inducing_points": 512}


def _hashed_settings(config: PropertyModelConfig) -> dict[str, Any]:
    """The settings :func:`data_hash` digests: those ``config``'s kind reads."""
    settings = asdict(_used_settings(config))
    for name in ("device", "progress"):
        settings["training"].pop(name, None)
    if config.kind != "gp":
        for name in ("hyper_rows", "fit_iterations", "exact_gp_limit"):
            del settings[name]
        settings.update(_GP_SETTINGS_OF_OTHER_KINDS)
    return settings


def data_hash(
    train: LabelledData,
    val: LabelledData,
    config: PropertyModelConfig,
    unit: str | None = None,
    record_ids: Sequence[str] = (),
) -> str:
    """SHA-256 of the materials and targets of both splits and the model settings.

    The device and progress bar are left out: they do not change the model, nor do the
    settings its kind does not read (a GP's ensemble settings). The other settings are
    in: the same data trained longer, or with more members, is another model. So is a
    declared ``unit``: a model in GPa is not the same numbers with no unit (a model
    without one keeps the hash it had before units were declared). So is the set of
    ``record_ids`` the values were read from, in any order: another set of records is
    another model, whose lineage names other records (without ids, the hash is what it
    was before they were part of it). Where the data were read (a file's path) is not
    in: the same data read from anywhere is one model.

    Returns:
        64 lower-case hex digits.

    """
    settings = _hashed_settings(config)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    if unit is not None:
        digest.update(f"unit:{unit}".encode())
    if record_ids:
        digest.update(f"records:{_ids_hash(record_ids)}".encode())
    for split, data in (("train", train), ("val", val)):
        digest.update(split.encode())
        for material, value in zip(data.materials, data.y, strict=True):
            digest.update(json.dumps([_material_text(material), float(value)]).encode())
    return digest.hexdigest()


def split(data: LabelledData, val_fraction: float, seed: int) -> tuple[LabelledData, LabelledData]:
    """A seeded random train/validation split; at least one material in each part.

    Args:
        data: All labelled materials.
        val_fraction: Share of the materials held out for validation, in ``(0, 1)``.
        seed: Seed of the shuffle.

    Raises:
        ValueError: for a fraction outside ``(0, 1)`` or fewer than two materials.

    """
    train_rows, val_rows = _split_rows(len(data), val_fraction, seed)
    return data.subset(train_rows), data.subset(val_rows)


def _split_rows(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The row numbers (sorted) of :func:`split`'s training and validation parts."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction: must lie in (0, 1), got {val_fraction}")
    if n < 2:
        raise ValueError(f"a train/validation split needs at least 2 materials, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, round(val_fraction * n)), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _training_split(
    data: LabelledData, val_fraction: float, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_split_rows` of ``data``, refused when it leaves too little to train on.

    The split holds at least one material out, so ``data`` needs :data:`MIN_SAMPLES` + 1;
    and 7 materials with ``val_fraction`` 0.9 would leave 1 to train on, which no model
    fits.

    Raises:
        ValueError: ``val_fraction: ...`` for a fraction outside (0, 1) or a training part
            under :data:`MIN_SAMPLES`, naming ``what`` and the counts; ``what: ...`` for
            too few materials to split.

    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction: must lie in (0, 1), got {val_fraction}")
    if len(data) < MIN_SAMPLES + 1:
        raise ValueError(
            f"{what}: {len(data)} labelled material(s); training a model needs at least "
            f"{MIN_SAMPLES}, and a validation split holds one out: give at least "
            f"{MIN_SAMPLES + 1}"
        )
    train_rows, val_rows = _split_rows(len(data), val_fraction, seed)
    if len(train_rows) < MIN_SAMPLES:
        raise ValueError(
            f"val_fraction: {val_fraction:g} of the {len(data)} labelled materials of {what} "
            f"holds {len(val_rows)} out for validation and leaves {len(train_rows)} to train "
            f"on; training a model needs at least {MIN_SAMPLES}: give a smaller val_fraction"
        )
    return train_rows, val_rows


def settings_of(config: PropertyModelConfig) -> dict[str, Any]:
    """What a model was trained with, as ``model show`` gives it back (``settings``).

    A GP's kernel-fit sizes; a network's width and ensemble training settings (the
    device and progress bars aside, which change no weights).
    """
    if config.kind == "gp":
        names = ("hyper_rows", "fit_iterations", "exact_gp_limit")
        return {"kind": config.kind, **{name: getattr(config, name) for name in names}}
    training = {k: v for k, v in asdict(config.training).items() if k not in ("device", "progress")}
    return {"kind": config.kind, "hidden": config.hidden, **training}


def _config(kind: str, config: TrainingConfig | None, seed: int) -> PropertyModelConfig:
    if kind not in KINDS:
        raise ValueError(f"kind: unknown surrogate {kind!r}; choose from {list(KINDS)}")
    return PropertyModelConfig(kind, config or TrainingConfig(seed=seed))


def _check_size(n: int, what: str) -> None:
    """Refuse fewer materials than a model trains on (a split: :func:`_training_split`)."""
    if n < MIN_SAMPLES:
        raise ValueError(
            f"{what}: {n} labelled material(s); training a model needs at least {MIN_SAMPLES}"
        )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def train(prepared: PreparedTraining) -> TrainedModel:
    """Fit the model on the training split and score it on the validation split."""
    fit_on, val, config = prepared.train, prepared.val, prepared.config
    if config.kind == "gp":
        # fit_property_model adds the validation split to a GP's training data: fit on the
        # training split alone, so that the validation diagnostics are out of sample.
        model = fit_property_model(fit_on.materials, fit_on.y, [], np.zeros(0), config)
        model.metrics["n_val"] = len(val)
        model.metrics["val_in_training"] = False
    else:
        model = fit_property_model(fit_on.materials, fit_on.y, val.materials, val.y, config)
        # the split stopped training and scaled the spread: its coverage is not out of sample
        model.metrics["val_in_calibration"] = True
    return score(model, prepared)


def score(model: PropertyModel, prepared: PreparedTraining) -> TrainedModel:
    """``model``'s diagnostics on the validation split (a registered one's, for plots)."""
    val = prepared.val
    prediction = model.predict(val.materials)
    quality = calibration(val.y, prediction.mean, prediction.std)
    diagnostics: dict[str, float | None] = {
        "mae": quality.mae,
        "rmse": quality.rmse,
        "nll": quality.nll,
        "coverage_95": quality.coverage_95,
        "miscalibration_area": quality.miscalibration_area,
        "spearman": _finite(quality.spearman),
    }
    validation = Validation(val.labels, val.y, prediction.mean, prediction.std)
    return TrainedModel(
        model,
        diagnostics,
        prepared.data_hash,
        # the version's part (fit), as version() has it; its settings, to be read back
        {**prepared.info, "settings": settings_of(prepared.config), FIT_METRIC: prepared.fit},
        validation,
        prepared.notes,
    )


# -- tables ----------------------------------------------------------------------------


def _read_text_csv(path: Path) -> tuple[pd.DataFrame, str]:
    """The table's cells as text, and the SHA-256 of the very bytes they were read from."""
    if path.is_dir():
        raise ValueError(f"{path}: a folder, not a CSV file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found")
    content = path.read_bytes()  # read once: the digest is of what was parsed
    refuse_unreadable(content, path)
    with warnings.catch_warnings():
        # index_col=False: a row wider than the header warns (an error here) instead of
        # silently turning the first column into the index
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            # every cell as text: pandas would read sodium nitride ("NaN") as a missing value
            table = pd.read_csv(
                io.BytesIO(content), dtype=str, keep_default_na=False, index_col=False
            )
        except pd.errors.ParserWarning:  # every row wider: pandas names none
            said = _wider_row(content, path) or f"{path}: a data row has more cells than the header"
            raise ValueError(said) from None
        except (ValueError, pd.errors.ParserError) as error:  # parser errors, not UTF-8, empty
            # pandas counts lines of the file ("line 101"), blank ones too: name the data row
            wider = _wider_row(content, path) if isinstance(error, pd.errors.ParserError) else None
            raise ValueError(wider or f"{path}: {error}".strip()) from None
    _refuse_repeated_columns(content, path)
    if table.empty:
        raise ValueError(f"{path}: no data rows")
    return table, hashlib.sha256(content).hexdigest()


def _blank(row: Sequence[str]) -> bool:
    """Whether a CSV row is a line pandas skips: empty, or only whitespace."""
    return not row or (len(row) == 1 and not row[0].strip())


def _wider_row(content: bytes, path: Path) -> str | None:
    """The error naming the first data row with more cells than the header, or None.

    Rows are numbered as the other errors number them (``data row N``: the first row
    after the header is 1, blank lines are no rows), found with the csv module: pandas
    names a line of the file, or no line at all when every row is wider.
    """
    text = content.decode("utf-8-sig", errors="replace")  # pandas read it: it decodes
    rows = (row for row in csv.reader(io.StringIO(text)) if not _blank(row))
    header = next(rows, [])
    for number, row in enumerate(rows, start=1):
        if len(row) > len(header):
            empty = not any(cell.strip() for cell in row[len(header) :])
            hint = " (its extra cells are empty: a comma at the end of the line?)" if empty else ""
            cells = f"{len(row)} cells, the header has {len(header)}"
            return f"{path}: data row {number} has {cells}{hint}"
    return None


def _refuse_repeated_columns(content: bytes, path: Path) -> None:
    """Refuse a header that names a column twice, as a campaign's CSV pool does.

    pandas renames the second ``target`` ``target.1``, so a model would silently train on
    the first of two columns of one name.
    """
    text = content.decode("utf-8-sig", errors="replace")  # pandas read it: it decodes
    # pandas skips blank lines before the header: so does this
    header = next((row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)), [])
    twice = repeated([name.strip() for name in header])
    if twice:
        raise ValueError(
            f"{path}: column(s) {twice} appear more than once in the header; name each column once"
        )


def _column(table: pd.DataFrame, path: Path, column: str, role: str) -> list[str]:
    if column not in table.columns:
        raise ValueError(
            f"{path}: {role} column {column!r} not found; columns are {list(table.columns)}"
        )
    return [str(v) for v in table[column]]


def _number(text: str, where: str) -> float:
    if not text.strip():
        raise ValueError(f"{where}: empty, expected a number")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {text!r} is not finite")
    if abs(value) > MAX_ABS_VALUE:  # the bound on measured values: squares stay finite
        raise ValueError(f"{where}: {text!r} is beyond +-{MAX_ABS_VALUE:g}")
    return value


def _formula(text: str, where: str) -> str:
    """A formula as its writer meant it, read as pools and ``POST /materials`` read one.

    :func:`literature.formulas.read_formula` resolves an abbreviation with one exact
    formula (``STO`` is SrTiO3), refuses one pymatgen would misread (``YBCO``, its oxygen
    open), refuses deuterium and tritium (``D3S``, which pymatgen reads as H3S) and writes
    a hydrate out (``CuSO4.5H2O``); the featurizer's reader then checks that what is left
    is a composition it reads.

    Raises:
        ValueError: naming ``where`` and why the formula cannot be read.
    """
    if not text.strip():
        raise ValueError(f"{where}: empty, expected a formula")
    try:
        formula = read_formula(text)
    except ValueError as error:  # its own field name, "formula", is not ours
        raise ValueError(f"{where}: {str(error).removeprefix('formula: ')}") from None
    parse_formula(formula, where)  # the featurizer's own reader: its error names ``where``
    return formula


def _max_elements(kind: str | None) -> int | None:
    """Most elements a material of a ``kind`` model may have; None: no limit.

    discovery.property_models reads every composition kind (the GP's descriptors too)
    as element sets at most :data:`MAX_ELEMENTS` wide; crystal graphs have no limit.
    """
    return None if kind in (None, "crystal-gnn") else MAX_ELEMENTS


def _check_width(material: Material, where: str, kind: str | None) -> None:
    """Refuse a material wider than a ``kind`` model reads, here where its row is known."""
    limit = _max_elements(kind)
    if limit is None:
        return
    formula = _composition_formula(material)
    elements = len(parse_formula(formula, where)[0])
    if elements > limit:
        raise ValueError(
            f"{where}: {formula!r} has {elements} elements; a {kind} model reads at most {limit}"
        )


def _check_widths(data: LabelledData, where: str, kind: str) -> None:
    """Refuse, before training, materials wider than a ``kind`` model reads.

    Fitting would refuse them too, but could name only a row of the training split.
    """
    for material in data.materials:
        _check_width(material, where, kind)


def _composition_formula(material: Material) -> str:
    return material.composition.formula if isinstance(material, Structure) else material


CompositionKey = tuple[tuple[int, ...], tuple[float, ...]]
"""A composition as :func:`_composition_key` gives it: atomic numbers, molar fractions."""


def _composition_key(material: Material) -> CompositionKey:
    """A material's composition whatever its notation (Li0.5CoO2 and LiCo2O4 are one).

    Its atomic numbers and molar fractions (to :data:`COMPOSITION_DECIMALS`), as the
    campaign pool tells compositions apart; a structure's is its composition's.
    """
    zs, fs = parse_formula(_composition_formula(material))  # sorted by atomic number
    return zs, tuple(round(f, COMPOSITION_DECIMALS) for f in fs)


def _structure(text: str, where: str, folder: Path) -> Structure:
    """A structure from CIF text, or from a CIF file (a path relative to ``folder``)."""
    if not text.strip():
        raise ValueError(f"{where}: empty, expected CIF text or a CIF file")
    is_cif = "\n" in text or text.lstrip().startswith("data_")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen's notes on CIF oddities it repaired
            if is_cif:
                return Structure.from_str(text, fmt="cif")
            path = Path(text.strip())
            path = path if path.is_absolute() else folder / path
            if not path.is_file():
                raise ValueError(f"{where}: CIF file {str(path)!r} not found")
            return Structure.from_file(path)
    except ValueError as error:
        if str(error).startswith(where):
            raise
        raise ValueError(f"{where}: cannot read the structure ({error})") from None
    except Exception as error:  # pymatgen raises many kinds on malformed CIF
        raise ValueError(f"{where}: cannot read the structure ({error})") from None


#: ``StructureMatcher`` tolerances for "one crystal" (lattice, site and angle, no volume
#: rescaling): sites shifted by a tenth of an Angstrom or a supercell match, a cell
#: strained by 2% does not (pymatgen's defaults, which rescale volumes, took NaCl at 5.64
#: and 4.5 A for one crystal: a pressure series, typical training data for a crystal
#: model, would have been averaged into one row).
STRUCTURE_TOLERANCES = (0.02, 0.05, 1.0)


def _structure_matcher() -> Any:
    """A pymatgen ``StructureMatcher`` with :data:`STRUCTURE_TOLERANCES`.

    Imported here: it loads pymatgen's analysis modules, which only crystal tables need.
    """
    from pymatgen.analysis.structure_matcher import StructureMatcher

    ltol, stol, angle_tol = STRUCTURE_TOLERANCES
    return StructureMatcher(ltol=ltol, stol=stol, angle_tol=angle_tol, scale=False)


def _repeat_groups(materials: Sequence[Material], by_structure: bool) -> list[list[int]]:
    """The rows of each distinct material: one group per material, in order of first row.

    Materials are one when their compositions are one (:func:`_composition_key`, in any
    notation) and, ``by_structure``, pymatgen's ``StructureMatcher``
    (:data:`STRUCTURE_TOLERANCES`) also matches their crystals: NaCl with its sites
    shifted by 0.1 A is NaCl, its CsCl-type polymorph is not. Only structures of one
    composition are compared, so matching stays cheap on large tables.
    """
    matcher = _structure_matcher() if by_structure else None
    by_composition: dict[CompositionKey, list[list[int]]] = {}
    groups: list[list[int]] = []
    for i, material in enumerate(materials):
        alike = by_composition.setdefault(_composition_key(material), [])
        group = next(
            (g for g in alike if matcher is None or matcher.fit(materials[g[0]], material)),
            None,
        )
        if group is None:
            group = []
            alike.append(group)
            groups.append(group)
        group.append(i)
    return groups


def _merged(data: LabelledData, groups: Sequence[Sequence[int]]) -> LabelledData:
    """One row per group of ``data``'s rows: its first row, with the mean of their targets."""
    means = np.array([data.y[list(rows)].mean() for rows in groups], dtype=float)
    return replace(data.subset([rows[0] for rows in groups]), y=means)


def _merge_repeats(
    data: LabelledData, path: Path, by_structure: bool = False
) -> tuple[LabelledData, list[str]]:
    """One row per material (:func:`_repeat_groups`), the mean of its rows' targets.

    As :func:`records_data` does for records: repeats of one composition (TlY, Y2Tl2,
    Tl0.5Y0.5), or ``by_structure`` of one crystal, would otherwise land on both sides of
    the validation split, scoring the model on what it was trained on.

    Returns:
        The merged data (first row of each material, in table order) and a note saying
        how many rows were merged (none when no material repeats).

    """
    groups = _repeat_groups(data.materials, by_structure)
    if len(groups) == len(data):
        return data, []
    repeats = len(data) - len(groups)
    if by_structure:
        note = (
            f"{path}: {repeats} row(s) repeat an earlier structure (matched by pymatgen's "
            "StructureMatcher: shifts and supercells, not strain); each structure's targets "
            "were averaged into one row"
        )
    else:
        note = (
            f"{path}: {repeats} row(s) repeat an earlier composition; each composition's "
            "targets were averaged into one row"
        )
    return _merged(data, groups), [note + _widest_spread(data, groups)]


def _widest_spread(data: LabelledData, groups: Sequence[Sequence[int]]) -> str:
    """The repeated material whose rows' targets differ most, in words (a typo shows)."""
    repeated = [list(rows) for rows in groups if len(rows) > 1]
    rows = max(repeated, key=lambda g: float(np.ptp(data.y[g])))
    low, high = float(data.y[rows].min()), float(data.y[rows].max())
    if low == high:
        return " (each one's rows agree)"
    where = ", ".join(str(data.rows[i]) for i in rows[:5]) + (", ..." if len(rows) > 5 else "")
    return (
        f"; the widest spread: {data.labels[rows[0]]!r} (data rows {where}) from {low:.4g} "
        f"to {high:.4g}"
    )


def read_table(
    path: str | Path,
    target: str,
    formula_column: str = "formula",
    structure_column: str | None = None,
    kind: str | None = None,
) -> LabelledData:
    """Read labelled materials from a CSV with a header.

    Rows of one composition (in any notation: LiCo2O4 is Li0.5CoO2) are merged into one,
    the mean of their targets. Structures are merged when pymatgen's ``StructureMatcher``
    (:data:`STRUCTURE_TOLERANCES`) matches them, so polymorphs and strained cells stay
    apart, unless ``kind`` is a composition model, which reads only their composition.

    Args:
        path: CSV file, one material per row.
        target: Column of target values (numbers, finite, at most
            :data:`~discovery.domain.MAX_ABS_VALUE` in magnitude).
        formula_column: Column of chemical formulas (read when no ``structure_column``).
        structure_column: Column of crystal structures: CIF text, or the path of a CIF
            file relative to the CSV's folder.
        kind: The surrogate family the table is for (:data:`KINDS`); None: any.

    Raises:
        FileNotFoundError: if there is no such file.
        ValueError: naming the file, column and data row (1-based) of a missing column
            or one the header names twice, an empty cell, a target that is not a finite
            number or is too large, an unreadable formula (D or T among its symbols too)
            or structure, or a material with more elements than a ``kind`` model reads.

    """
    return _read_table(Path(path), target, formula_column, structure_column, kind).data


class _TableRead(NamedTuple):
    """What :func:`_read_table` read: the data, notes on rows merged, the file's digest."""

    data: LabelledData
    notes: list[str]
    sha256: str  # of the file's bytes, as read: tells whether the file changed since


def _read_table(
    path: Path,
    target: str,
    formula_column: str,
    structure_column: str | None,
    kind: str | None = None,
    unit: str | None = None,
) -> _TableRead:
    """:func:`read_table`, with notes on the rows merged and the file's SHA-256.

    With the target's ``unit``, its rows' temperatures are checked before repeats are
    merged (:func:`_temperatures_checked`), and its notes come first.
    """
    data, sha256 = _read_rows(path, target, formula_column, structure_column, kind)
    said = [] if unit is None else _temperatures_checked(data, unit, target, path)
    # polymorphs of one composition are different crystals to a crystal model
    by_structure = structure_column is not None and kind in (None, "crystal-gnn")
    merged, notes = _merge_repeats(data, path, by_structure)
    return _TableRead(merged, [*said, *notes], sha256)


def _read_rows(
    path: Path,
    target: str,
    formula_column: str,
    structure_column: str | None,
    kind: str | None = None,
    target_role: str = "target",
) -> tuple[LabelledData, str]:
    """Every data row of a table as a labelled material (none merged), and its SHA-256.

    ``target_role`` names the target column in the error for a missing one.
    """
    table, sha256 = _read_text_csv(path)
    targets = _column(table, path, target, target_role)
    if structure_column is not None:
        cells = _column(table, path, structure_column, "structure")
    else:
        cells = _column(table, path, formula_column, "formula")
    materials: list[Material] = []
    labels: list[str] = []
    y = []
    problems: list[str] = []  # every bad cell, so that one pass over the file fixes all
    for i, (cell, value) in enumerate(zip(cells, targets, strict=True)):
        row = i + 1
        try:
            y.append(_number(value, f"{target!r} in data row {row}"))
        except ValueError as error:
            problems.append(str(error))
        try:
            if structure_column is not None:
                where = f"{structure_column!r} in data row {row}"
                structure = _structure(cell, where, path.parent)
                _check_width(structure, where, kind)
                materials.append(structure)
                labels.append(structure.composition.reduced_formula)
            else:
                where = f"{formula_column!r} in data row {row}"
                formula = _formula(cell, where)
                _check_width(formula, where, kind)
                materials.append(formula)
                labels.append(" ".join(cell.split()))  # as written: STO, not SrTiO3
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise ValueError(_unreadable_cells(path, problems))
    rows = list(range(1, len(y) + 1))
    return LabelledData(materials, np.asarray(y, dtype=float), labels, rows), sha256


MAX_LISTED_PROBLEMS = 10  # bad cells a table's error lists; it counts the rest


def _unreadable_cells(path: Path, problems: Sequence[str]) -> str:
    """The error for a table's bad cells: the one, or how many and the first few."""
    if len(problems) == 1:
        return f"{path}: {problems[0]}"
    listed = "\n".join(f"  {problem}" for problem in problems[:MAX_LISTED_PROBLEMS])
    more = len(problems) - MAX_LISTED_PROBLEMS
    rest = f"\n  and {more} more" if more > 0 else ""
    return f"{path}: {len(problems)} cells cannot be read:\n{listed}{rest}"


def _shared_materials(train: LabelledData, val: LabelledData, kind: str) -> list[int]:
    """The rows of ``val`` whose material a ``kind`` model also reads in ``train``.

    A composition model reads compositions; a crystal model reads crystals, which match
    as :func:`_repeat_groups` matches repeats within one table.
    """
    both = [*train.materials, *val.materials]
    groups = _repeat_groups(both, by_structure=kind == "crystal-gnn")
    n = len(train.materials)
    return sorted(i - n for g in groups if g[0] < n for i in g if i >= n)


def _refuse_overlap(
    train: LabelledData, val: LabelledData, kind: str, path: Path, val_path: Path
) -> None:
    """Refuse a validation file holding materials of the training file, naming how many.

    Scored on materials it was trained on, a model looks better than it is.
    """
    shared = _shared_materials(train, val, kind)
    if shared:
        what = "structure(s)" if kind == "crystal-gnn" else "composition(s)"
        examples = ", ".join(f"data row {val.rows[i]} ({val.labels[i]!r})" for i in shared[:3])
        raise ValueError(
            f"val_path: {len(shared)} {what} of {val_path} are also in the training file "
            f"{path} ({examples}{', ...' if len(shared) > 3 else ''}); a model scored on "
            "what it was trained on looks better than it is: remove them from one file"
        )


def train_from_table(*args: Any, **kwargs: Any) -> TrainedModel:
    """Train a property model on a CSV table of materials and a target column.

    :func:`train` of :func:`prepare_table`, which takes the same arguments.
    """
    return train(prepare_table(*args, **kwargs))


def prepare_table(
    path: str | Path,
    target: str,
    kind: str = "ensemble",
    *,
    formula_column: str = "formula",
    structure_column: str | None = None,
    val_path: str | Path | None = None,
    val_fraction: float | None = None,
    config: TrainingConfig | None = None,
    seed: int = 0,
    unit: str | None = None,
) -> PreparedTraining:
    """Read and split a CSV table of materials and a target column for training.

    The model's ``source`` names the file by its absolute path (``table:/data/x.csv``),
    with the SHA-256 of the bytes read (``table_sha256``; ``val_table_sha256`` for
    ``val_path``): lineage, not identity, so the same file read from any folder is one
    version.

    Args:
        path: Training CSV (header row; one material per row).
        target: Target column (finite numbers, in the target's units).
        kind: Surrogate family (:data:`discovery.property_models.KINDS`): ``gp``,
            ``ensemble``, ``gnn``, ``transformer``, ``hybrid`` or ``crystal-gnn``.
        formula_column: Column of formulas (composition models).
        structure_column: Column of CIF text or CIF file paths (relative to the CSV);
            required by ``crystal-gnn``, and read as compositions by the other kinds.
        val_path: Validation CSV with the same columns; default a random split of
            ``path``.
        val_fraction: Share of ``path`` held out for validation, in ``(0, 1)``; default
            0.1. Not with ``val_path``, which gives the validation data instead.
        config: Ensemble training settings (default :class:`TrainingConfig` with
            ``seed``); ignored by ``gp``.
        seed: Seed of the validation split (and of training when ``config`` is None).
        unit: The target's unit (pint's syntax: ``GPa``, ``eV/atom``), stored with the
            model (``unit`` in its metrics): a campaign converts its predictions to its
            objective's unit, refuses them for another quantity's, and refuses a prior
            that records none for an objective that declares one. None: no unit.

    Raises:
        FileNotFoundError: if a file is missing.
        ValueError: naming the file, column and row of bad input; for a ``unit`` pint
            cannot read, an unknown kind,
            ``crystal-gnn`` without a structure column, both ``val_path`` and
            ``val_fraction``, fewer than :data:`MIN_SAMPLES` materials (repeats are
            merged, see :func:`read_table`) in ``path`` or, split, in its training part
            (``val_fraction: ...``), or a ``val_path`` that holds materials of ``path``
            (compositions; for ``crystal-gnn``, crystals pymatgen's ``StructureMatcher``
            matches).

    """
    settings = _config(kind, config, seed)
    declared = None if unit is None else checked_unit(unit)
    if val_path is not None and val_fraction is not None:  # the fraction would go unused
        raise ValueError(
            "val_fraction: holds part of the training data out for validation, and "
            "val_path gives a validation file instead: give one of them"
        )
    if kind == "crystal-gnn" and structure_column is None:
        raise ValueError(
            "structure_column: crystal-gnn reads crystal structures; name the column that "
            "holds CIF text or CIF file paths"
        )
    data, notes, sha256 = _read_table(
        Path(path), target, formula_column, structure_column, kind, declared
    )
    # lineage, not identity: where the file is and what it held (the hash is of the data)
    info: dict[str, Any] = {
        "target": target,
        "source": f"table:{Path(path).resolve()}",
        "table_sha256": sha256,
        "unit": declared,
        "formula_column": formula_column,  # how to read the file again (`model eval`)
        "structure_column": structure_column,
    }
    if val_path is not None:
        train_part = data
        val, val_notes, val_sha256 = _read_table(
            Path(val_path), target, formula_column, structure_column, kind, declared
        )
        _check_size(len(train_part), str(path))  # validation materials are not trained on
        _refuse_overlap(train_part, val, kind, Path(path), Path(val_path))
        notes += val_notes
        info |= {"validation": f"file {Path(val_path).resolve()}", "val_table_sha256": val_sha256}
    else:
        fraction = DEFAULT_VAL_FRACTION if val_fraction is None else val_fraction
        train_rows, val_rows = _training_split(data, fraction, seed, str(path))
        train_part, val = data.subset(train_rows), data.subset(val_rows)
        info["validation"] = f"random {fraction:g} (seed {seed})"
    return PreparedTraining(train_part, val, settings, info, tuple(notes), declared)


def _temperatures_checked(data: LabelledData, unit: str, target: str, path: Path) -> list[str]:
    """Refuse targets below absolute zero on an offset scale; a note on any below 0 K.

    In kelvin a negative value may be a difference (a Tc shift), so it is kept, but said:
    as an absolute temperature (a Tc of -85 K) it is a typo.

    Raises:
        ValueError: naming the file, column and data row of the lowest value, when it
            is below absolute zero in degC or degF.
    """
    if not len(data.y):
        return []
    lowest = int(np.argmin(data.y))  # below absolute zero if any is: one check, one parse
    try:
        check_physical(float(data.y[lowest]), unit)
    except ValueError as error:
        raise ValueError(f"{path}: {target!r} in data row {data.rows[lowest]}: {error}") from None
    if not absolute_zero_at_zero(unit):
        return []
    below = [str(row) for row, value in zip(data.rows, data.y, strict=True) if value < 0]
    if not below:
        return []
    return [
        f"{path}: {target!r} is below 0 {unit} in data row(s) {few(below)}: no absolute "
        "temperature is; kept, as a difference (a shift) may be"
    ]


def checked_unit(unit: str) -> str:
    """``unit`` stripped, once pint is known to read it (as a prior's is converted).

    Raises:
        ValueError: ``unit: ...`` for a blank unit, or one pint cannot read or that
            matches only itself (``a.u.``, ``wt%``): a prior in it could never be converted
            to an objective's unit.
    """
    label = unit.strip()
    if not label:
        raise ValueError("unit: blank; give the target's unit (GPa, eV/atom) or leave it out")
    if not convertible(label):
        raise ValueError(
            f"unit: {unit!r} is not a unit pint reads (GPa, eV/atom, K, mAh/g); a prior in "
            "it could not be converted to a campaign's unit"
        )
    return label


# -- campaigns -------------------------------------------------------------------------


def campaign_data(
    store: CampaignStore, name: str, objective: str | None = None
) -> tuple[LabelledData, str, str | None]:
    """The measured trials of a composition campaign as formulas and values.

    A composition campaign has one continuous parameter per element, holding its molar
    fraction; a trial's formula is the composition of its non-zero fractions.

    Returns:
        The formulas and measured values (in proposal order; each row's ``ids`` entry
        is its trial's id), the objective's name and its unit (or None).

    Raises:
        CampaignNotFoundError: if there is no such campaign.
        ValueError: for an unknown or ambiguous objective, or a campaign whose
            parameters are not element fractions.

    """
    campaign = store.get(name)
    names = [o.name for o in campaign.objectives]
    if objective is None:
        if len(names) != 1:
            raise ValueError(f"objective: campaign {name!r} has objectives {names}; choose one")
        objective = names[0]
    elif objective not in names:
        raise ValueError(f"objective: campaign {name!r} has no objective {objective!r}: {names}")
    elements = element_fractions(campaign.space) or []
    others = [p for p in campaign.space.names if p not in elements]
    if others:  # named like elements (T, P) but outside the simplex: not chemistry
        raise ValueError(
            f"campaign {name!r}: parameter(s) {others} are not element fractions; a model of "
            "materials needs a composition campaign (one made from a CSV with a formula column)"
        )
    by_trial = {m.trial_id: m for m in store.measurements(name)}
    materials: list[Material] = []
    labels: list[str] = []
    y = []
    trials: list[str] = []
    for trial in store.trials(name):
        measurement = by_trial.get(trial.id) if trial.id is not None else None
        value = None if measurement is None else measurement.values.get(objective)
        if value is None or not math.isfinite(float(value)):
            continue
        fractions = {el: float(f) for el, f in trial.parameters.items() if float(f) > 0}
        if not fractions:
            continue
        formula = Composition(fractions).formula
        materials.append(formula)
        labels.append(Composition(fractions).reduced_formula)
        y.append(float(value))
        trials.append(str(trial.id))
    unit = next(o.unit for o in campaign.objectives if o.name == objective)
    data = LabelledData(materials, np.asarray(y, dtype=float), labels, ids=trials)
    return data, objective, unit


def train_from_campaign(*args: Any, **kwargs: Any) -> TrainedModel:
    """Train a property model on a composition campaign's measurements.

    :func:`train` of :func:`prepare_campaign`, which takes the same arguments.
    """
    return train(prepare_campaign(*args, **kwargs))


def prepare_campaign(
    store: CampaignStore,
    name: str,
    objective: str | None = None,
    kind: str = "ensemble",
    *,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    config: TrainingConfig | None = None,
    seed: int = 0,
) -> PreparedTraining:
    """Read and split a composition campaign's measurements for training.

    Measurements of one composition become one row, the mean of their values, before the
    split, as a table's rows do: a CSV pool may hold one composition twice (TiO2 and
    Ti0.33333333O0.66666667, whose fractions its check tells apart, see
    :data:`COMPOSITION_DECIMALS`), and the two would otherwise land on both sides of it.

    The model lists the trials it was trained on (:func:`_campaign_lineage`) and names
    the campaign in its ``source`` (``campaign:<name>``). It is not filed under the
    campaign in the registry: a property model stands alone (another campaign may use it
    as its prior), and must outlive a campaign deleted with its own surrogates.

    Args:
        store: A connected campaign store.
        name: The campaign.
        objective: Objective modelled; default the campaign's only one.
        kind: Surrogate family (not ``crystal-gnn``: trials carry no structures).
        val_fraction: Share of the measurements held out for validation.
        config: Ensemble training settings; ignored by ``gp``.
        seed: Seed of the validation split (and of training when ``config`` is None).

    Raises:
        CampaignNotFoundError: if there is no such campaign.
        ValueError: for a campaign that is not a composition campaign, an unknown
            objective, fewer than :data:`MIN_SAMPLES` measured compositions (in the
            training part: ``val_fraction: ...``), or a measured composition with more
            elements than a ``kind`` model reads (naming it).

    """
    settings = _config(kind, config, seed)
    if kind == "crystal-gnn":
        raise ValueError("kind: crystal-gnn needs structures; a campaign's trials have none")
    measured, chosen, unit = campaign_data(store, name, objective)
    what = f"campaign {name!r} (objective {chosen!r})"
    groups = _repeat_groups(measured.materials, by_structure=False)
    data = _merged(measured, groups)
    _check_widths(data, f"campaign {name!r} measurements", kind)
    train_rows, val_rows = _training_split(data, val_fraction, seed, what)

    def trials(rows: np.ndarray) -> list[str]:  # every trial merged into the rows, in order
        return [measured.ids[i] for i in sorted(i for row in rows for i in groups[row])]

    info = {
        "target": chosen,
        "source": f"campaign:{name}",
        "unit": unit,
        "validation": f"random {val_fraction:g} (seed {seed})",
        **_campaign_lineage(trials(train_rows), trials(val_rows)),
    }
    notes: tuple[str, ...] = ()
    if repeats := len(measured) - len(data):
        notes = (
            f"campaign {name!r}: {repeats} measurement(s) repeat an earlier composition "
            "(measured again, or written another way in the pool); each composition's "
            "values were averaged into one row",
        )
    return PreparedTraining(data.subset(train_rows), data.subset(val_rows), settings, info, notes)


def _campaign_lineage(train_trials: Sequence[str], val_trials: Sequence[str]) -> dict[str, Any]:
    """Which trials a campaign's property model learned from, as a campaign's surrogate says.

    ``train_trials`` and ``train_trials_hash`` (:func:`agents.campaign.trial_lineage`),
    and the validation split's trials (``val_trials``, None past
    :data:`~agents.campaign.MAX_LINEAGE_TRIALS`): an ensemble stops training and scales
    its spread on them. Each lists every trial behind its split's rows (a row merged from
    measurements of one composition stands for all of their trials), in proposal order.
    Not part of the model's version, which stays what it was before
    trials were recorded: every measured trial is a row of the data, so other trials of
    the campaign are other data (another campaign with the very same measurements shares
    the model, and its lineage stays that of the first training).
    """
    listed = list(val_trials) if len(val_trials) <= MAX_LINEAGE_TRIALS else None
    return {**trial_lineage(train_trials), "val_trials": listed}


# -- literature records ----------------------------------------------------------------


# Qualifiers of a reading that states a value: exact or approximate (None: a record
# stored before qualifiers were).
PLAIN_QUALIFIERS: frozenset[str | None] = frozenset({"=", "~", None})


def records_data(
    store: LiteratureStore,
    property: str,
    min_confidence: float | None = None,
    unit: str | None = None,
    *,
    plain_only: bool = True,
) -> RecordsData:
    """One value per formula from stored property records: the median of its papers' readings.

    Each record counts once per paper that states it (``n_papers``), so the value 20
    papers agree on outweighs a misreading found in one: MgB2 read as 39 K in 20 papers,
    40 K in 3 and 4.4 K (tantalum's Tc) in 1 learns 39 K, where a mean of the records
    would learn 27.8 K. An even split takes the middle of the two central readings.

    By default only plain readings count: a record read under conditions (a Tc at
    5 GPa), a bound ("< 26 K") or a range ("30-48 K") is not the material's value, and
    averaging it in would bias the target. Also skipped: records without a formula
    pymatgen can read (a name such as "LSCO" or "PCCO" is never read as one), records
    in other units than ``unit`` (default: the most common unit of the property's
    records) and absolute temperatures below 0 K (misreadings stored before ingestion
    dropped them).

    Args:
        store: A connected literature store.
        property: Property name, e.g. ``"tc"``.
        min_confidence: Only records at least this confident.
        unit: Only records in this unit (default: the most common one).
        plain_only: False: every record counts by its ``value`` (a range's middle, a
            bound's limit), whatever its conditions.

    Returns:
        The labelled formulas (one per composition, whatever its notation: the first of
        its records' reduced formulas; sorted), notes on how many records were skipped
        and why, the unit of the values (None when there are no records), the ids of
        the records used and, for each of them, the papers it had been read in when it
        was read here (a record gains the papers ingested later).

    """
    store.check_property(property, "property")  # "band_gap": name those records may have
    rows, _ = store.records(
        store.records_query(property=property, min_confidence=min_confidence),
        limit=10**9,
        sentences=False,
    )
    units = Counter(str(r.get("unit", "")) for r in rows)
    chosen = unit if unit is not None else (units.most_common(1)[0][0] if units else None)
    values: dict[tuple[tuple[int, ...], tuple[float, ...]], list[float]] = {}  # per paper
    names: dict[tuple[tuple[int, ...], tuple[float, ...]], str] = {}
    used: list[str] = []
    papers: dict[str, list[str]] = {}
    skipped: Counter[str] = Counter()
    for row in rows:
        reason = _skip_reason(row, chosen, plain_only)
        formula = _reduced_formula(row) if reason is None else None
        if reason is None and formula is None:
            reason = "no formula pymatgen can read"
        if reason is not None:
            skipped[reason] += 1
            continue
        value = float(row["value"])
        if formula is not None and math.isfinite(value):
            key = _composition_key(formula)  # La1.85Sr0.15CuO4 is La37Sr3Cu20O80
            values.setdefault(key, []).extend([value] * max(1, int(row.get("n_papers") or 1)))
            # the first in sort order, not in reading order: the data hash stays put
            names[key] = min(names.get(key, formula), formula)
            used.append(str(row["id"]))
            papers[str(row["id"])] = _paper_keys(row)
    if min_confidence is not None:  # the query left them out: say so, or 0 records puzzle
        _, every = store.records(store.records_query(property=property), limit=1, sentences=False)
        if every > len(rows):
            skipped[f"confidence under {min_confidence:g}"] += every - len(rows)
    _, rejected = store.records(
        store.records_query(property=property), limit=1, sentences=False, rejected="only"
    )
    if rejected:  # left out by the query too: a curator said they are wrong
        skipped["rejected by a curator (`literature reject`)"] += rejected
    notes = [f"{n} record(s) skipped: {reason}" for reason, n in sorted(skipped.items())]
    keys = sorted(values, key=lambda k: (names[k], k))
    formulas: list[Material] = [names[k] for k in keys]
    y = np.array([float(np.median(values[k])) for k in keys], dtype=float)
    data = LabelledData(formulas, y, [names[k] for k in keys])
    return RecordsData(data, notes, chosen, used, papers)


class RecordsData(NamedTuple):
    """What :func:`records_data` read: the training data and where it came from."""

    data: LabelledData
    notes: list[str]
    unit: str | None
    record_ids: list[str]  # lineage: the records behind the values, in reading order
    # record id -> keys of the papers it was read in, then (sorted): a snapshot
    record_papers: dict[str, list[str]]


def _paper_keys(row: Mapping[str, Any]) -> list[str]:
    """The keys of the papers a record row was read in, sorted, each once."""
    return sorted({str(source["paper"]) for source in row.get("sources") or []})


def _skip_reason(row: Mapping[str, Any], unit: str | None, plain_only: bool) -> str | None:
    """Why a record is not a training value of its material, or None when it is."""
    if str(row.get("unit", "")) != unit:
        return f"unit other than {unit!r}"
    stated = (row.get(k) for k in ("value", "low", "high"))
    if why := why_impossible(str(row.get("property")), row.get("unit"), *stated):
        return why
    if not plain_only:
        return None
    conditions = stated_conditions(dict(row.get("conditions") or {}))
    if conditions:
        return f"read under conditions ({', '.join(sorted(conditions))})"
    if row.get("qualifier") not in PLAIN_QUALIFIERS:
        return f"a bound, not a value (qualifier {row['qualifier']!r})"
    low, high = row.get("low"), row.get("high")
    if low is not None and high is not None and low != high:
        return "a range, not a value"
    return None


def _reduced_formula(row: Mapping[str, Any]) -> str | None:
    """The record's formula, reduced, or None when it has none pymatgen can read.

    A record without a formula names its material ("PCCO", "BSCCO"): read as a formula,
    the name would give another compound (PC2O), so it is never read.
    """
    text = row.get("formula") or ""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            composition = Composition(text)
            parse_formula(text)
        if not composition.valid or composition.num_atoms <= 0:
            return None
    except Exception:  # pymatgen raises many kinds on text that is not a formula
        return None
    return str(composition.reduced_formula)


def train_from_records(*args: Any, **kwargs: Any) -> TrainedModel:
    """Train a property model on literature property records (see :func:`records_data`).

    :func:`train` of :func:`prepare_records`, which takes the same arguments.
    """
    return train(prepare_records(*args, **kwargs))


def prepare_records(
    store: LiteratureStore,
    property: str,
    kind: str = "ensemble",
    *,
    min_confidence: float | None = None,
    unit: str | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    config: TrainingConfig | None = None,
    seed: int = 0,
) -> PreparedTraining:
    """Read and split literature property records for training (see :func:`records_data`).

    Args:
        store: A connected literature store.
        property: Property name, e.g. ``"tc"``.
        kind: Surrogate family (not ``crystal-gnn``: records carry no structures).
        min_confidence: Only records at least this confident.
        unit: Only records in this unit (default: the most common one).
        val_fraction: Share of the formulas held out for validation.
        config: Ensemble training settings; ignored by ``gp``.
        seed: Seed of the validation split (and of training when ``config`` is None).

    Raises:
        ValueError: for fewer than :data:`MIN_SAMPLES` readable formulas (in all, or in
            the training part of the split: ``val_fraction: ...``), or a formula with more
            elements than a ``kind`` model reads (naming it).

    """
    settings = _config(kind, config, seed)
    if kind == "crystal-gnn":
        raise ValueError("kind: crystal-gnn needs structures; literature records have none")
    data, notes, data_unit, record_ids, papers = records_data(store, property, min_confidence, unit)
    if not len(data) and not notes:  # nothing read, nothing skipped: nothing stored
        raise ValueError(
            f"property {property!r}: no records are stored; `matloop literature ingest PATHS` "
            "reads papers into records"
        )
    if len(data) < MIN_SAMPLES + 1:  # one more for the validation split
        skipped = f" ({'; '.join(notes)})" if notes else ""
        raise ValueError(
            f"property {property!r}: {len(data)} material(s) with a readable formula{skipped}; "
            f"training a model needs at least {MIN_SAMPLES}, and a validation split holds "
            f"one out: give at least {MIN_SAMPLES + 1}"
        )
    _check_widths(data, f"property {property!r} records", kind)
    train_rows, val_rows = _training_split(data, val_fraction, seed, f"property {property!r}")
    train_part, val = data.subset(train_rows), data.subset(val_rows)
    info = {
        "target": property,
        "source": f"records:{property}",
        "unit": data_unit,
        "validation": f"random {val_fraction:g} (seed {seed})",
        "min_confidence": min_confidence,
        **_lineage(record_ids, papers),
    }
    return PreparedTraining(
        train_part, val, settings, info, tuple(notes), record_ids=tuple(record_ids)
    )


#: Most record ids, and most paper keys, a model's metrics list (a MongoDB document
#: holds 16 MB); beyond, the count and hash still identify the set.
MAX_LINEAGE_IDS = 20_000


def _ids_hash(ids: Sequence[str]) -> str:
    """SHA-256 of a set of ids or keys, whatever their order."""
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def _lineage(record_ids: Sequence[str], papers: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Which records, and papers, a model learned from: counts, hashes, (up to a cap) ids.

    Each record names the papers and sentences it was read from, so the ids carry
    lineage from paper to record to model; but a record gains the papers ingested after
    the model was trained, so the papers it had been read in then are listed too
    (``record_papers``: their keys, sorted; a record's papers then are those of its
    papers now that the list holds).
    """
    keys = sorted({key for record in record_ids for key in papers.get(record, ())})
    return {
        "records_used": len(record_ids),
        "records_hash": _ids_hash(record_ids),
        "record_ids": list(record_ids) if len(record_ids) <= MAX_LINEAGE_IDS else None,
        "papers_used": len(keys),
        "record_papers_hash": _ids_hash(keys),
        "record_papers": keys if len(keys) <= MAX_LINEAGE_IDS else None,
    }


# -- registry --------------------------------------------------------------------------


def _bson_ready(value: Any) -> Any:
    """Metrics as plain Python: numpy scalars and arrays to floats and lists."""
    if isinstance(value, Mapping):
        return {str(k): _bson_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_bson_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_bson_ready(v) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _check_diagnostics(diagnostics: Mapping[str, float | None]) -> None:
    """Refuse validation metrics that are NaN or infinite (None: undefined, allowed)."""
    bad = [
        f"{name} = {value}"
        for name, value in diagnostics.items()
        if value is not None and not math.isfinite(value)
    ]
    if bad:  # a model that predicts NaN would break every campaign that used it
        raise ValueError(
            f"validation {', '.join(bad)}: the model's predictions are not finite; "
            "it is not registered"
        )


def register(
    model: PropertyModel,
    diagnostics: Mapping[str, float | None],
    data_hash: str,
    info: Mapping[str, Any] | None = None,
    prefix: str = "model",
) -> str:
    """Store a trained model in the registry; the same kind and data hash register once.

    The stored metrics are the model's own (sizes, seconds, per-member history), the
    validation diagnostics prefixed ``val_`` and ``info`` (target, source, unit, lineage).

    Args:
        model: The trained model.
        diagnostics: Validation calibration (:attr:`TrainedModel.diagnostics`).
        data_hash: SHA-256 of its data and settings (:attr:`TrainedModel.data_hash`).
        info: Extra metadata stored with the metrics.
        prefix: First part of the version.

    Returns:
        The version, ``"{prefix}:{kind}:{digest[:12]}"``: :func:`db.models.model_version`
        of the data hash and the ``fit`` in ``info`` (:attr:`PreparedTraining.fit`).

    Raises:
        ValueError: naming the validation metrics that are not finite (NaN or infinite).

    """
    _check_diagnostics(diagnostics)
    metrics = {
        **model.metrics,
        **{f"val_{k}": v for k, v in diagnostics.items()},
        **(info or {}),
    }
    artifact = ModelArtifact(
        kind=model.kind,
        data_hash=data_hash,
        metrics=_bson_ready(metrics),
        weights=model.to_bytes(),
        featurizer_version=model.featurizer_version,
    )
    return save_model_record(artifact, prefix)


def register_trained(trained: TrainedModel, prefix: str = "model") -> str:
    """:func:`register` a :class:`TrainedModel` with its diagnostics, hash and info."""
    return register(trained.model, trained.diagnostics, trained.data_hash, trained.info, prefix)


def registered(prepared: PreparedTraining, prefix: str = "model") -> dict[str, Any] | None:
    """The registered model of the same data and settings, or None: training it is wasted.

    Returns:
        Its record as :func:`db.models.describe_model_record` gives it (version, stored
        metrics, ...; no weights).

    """
    try:
        return describe_model_record(prepared.version(prefix))
    except LookupError:
        return None


#: Metrics that say where a model's data came from: beside its version, not part of it.
LINEAGE_METRICS = (
    "source",
    "table_sha256",
    "val_table_sha256",
    "train_trials_hash",
    "record_papers_hash",
)


def lineage_changes(prepared: PreparedTraining, stored: Mapping[str, Any]) -> list[str]:
    """The lineage metrics that ``stored`` (a registered model's metrics) holds otherwise.

    A model is registered once per data and settings (:func:`registered`): the same data
    read from another file, or from another campaign's trials, is the model registered
    first, whose metrics keep the lineage of that first training (or none, for a model
    registered before its lineage was recorded). Named here, so that it can be said.

    Returns:
        The names, of :data:`LINEAGE_METRICS`, that ``prepared`` records and ``stored``
        records otherwise or not at all; empty when the lineage is the same.

    """
    info = prepared.info
    return [name for name in LINEAGE_METRICS if name in info and stored.get(name) != info[name]]


def load_property_model(version: str, device: str | None = None) -> PropertyModel:
    """A registered property model, ready to predict.

    Args:
        version: Registry version (``matloop model list``).
        device: ``cpu`` or ``cuda`` for ensembles (default: ``cuda`` when present).

    Raises:
        LookupError: if no model has that version.
        ValueError: if the version is not a property model (a campaign's surrogate, a
            tagger), its weights are not a property model's (naming what they lack), or it
            was trained with another featurizer version than this code's.

    """
    what = _not_a_property_model(version)
    if what is not None:
        raise ValueError(
            f"model {version!r} is {what}, not a property model of materials: those are "
            f"trained with `matloop model train` ({', '.join(KINDS)}), a campaign's "
            "measurements too (--campaign NAME)"
        )
    artifact = load_model_record(version)
    try:
        return PropertyModel.from_bytes(artifact.weights, device)
    except ValueError as error:
        raise ValueError(f"model {version!r}: {error}") from None


def _not_a_property_model(version: str) -> str | None:
    """What the registered ``version`` is when it is no property model, else None.

    A campaign's surrogate may have a property model's kind (gp, ensemble, gnn,
    transformer) and a featurizer version, but it reads a campaign's encoded inputs, not
    materials: it is told by the campaign it belongs to (property models belong to none).
    One whose campaign record is gone is told by its missing featurizer version (a GP's).

    Raises:
        LookupError: if no model has that version.

    """
    described = describe_model_record(version)  # no weights read
    if described["kind"] not in KINDS:
        return f"a {described['kind']} model"
    if described["campaign"] is not None:
        return f"a campaign's surrogate (campaign {described['campaign']!r})"
    if described["featurizer_version"] is None:
        return "a campaign's surrogate"
    return None


def read_materials(kind: str, items: Sequence[str], folder: str | Path = ".") -> list[Material]:
    """Materials to predict: formulas, or for ``crystal-gnn`` CIF files.

    Formulas are read as a pool's are (:func:`_formula`): ``STO`` is SrTiO3, ``YBCO``
    (its oxygen open) is refused, ``CuSO4.5H2O`` is written out. D and T are refused:
    pymatgen would read them as hydrogen (D3S as H3S).

    Args:
        kind: The model's kind.
        items: Formulas, or CIF file paths (relative to ``folder``) or CIF text.
        folder: Folder that relative CIF paths start from.

    Returns:
        The formulas as meant, or the structures, in the order of ``items``.

    Raises:
        ValueError: naming the item that cannot be read, or that has more elements than
            a ``kind`` model reads.

    """
    if kind == "crystal-gnn":
        return [
            _structure(text, f"material {i + 1} ({text!r})", Path(folder))
            for i, text in enumerate(items)
        ]
    formulas: list[Material] = [_formula(text, f"material {i + 1}") for i, text in enumerate(items)]
    for i, formula in enumerate(formulas):
        _check_width(formula, f"material {i + 1}", kind)
    return formulas


def predict(model: PropertyModel, materials: Sequence[Material]) -> Prediction:
    """Gaussian predictions (mean, std, epistemic std; target units) for ``materials``."""
    return model.predict(list(materials))


# -- scoring a held-out table ----------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """A registered property model's predictions of a labelled table, and their scores.

    Attributes:
        version: The model's registry version.
        path: The table scored.
        target: Its target column.
        unit: The model's unit, that of the targets, predictions and scores (None: it
            records none).
        data: The table's rows, none merged (targets converted to ``unit``).
        mean: Predictive means, one a row.
        std: Predictive standard deviations (noise included), one a row.
        scores: ``n``, ``mae``, ``rmse``, ``r2``, ``nll`` (Gaussian, nats per row),
            ``coverage_95`` (share inside the central 95% interval),
            ``miscalibration_area`` and ``spearman`` (of the errors with the std); None
            where undefined.
        notes: Things worth telling the user (the file is the model's training file).

    """

    version: str
    path: Path
    target: str
    unit: str | None
    data: LabelledData
    mean: np.ndarray
    std: np.ndarray
    scores: dict[str, float | int | None]
    notes: tuple[str, ...] = ()


def evaluate_table(
    version: str,
    path: str | Path,
    target: str | None = None,
    *,
    formula_column: str = "formula",
    structure_column: str | None = None,
    unit: str | None = None,
    device: str | None = None,
) -> Evaluation:
    """Score a registered property model on a labelled CSV, read as a training table is.

    Every row is scored, repeats of a material too (training merges them): scores per
    row, as published test-set MAEs are.

    Args:
        version: Registry version of a property model.
        path: CSV with a header, one material a row (read as :func:`read_table` reads).
        target: Target column (default: the model's target, the column it was trained on).
        formula_column: Column of formulas (composition models).
        structure_column: Column of CIF text or CIF file paths (relative to the CSV);
            required for a ``crystal-gnn`` model.
        unit: Unit of the target's values (pint's syntax), converted to the model's;
            None: they are in the model's unit.
        device: ``cpu`` or ``cuda`` for ensembles (default: ``cuda`` when present).

    Raises:
        LookupError: if no model has that version.
        ValueError: what :func:`load_property_model` refuses (a campaign's surrogate, a
            policy, a tagger); ``unit: ...`` for a unit that cannot be converted to the
            model's (or a model without one); ``structure_column: ...`` for a
            ``crystal-gnn`` model without one; naming the file, column and data row of
            bad input, as :func:`read_table` does.

    """
    model = load_property_model(version, device)  # refuses what `model predict` refuses
    stored = describe_model_record(version)["metrics"]
    scale, offset = _unit_conversion(unit, stored.get("unit"), version)
    if model.kind == "crystal-gnn" and structure_column is None:
        raise ValueError(
            "structure_column: a crystal-gnn model reads crystal structures; name the column "
            "that holds CIF text or CIF file paths"
        )
    column = target if target is not None else stored.get("target")
    if column is None:
        raise ValueError(f"target: model {version!r} records no target; name the target column")
    role = "target" if target is not None else "the model's target"
    path = Path(path)
    data, sha256 = _read_rows(path, column, formula_column, structure_column, model.kind, role)
    data = replace(data, y=scale * data.y + offset)
    prediction = predict(model, data.materials)
    return Evaluation(
        version,
        path,
        column,
        stored.get("unit"),
        data,
        prediction.mean,
        prediction.std,
        _scores(data.y, prediction.mean, prediction.std),
        tuple(
            _same_file_notes(sha256, stored, version, path)
            or _trained_on_notes(
                stored, data, model.kind, version, formula_column, structure_column
            )
        ),
    )


def _unit_conversion(unit: str | None, model_unit: str | None, version: str) -> tuple[float, float]:
    """Scale and offset taking values in ``unit`` to the model's; (1, 0) for none given.

    pint's conversions are affine (temperatures have offsets): two points give them all,
    so a large table is converted without asking pint for every row.

    Raises:
        ValueError: ``unit: ...`` for a blank unit, a model that records none, or a unit
            pint cannot convert to the model's.

    """
    if unit is None or unit.strip() == model_unit:
        return 1.0, 0.0
    label = unit.strip()
    if not label:
        raise ValueError("unit: blank; give the unit of the target's values or leave it out")
    if model_unit is None:
        raise ValueError(
            f"unit: model {version!r} records no unit, so values in {label!r} cannot be "
            "converted to its; leave it out to score the numbers as they are"
        )
    try:
        offset = convert(0.0, label, model_unit)
        scale = convert(1.0, label, model_unit) - offset
    except ValueError:
        raise ValueError(
            f"unit: {label!r} cannot be converted to the model's unit {model_unit!r}"
        ) from None
    return scale, offset


def _scores(observed: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict[str, Any]:
    """:func:`~discovery.diagnostics.calibration`'s scores, with n and R^2."""
    quality = calibration(observed, mean, std)
    return {
        "n": len(observed),
        "mae": quality.mae,
        "rmse": quality.rmse,
        "r2": _r2(observed, mean),
        "nll": quality.nll,
        "coverage_95": quality.coverage_95,
        "miscalibration_area": quality.miscalibration_area,
        "spearman": _finite(quality.spearman),
    }


def _r2(observed: np.ndarray, mean: np.ndarray) -> float | None:
    """The coefficient of determination; None for fewer than 2 rows or a constant target."""
    spread = float(np.sum((observed - observed.mean()) ** 2))
    if len(observed) < 2 or spread == 0:
        return None
    return 1.0 - float(np.sum((observed - mean) ** 2)) / spread


def _same_file_notes(sha256: str, stored: Mapping[str, Any], version: str, path: Path) -> list[str]:
    """Say so when the scored file is one the model was trained or validated on."""
    if sha256 == stored.get("table_sha256"):
        return [f"{path} is the file {version} was trained on: its scores are not held out"]
    if sha256 == stored.get("val_table_sha256") and stored.get("val_in_calibration"):
        return [
            f"{path} is the validation file of {version}, which chose its epochs and scaled "
            "its spread: its scores are optimistic"
        ]
    return []


def _trained_on_notes(
    stored: Mapping[str, Any],
    data: LabelledData,
    kind: str,
    version: str,
    formula_column: str,
    structure_column: str | None,
) -> list[str]:
    """Say how many scored rows are materials the model was trained or validated on.

    Read from its training and validation files where they are still on disk as they
    were (their SHA-256 as stored), with the columns it was trained on (these, for a
    model that does not record them): a file of some of the training rows is no
    held-out test, though it is not the training file. Not for crystal models, whose
    structures would all be matched again on every eval.
    """
    if kind == "crystal-gnn":
        return []
    formula_column = stored.get("formula_column") or formula_column
    structure_column = stored.get("structure_column") or structure_column
    files = [
        (stored.get("source"), "table:", stored.get("table_sha256"), "trained"),
        (stored.get("validation"), "file ", stored.get("val_table_sha256"), "validated"),
    ]
    notes = []
    for named, prefix, sha256, how in files:
        if not (isinstance(named, str) and named.startswith(prefix) and sha256):
            continue
        seen = Path(named.removeprefix(prefix))
        try:
            read, now = _read_rows(seen, stored["target"], formula_column, structure_column, kind)
        except (OSError, KeyError, ValueError):  # gone, or read with other columns
            continue
        if now != sha256:
            continue  # changed since: what it held then is not known
        shared = _shared_materials(read, data, kind)
        if shared:
            notes.append(
                f"{len(shared)} of the {len(data.y)} rows scored are materials of {seen}, "
                f"which {version} was {how} on: their scores are not held out"
            )
    return notes


def write_predictions(evaluation: Evaluation, path: str | Path) -> Path:
    """Write an evaluation's rows as CSV: data_row, formula, target, mean, std.

    Targets and predictions are in the model's unit; the formula is the row's as
    written (a structure's reduced formula). The folder is made when missing.

    Returns:
        The path written.

    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = evaluation.data
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["data_row", "formula", "target", "mean", "std"])
        for i, label in enumerate(data.labels):
            values = (data.y[i], evaluation.mean[i], evaluation.std[i])
            writer.writerow([data.rows[i], label, *(float(v) for v in values)])
    return path


def write_plots(trained: TrainedModel, folder: str | Path) -> list[Path]:
    """Parity and calibration plots of the validation predictions, as PNGs.

    Args:
        trained: The trained model.
        folder: Where to write ``parity.png`` and ``calibration.png`` (created).

    Returns:
        The paths written.

    """
    from discovery.plots import calibration_plot, parity_plot

    folder = Path(folder)
    v = trained.validation
    target = trained.info.get("target", "")
    title = f"{trained.model.kind}: {target} (validation, n={len(v.labels)})"
    unit = trained.info.get("unit") or ""
    return [
        parity_plot(v.observed, v.mean, v.std, folder / "parity.png", title, unit),
        calibration_plot(v.observed, v.mean, v.std, folder / "calibration.png", title),
    ]


__all__ = [
    "COMPOSITION_DECIMALS",
    "DEFAULT_VAL_FRACTION",
    "LINEAGE_METRICS",
    "MIN_SAMPLES",
    "Evaluation",
    "LabelledData",
    "PreparedTraining",
    "TrainedModel",
    "Validation",
    "campaign_data",
    "checked_unit",
    "data_hash",
    "evaluate_table",
    "lineage_changes",
    "load_property_model",
    "predict",
    "prepare_campaign",
    "prepare_records",
    "prepare_table",
    "read_materials",
    "read_table",
    "records_data",
    "register",
    "register_trained",
    "registered",
    "score",
    "split",
    "train",
    "train_from_campaign",
    "train_from_records",
    "train_from_table",
    "write_plots",
    "write_predictions",
]
