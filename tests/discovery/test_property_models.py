"""Property surrogates on real formulas and rock-salt crystals: fit, predict, store, reload."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from pymatgen.core import Composition, Lattice, Structure

from discovery import property_models
from discovery.ensembles import TrainingConfig
from discovery.featurizers import featurizer_version
from discovery.property_models import (
    KINDS,
    Prediction,
    PropertyModel,
    PropertyModelConfig,
    fit_property_model,
)

REPO = Path(__file__).resolve().parents[2]
DATA_NAME = "aflow__ael_bulk_modulus_vrh"
DATA_FOLDERS = (REPO.parent / "shared" / "data" / "property" / DATA_NAME,)

#: Tiny training: two members, a few epochs, on the CPU.
TINY_TRAINING = TrainingConfig(
    n_members=2, epochs=4, patience=4, batch_size=16, lr=3e-3, seed=0, device="cpu"
)

# tiny models: on a busy machine, intra-op threads only wait on each other
pytestmark = pytest.mark.usefixtures("single_torch_thread")

#: ``(name, config)`` of every composition surrogate checked here.
COMPOSITION_CONFIGS = {
    "ensemble": PropertyModelConfig("ensemble", TINY_TRAINING, hidden=16),
    "gnn": PropertyModelConfig("gnn", TINY_TRAINING, hidden=8),
    "transformer": PropertyModelConfig("transformer", TINY_TRAINING, hidden=8),
    "gp-exact": PropertyModelConfig("gp"),
    # kernel fitted on 12 rows, conditioned on a sample of 25 of the 40
    "gp-sampled": PropertyModelConfig("gp", hyper_rows=12, exact_gp_limit=25),
    "hybrid": PropertyModelConfig("hybrid", TINY_TRAINING),
}


@pytest.fixture(scope="module")
def bulk_modulus_rows() -> pd.DataFrame:
    """The first 40 rows (formula, bulk modulus in GPa) of the AFLOW training split."""
    for folder in DATA_FOLDERS:
        path = folder / "train.csv"
        if path.is_file():
            # keep_default_na=False: formulas such as "NaN" (sodium nitride) are not gaps
            return pd.read_csv(path, keep_default_na=False, nrows=40)
    pytest.skip(f"property data {DATA_NAME!r} is not on this machine (looked in {DATA_FOLDERS})")


@pytest.fixture(scope="module")
def splits(bulk_modulus_rows: pd.DataFrame) -> dict[str, object]:
    rows = bulk_modulus_rows
    return {
        "train": list(rows.formula[:30]),
        "y": rows.target.to_numpy(float)[:30],
        "val": list(rows.formula[30:]),
        "y_val": rows.target.to_numpy(float)[30:],
    }


@pytest.fixture(scope="module", params=sorted(COMPOSITION_CONFIGS))
def composition_model(request: pytest.FixtureRequest, splits: dict) -> tuple[str, PropertyModel]:
    name = request.param
    model = fit_property_model(
        splits["train"], splits["y"], splits["val"], splits["y_val"], COMPOSITION_CONFIGS[name]
    )
    return name, model


def rock_salt(cation: str, anion: str, a: float) -> Structure:
    """Conventional (8-atom) rock-salt cell with lattice constant ``a`` (angstrom)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


@pytest.fixture(scope="module")
def rock_salts() -> dict[str, object]:
    """Six rock salts; the target is the lattice constant (angstrom)."""
    table = [
        ("Na", "Cl", 5.64),
        ("K", "Cl", 6.29),
        ("Mg", "O", 4.21),
        ("Li", "F", 4.03),
        ("Ca", "O", 4.81),
        ("Na", "F", 4.63),
    ]
    structures = [rock_salt(cation, anion, a) for cation, anion, a in table]
    targets = np.array([a for _, _, a in table])
    return {"train": structures[:4], "y": targets[:4], "val": structures[4:], "y_val": targets[4:]}


@pytest.fixture(scope="module")
def crystal_model(rock_salts: dict) -> PropertyModel:
    training = TrainingConfig(
        n_members=1, epochs=3, patience=3, batch_size=2, lr=3e-3, seed=0, device="cpu"
    )
    return fit_property_model(
        rock_salts["train"],
        rock_salts["y"],
        rock_salts["val"],
        rock_salts["y_val"],
        PropertyModelConfig("crystal-gnn", training, hidden=8),
    )


