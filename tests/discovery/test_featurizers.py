"""Element table, padded element sets and Magpie-style composition features."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from discovery.elements import COLUMNS, MAX_Z, element_table, standardized_element_table
from discovery.featurizers import (
    STATISTICS,
    CompositionBatch,
    Compositions,
    composition_features,
    feature_names,
    fractions_to_batch,
    parse_formula,
)

# tiny models: on a busy machine, intra-op threads only wait on each other
pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture
def fe2o3() -> Compositions:
    return Compositions.from_formulas(["Fe2O3"])


@pytest.fixture
def three_compositions() -> Compositions:
    return Compositions.from_formulas(["NaCl", "Fe2O3", "LiFePO4"])


def column(feature: str) -> int:
    return feature_names().index(feature)


# ---------------------------------------------------------------- element table


def test_element_table_is_finite_with_zero_padding_row() -> None:
    values, missing = element_table()
    assert values.shape == (MAX_Z + 1, len(COLUMNS))
    assert not np.isnan(values).any()
    assert np.all(values[0] == 0)
    assert not missing[0].any()
    standardized = standardized_element_table()
    assert standardized.dtype == np.float32
    assert np.all(np.isfinite(standardized))
    assert np.all(standardized[0] == 0)


def test_element_table_known_values() -> None:
    values, _ = element_table()
    assert values[26, COLUMNS.index("Z")] == 26  # Fe
    assert values[8, COLUMNS.index("valence_p")] == 4  # O: [He] 2s2 2p4
    assert values[8, COLUMNS.index("valence_s")] == 2
    assert values[8, COLUMNS.index("block_p")] == 1
    assert values[26, COLUMNS.index("block_d")] == 1
    assert values[26, COLUMNS.index("is_metal")] == 1
    assert values[8, COLUMNS.index("is_metal")] == 0


# ---------------------------------------------------------------- parsing


def test_fe2o3_elements_and_fractions(fe2o3: Compositions) -> None:
    np.testing.assert_array_equal(fe2o3.elements, [[8, 26]])
    np.testing.assert_allclose(fe2o3.fractions, [[0.6, 0.4]], rtol=1e-6)


def test_from_formulas_shapes_and_padding(three_compositions: Compositions) -> None:
    assert len(three_compositions) == 3
    assert three_compositions.elements.shape == (3, 4)  # LiFePO4 has four elements
    assert three_compositions.fractions.shape == (3, 4)
    np.testing.assert_array_equal(
        three_compositions.elements, [[11, 17, 0, 0], [8, 26, 0, 0], [3, 8, 15, 26]]
    )
    padded = three_compositions.elements == 0
    assert np.all(three_compositions.fractions[padded] == 0)
    np.testing.assert_allclose(three_compositions.fractions.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        three_compositions.fractions[2], [1 / 7, 4 / 7, 1 / 7, 1 / 7], rtol=1e-6
    )


def test_from_formulas_pads_to_max_elements() -> None:
    compositions = Compositions.from_formulas(["NaCl"], max_elements=5)
    np.testing.assert_array_equal(compositions.elements, [[11, 17, 0, 0, 0]])


@pytest.mark.parametrize(
    ("formula", "why"),
    [("Xx2", "'Xx' is not an element"), ("Fe0O", "an element has amount 0")],
)
def test_unreadable_formula_names_the_row_and_why(formula: str, why: str) -> None:
    # pymatgen reads Xx as a placeholder species and drops Fe0: neither may pass
    with pytest.raises(ValueError, match=rf"row 1: cannot read formula '{formula}': {why}"):
        Compositions.from_formulas(["NaCl", formula])


@pytest.mark.parametrize(
    ("formula", "state"),
    [
        ("Fe(III)2O3", "Fe(III)"),
        ("Fe(II)O", "Fe(II)"),
        ("V(V)2O5", "V(V)"),
        ("Mn(IV)O2", "Mn(IV)"),
        ("Cu (I)2O", "Cu (I)"),
    ],
)
def test_roman_numeral_oxidation_state_is_refused(formula: str, state: str) -> None:
    # pymatgen reads Fe(III)2O3 as Fe1 I6 O3 and Mn(IV)O2 as MnVIO2: I and V atoms
    why = f"'{state}' gives an oxidation state in Roman numerals"
    with pytest.raises(
        ValueError, match=re.escape(f"row 1: cannot read formula '{formula}': {why}")
    ):
        Compositions.from_formulas(["NaCl", formula])


@pytest.mark.parametrize(
    ("formula", "written_out"),
    [
        ("Ca(IO3)2", "CaI2O6"),
        ("Pb(VO3)2", "PbV2O6"),
        ("Ba(NO3)2", "BaN2O6"),
        ("(NH4)2SO4", "N2H8SO4"),
        ("Cs(I3)", "CsI3"),
        ("Fe(CO)5", "FeC5O5"),
        ("KI", "K1I1"),
        ("VI3", "V1I3"),  # vanadium triiodide
    ],
)
def test_groups_of_iodine_and_vanadium_still_parse(formula: str, written_out: str) -> None:
    assert parse_formula(formula) == parse_formula(written_out)


@pytest.mark.parametrize(
    ("formula", "why"),
    [
        ("STO", "'STO' reads as one atom per capital, T as hydrogen"),  # pymatgen: H S O
        ("BTO", "'BTO' reads as one atom per capital, T as hydrogen"),  # pymatgen: B H O
        ("BSCCO", "'BSCCO' reads as one atom per capital, with CC where a formula writes C2"),
    ],
)
def test_capitals_pymatgen_would_misread_are_refused(formula: str, why: str) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"row 1: cannot read formula '{formula}': {why}")
    ):
        Compositions.from_formulas(["NaCl", formula])


@pytest.mark.parametrize("formula", ["KSCN", "NaHCO3", "CO", "HNO3"])
def test_formulas_written_in_capitals_still_parse(formula: str) -> None:
    assert parse_formula(formula)[0]  # read as written: these are the formulas meant


def test_too_many_elements_names_the_row() -> None:
    with pytest.raises(ValueError, match=r"row 2: 'LiFePO4' has more than 3 elements"):
        Compositions.from_formulas(["NaCl", "Fe2O3", "LiFePO4"], max_elements=3)


# ---------------------------------------------------------------- features


def test_feature_names_match_feature_width(three_compositions: Compositions) -> None:
    features = three_compositions.features()
    names = feature_names()
    assert features.shape == (3, len(names))
    assert len(names) == len(COLUMNS) * len(STATISTICS) + 6 + MAX_Z
    assert len(set(names)) == len(names)
    assert features.dtype == np.float32
    assert np.all(np.isfinite(features))


def test_fe2o3_features(fe2o3: Compositions) -> None:
    features = fe2o3.features()[0]
    assert features[column("n_elements")] == 2
    assert features[column("fraction:26")] == pytest.approx(0.4)
    assert features[column("fraction:8")] == pytest.approx(0.6)
    assert features[column("fraction:1")] == 0
    assert features[column("mean:Z")] == pytest.approx(0.6 * 8 + 0.4 * 26, rel=1e-6)
    mean_z = 0.6 * 8 + 0.4 * 26
    mad = 0.6 * abs(8 - mean_z) + 0.4 * abs(26 - mean_z)
    assert features[column("mean_abs_dev:Z")] == pytest.approx(mad, rel=1e-6)
    assert features[column("min:Z")] == 8
    assert features[column("max:Z")] == 26
    assert features[column("range:Z")] == 18
    assert features[column("p2_norm")] == pytest.approx(np.sqrt(0.6**2 + 0.4**2), rel=1e-6)


def test_unary_composition_features() -> None:
    features = Compositions.from_formulas(["Fe"]).features()[0]
    assert features[column("n_elements")] == 1
    assert features[column("mean:Z")] == 26
    assert features[column("range:Z")] == 0
    assert features[column("mean_abs_dev:Z")] == 0
    assert features[column("fraction:26")] == 1


def test_batch_trims_padding_to_widest_in_batch() -> None:
    compositions = Compositions.from_formulas(["NaCl", "Fe", "LiFePO4"], max_elements=8)
    assert compositions.elements.shape == (3, 8)
    assert compositions.batch(np.array([0, 1])).elements.shape == (2, 2)
    assert compositions.batch(np.array([1])).elements.shape == (1, 1)
    batch = compositions.batch(np.array([2, 0]))
    assert batch.elements.shape == (2, 4)
    assert batch.fractions.shape == (2, 4)
    assert batch.mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert len(batch) == 2


def test_features_deterministic_and_chunk_independent(three_compositions: Compositions) -> None:
    all_at_once = three_compositions.features()
    again = three_compositions.features()
    one_by_one = three_compositions.features(chunk=1)
    np.testing.assert_array_equal(all_at_once, again)
    np.testing.assert_allclose(all_at_once, one_by_one, rtol=1e-6, atol=1e-6)


def test_padding_does_not_change_features(three_compositions: Compositions) -> None:
    wide = Compositions.from_formulas(["NaCl", "Fe2O3", "LiFePO4"], max_elements=7)
    narrow = composition_features(three_compositions.batch(np.arange(3)))
    padded = composition_features(
        CompositionBatch(torch.from_numpy(wide.elements), torch.from_numpy(wide.fractions))
    )
    torch.testing.assert_close(narrow, padded)


def test_empty_compositions_features() -> None:
    assert Compositions.from_formulas([]).features().shape == (0, len(feature_names()))


# ---------------------------------------------------------------- dense fractions


def test_fractions_to_batch_recovers_element_sets(three_compositions: Compositions) -> None:
    atomic_numbers = torch.tensor([3, 8, 11, 15, 17, 26])
    # unnormalised amounts: NaCl as 1:1, Fe2O3 as 2:3, LiFePO4 as 1:1:1:4
    X = torch.tensor(
        [
            [0.0, 0.0, 1.0, 0.0, 1.0, 0.0],
            [0.0, 3.0, 0.0, 0.0, 0.0, 2.0],
            [1.0, 4.0, 0.0, 1.0, 0.0, 1.0],
        ]
    )
    batch = fractions_to_batch(X, atomic_numbers, k=4)
    assert batch.elements.shape == (3, 4)
    torch.testing.assert_close(batch.fractions.sum(1), torch.ones(3))
    for row in range(3):
        got = {
            int(z): float(f)
            for z, f in zip(batch.elements[row], batch.fractions[row], strict=True)
            if z > 0
        }
        want = {
            int(z): float(f)
            for z, f in zip(
                three_compositions.elements[row], three_compositions.fractions[row], strict=True
            )
            if z > 0
        }
        assert got.keys() == want.keys()
        for z, fraction in want.items():
            assert got[z] == pytest.approx(fraction, rel=1e-6)
    # the same features as the parsed formulas, whatever the slot order
    torch.testing.assert_close(
        composition_features(batch),
        torch.from_numpy(three_compositions.features()),
        rtol=1e-5,
        atol=1e-4,
    )