@pytest.fixture(scope="module")
def nacl_structure() -> Structure:
    return rock_salt("Na", "Cl", 5.64)


def assert_valid_prediction(prediction: Prediction, n: int) -> None:
    assert prediction.mean.shape == prediction.std.shape == prediction.epistemic_std.shape == (n,)
    assert np.all(np.isfinite(prediction.mean))
    assert np.all(prediction.std > 0)
    assert np.all(prediction.epistemic_std >= 0)
    assert np.all(prediction.epistemic_std <= prediction.std * (1 + 1e-9))


def assert_same_prediction(got: Prediction, want: Prediction) -> None:
    for field in ("mean", "std", "epistemic_std"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=1e-9, atol=0)


# ---------------------------------------------------------------- composition models


def test_composition_model_predicts(
    composition_model: tuple[str, PropertyModel], splits: dict
) -> None:
    name, model = composition_model
    assert model.kind == COMPOSITION_CONFIGS[name].kind
    prediction = model.predict([*splits["val"], "Fe", "LiFePO4"])
    assert_valid_prediction(prediction, len(splits["val"]) + 2)
    assert model.metrics["n_train"] == 30
    assert model.metrics["n_val"] == 10
    if name.startswith("gp-"):
        assert model.metrics["gp"] == "exact"
        assert model.metrics["gp_rows"] == {"gp-exact": 40, "gp-sampled": 25}[name]
    elif name == "hybrid":
        assert [len(part["members"]) for part in model.metrics["parts"]] == [2, 2]
        assert model.metrics["scale"] > 0
    else:
        assert len(model.metrics["members"]) == 2
        assert model.metrics["recalibration_scale"] > 0


def test_composition_model_bytes_round_trip(
    composition_model: tuple[str, PropertyModel], splits: dict
) -> None:
    _, model = composition_model
    restored = PropertyModel.from_bytes(model.to_bytes(), device="cpu")
    assert restored.kind == model.kind
    assert restored.featurizer_version == model.featurizer_version
    assert restored.metrics == model.metrics
    materials = [*splits["val"], "NaCl"]
    assert_same_prediction(restored.predict(materials), model.predict(materials))


def test_structures_are_read_as_their_composition(
    composition_model: tuple[str, PropertyModel], nacl_structure: Structure
) -> None:
    _, model = composition_model
    by_structure = model.predict([nacl_structure])
    by_formula = model.predict(["NaCl"])
    assert_same_prediction(by_structure, by_formula)


def test_empty_prediction(composition_model: tuple[str, PropertyModel]) -> None:
    _, model = composition_model
    assert_valid_prediction(model.predict([]), 0)


#: ``(hyper_rows, exact_gp_limit)``: the kernel fitted on all rows, on a subset, on a
#: subset of a sample.
GP_SUBSETS = [(1000, 8000), (3, 8000), (3, 5)]
GP_SUBSET_IDS = ["all", "kernel-subset", "sampled"]


@pytest.mark.parametrize(("hyper_rows", "exact_gp_limit"), GP_SUBSETS, ids=GP_SUBSET_IDS)
def test_gp_on_compositions_with_constant_features(hyper_rows: int, exact_gp_limit: int) -> None:
    # all 1:1 binaries: the p-norm columns are constant, which must not give NaN inputs
    formulas = ["NaCl", "KCl", "MgO", "LiF", "CaO", "NaF", "FeO", "NiO"]
    config = PropertyModelConfig("gp", hyper_rows=hyper_rows, exact_gp_limit=exact_gp_limit)
    y = np.arange(8.0)
    model = fit_property_model(formulas[:6], y[:6], formulas[6:], y[6:], config)
    assert_valid_prediction(model.predict(["CoO", "KF"]), 2)


#: Simple binaries; their target below (mean atomic mass, u) is a smooth composition property.
BINARIES = ["NaCl", "KCl", "MgO", "LiF", "CaO", "NaF", "FeO", "NiO", "KBr", "CsI", "ZnS", "AlN"]


@pytest.mark.parametrize("unit", [1e-9, 1e-11])
@pytest.mark.parametrize(("hyper_rows", "exact_gp_limit"), GP_SUBSETS, ids=GP_SUBSET_IDS)
def test_gp_predictions_follow_the_target_units(
    hyper_rows: int, exact_gp_limit: int, unit: float
) -> None:
    # the same data in another unit may only rescale the predictions; raw targets ~1e-9
    # hit botorch's and gpytorch's absolute floors (std 1e-5 for every material)
    y = np.array([Composition(f).weight / Composition(f).num_atoms for f in BINARIES])
    config = PropertyModelConfig("gp", hyper_rows=hyper_rows, exact_gp_limit=exact_gp_limit)

    def predict(scale: float) -> Prediction:
        model = fit_property_model(BINARIES[:9], scale * y[:9], BINARIES[9:], scale * y[9:], config)
        return model.predict(["CoO", "KF", "GaN"])

    base, scaled = predict(1.0), predict(unit)
    for field in ("mean", "std", "epistemic_std"):
        np.testing.assert_allclose(getattr(scaled, field), unit * getattr(base, field), rtol=0.02)


def test_a_gp_conditions_on_every_row_with_the_kernel_fitted_on_a_subset(
    splits: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted: list[Any] = []
    fit_hyperparameters = property_models._fit_hyperparameters

    def spy(model: Any, config: PropertyModelConfig) -> None:
        fit_hyperparameters(model, config)
        fitted.append(model)

    monkeypatch.setattr(property_models, "_fit_hyperparameters", spy)
    config = PropertyModelConfig("gp", hyper_rows=10)
    model = fit_property_model(splits["train"], splits["y"], [], np.zeros(0), config)
    assert model.gp is not None and model.metrics["gp_rows"] == 30
    [subset] = fitted
    assert len(subset.train_targets) == 10  # a seeded sample of the 30 rows
    conditioned = model.gp.model
    assert len(conditioned.train_targets) == 30
    for part in ("mean_module", "covar_module", "likelihood"):
        got, want = getattr(conditioned, part).state_dict(), getattr(subset, part).state_dict()
        assert got.keys() == want.keys()
        assert all(torch.equal(got[key], want[key]) for key in want)


@pytest.mark.filterwarnings("ignore:Using an outcome transform")  # botorch, on minibatches
def test_a_stored_variational_gp_still_loads() -> None:
    # GPs over 4,000 rows were stored as sparse variational GPs before December 2026
    from botorch.models import SingleTaskVariationalGP
    from botorch.models.transforms.outcome import Standardize

    from discovery.property_models import _FeatureGP

    X, Y = torch.rand(6, 3, dtype=torch.float64), torch.rand(6, 1, dtype=torch.float64)
    model = SingleTaskVariationalGP(X, Y, inducing_points=4, outcome_transform=Standardize(m=1))
    stored = _FeatureGP(model.eval(), np.arange(3), np.zeros(3), np.ones(3), 2.0, 3.0)
    features = np.random.default_rng(0).random((5, 3))
    want = stored.predict(features)  # a first call sets up the variational parameters
    restored = _FeatureGP.from_bytes(stored.to_bytes())
    assert (restored.variant, restored.rows) == ("variational", 0)
    got = restored.predict(features)
    np.testing.assert_allclose(got.mean, want.mean, rtol=1e-9)
    np.testing.assert_allclose(got.std, want.std, rtol=1e-9)


def test_from_bytes_rejects_another_featurizer_version(
    composition_model: tuple[str, PropertyModel],
) -> None:
    _, model = composition_model
    blob = torch.load(io.BytesIO(model.to_bytes()), weights_only=True)
    blob["featurizer_version"] = "composition:0:000000000000"
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    with pytest.raises(ValueError, match=r"trained with featurizer 'composition:0:"):
        PropertyModel.from_bytes(buffer.getvalue())


def saved(blob: object) -> bytes:
    """``blob`` as ``torch.save`` writes it."""
    buffer = io.BytesIO()
    torch.save(blob, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (  # a campaign's ensemble surrogate stores its ensemble alone
            saved({"kind": "mlp", "member_args": {}, "states": [], "scale": 1.0}),
            r"^weights: no 'featurizer_version', 'metrics', 'body'; not a property model's",
        ),
        (b"not a torch file", r"^weights: torch cannot read them \(\w+\)$"),
        (saved([1, 2]), r"^weights: hold a list, not a property model's fields$"),
        (
            saved({"kind": "svm", "featurizer_version": "x", "metrics": {}, "body": None}),
            r"^weights: kind 'svm' is none of \['gp'",
        ),
        (
            saved(
                {
                    "kind": "gp",
                    "featurizer_version": featurizer_version(),
                    "metrics": {},
                    "body": saved({"variant": "exact"}),  # a GP's fields left out
                }
            ),
            r"^weights: the gp model's body has no field 'columns'$",
        ),
    ],
)
def test_from_bytes_names_what_a_malformed_model_lacks(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):  # never a bare KeyError
        PropertyModel.from_bytes(data)


# ---------------------------------------------------------------- input checks


def test_bad_formula_in_val_names_split_and_row(splits: dict) -> None:
    val = list(splits["val"])
    val[3] = "Xx2"
    with pytest.raises(ValueError, match=r"val row 3: cannot read formula 'Xx2'"):
        fit_property_model(
            splits["train"], splits["y"], val, splits["y_val"], COMPOSITION_CONFIGS["ensemble"]
        )


def test_bad_formula_in_predict_names_the_row(splits: dict) -> None:
    model = fit_property_model(
        splits["train"][:8], splits["y"][:8], splits["val"][:3], splits["y_val"][:3],
        COMPOSITION_CONFIGS["gp-exact"],
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"predict row 1: cannot read formula"):
        model.predict(["NaCl", "not a formula"])
    with pytest.raises(TypeError, match=r"^predict: materials are a sequence .* \['CO'\]"):
        model.predict("CO")  # read as a sequence, it would be C and O
    with pytest.raises(ValueError, match=r"^predict row 1: expected a formula or structure"):
        model.predict(["NaCl", 5])  # type: ignore[list-item]  # prefixed once, not twice


@pytest.mark.parametrize("name", ["hyper_rows", "fit_iterations", "exact_gp_limit"])
def test_gp_sizes_below_two_are_refused_naming_them(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: must be at least 2, got 0$"):
        PropertyModelConfig("gp", **{name: 0})


def test_unknown_kind_raises() -> None:
    with pytest.raises(ValueError, match=r"unknown surrogate 'random-forest'"):
        PropertyModelConfig("random-forest")
    assert set(KINDS) == {"gp", "ensemble", "gnn", "transformer", "crystal-gnn", "hybrid"}


def test_mismatched_lengths_and_non_finite_targets_raise(splits: dict) -> None:
    config = COMPOSITION_CONFIGS["gp-exact"]
    with pytest.raises(ValueError, match=r"train: 30 materials but 29 targets"):
        fit_property_model(
            splits["train"], splits["y"][:-1], splits["val"], splits["y_val"], config
        )
    y_val = splits["y_val"].copy()
    y_val[4] = np.inf
    with pytest.raises(ValueError, match=r"val: row 4: target is not finite"):
        fit_property_model(splits["train"], splits["y"], splits["val"], y_val, config)


# ---------------------------------------------------------------- crystal graphs


def test_crystal_gnn_predicts_and_round_trips(
    crystal_model: PropertyModel, rock_salts: dict, nacl_structure: Structure
) -> None:
    structures = [*rock_salts["val"], nacl_structure]
    prediction = crystal_model.predict(structures)
    assert_valid_prediction(prediction, 3)
    assert crystal_model.featurizer_version.startswith("crystal-graph:")
    restored = PropertyModel.from_bytes(crystal_model.to_bytes(), device="cpu")
    assert restored.kind == "crystal-gnn"
    assert_same_prediction(restored.predict(structures), prediction)


def test_crystal_gnn_needs_structures(
    crystal_model: PropertyModel, nacl_structure: Structure
) -> None:
    with pytest.raises(ValueError, match=r"predict row 1: crystal-gnn needs structures, got str"):
        crystal_model.predict([nacl_structure, "NaCl"])


def test_hybrid_mixes_its_parts_with_a_validation_weight(splits: dict) -> None:
    model = fit_property_model(
        splits["train"],
        splits["y"],
        splits["val"],
        splits["y_val"],
        PropertyModelConfig("hybrid", TINY_TRAINING),
    )
    assert model.parts is not None and 0.0 <= model.metrics["weight"] <= 1.0
    first, second = (part.predict(splits["val"]) for part in model.parts)
    w = model.metrics["weight"]
    mixed = model.predict(splits["val"])
    np.testing.assert_allclose(mixed.mean, w * first.mean + (1 - w) * second.mean, rtol=1e-6)
    assert np.all(mixed.std >= mixed.epistemic_std)
