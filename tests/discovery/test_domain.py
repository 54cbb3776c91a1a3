"""Domain objects: directions, trial life cycle, settings, campaigns and measurements."""

from __future__ import annotations

import math
import re

import pytest

from discovery.domain import (
    ALLOWED_TRANSITIONS,
    MAX_SEED,
    Campaign,
    CampaignSettings,
    Direction,
    Measurement,
    Objective,
    OutcomeConstraint,
    TrialStatus,
)
from discovery.spaces import ContinuousParameter, SearchSpace

# -- Direction -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("max", Direction.MAXIMIZE),
        ("MAXIMIZE", Direction.MAXIMIZE),
        ("  Maximise ", Direction.MAXIMIZE),
        ("min", Direction.MINIMIZE),
        ("Minimize", Direction.MINIMIZE),
        ("minimise\n", Direction.MINIMIZE),
    ],
)
def test_direction_parse_accepts_spellings_in_any_case(text: str, expected: Direction) -> None:
    assert Direction.parse(text) is expected


@pytest.mark.parametrize("text", ["", "up", "maximum", "mini", "+", "max imize"])
def test_direction_parse_rejects_other_words_quoting_them(text: str) -> None:
    with pytest.raises(ValueError, match="direction must be 'max' or 'min'"):
        Direction.parse(text)


def test_direction_sign_turns_any_goal_into_a_maximum() -> None:
    assert Direction.MAXIMIZE.sign == 1.0
    assert Direction.MINIMIZE.sign == -1.0
    assert Direction("min") is Direction.MINIMIZE


# -- TrialStatus ---------------------------------------------------------------------------


def test_only_proposed_and_running_trials_are_pending() -> None:
    pending = {s for s in TrialStatus if s.is_pending}
    assert pending == {TrialStatus.PROPOSED, TrialStatus.RUNNING}


def test_every_status_has_a_transition_entry() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(TrialStatus)


@pytest.mark.parametrize(
    "terminal", [TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.ABANDONED]
)
def test_finished_trials_cannot_change_status(terminal: TrialStatus) -> None:
    assert ALLOWED_TRANSITIONS[terminal] == frozenset()


def test_pending_trials_can_finish_in_every_way() -> None:
    finished = {TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.ABANDONED}
    assert ALLOWED_TRANSITIONS[TrialStatus.PROPOSED] == finished | {TrialStatus.RUNNING}
    assert ALLOWED_TRANSITIONS[TrialStatus.RUNNING] == finished


def test_no_transition_leads_back_to_proposed_or_to_itself() -> None:
    for status, targets in ALLOWED_TRANSITIONS.items():
        assert TrialStatus.PROPOSED not in targets
        assert status not in targets


def test_pending_status_is_exactly_a_status_with_a_way_out() -> None:
    for status in TrialStatus:
        assert status.is_pending == bool(ALLOWED_TRANSITIONS[status])


# -- CampaignSettings ----------------------------------------------------------------------


def test_default_settings_are_gp_with_ten_initial_and_batches_of_four() -> None:
    settings = CampaignSettings()
    assert (settings.strategy, settings.initial, settings.batch_size, settings.seed) == (
        "gp",
        10,
        4,
        0,
    )


@pytest.mark.parametrize("initial", [0, -3])
def test_settings_reject_initial_below_one(initial: int) -> None:
    with pytest.raises(ValueError, match=rf"settings.initial must be >= 1, got {initial}"):
        CampaignSettings(initial=initial)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_settings_reject_batch_size_below_one(batch_size: int) -> None:
    with pytest.raises(ValueError, match=rf"settings.batch_size must be >= 1, got {batch_size}"):
        CampaignSettings(batch_size=batch_size)


def test_settings_reject_a_budget_below_one_experiment() -> None:
    with pytest.raises(ValueError, match=r"settings\.budget must be >= 1 experiment, got 0"):
        CampaignSettings(budget=0)


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1])
def test_settings_reject_a_seed_out_of_range(seed: int) -> None:
    with pytest.raises(ValueError, match=rf"settings\.seed must be in \[0, {MAX_SEED}\]"):
        CampaignSettings(seed=seed)


def test_settings_accept_the_smallest_legal_values() -> None:
    settings = CampaignSettings("random", initial=1, batch_size=1, seed=99)
    assert settings.initial == settings.batch_size == 1


# -- Campaign ------------------------------------------------------------------------------

SPACE = SearchSpace((ContinuousParameter("x", 0.0, 1.0), ContinuousParameter("y", 0.0, 1.0)))
YIELD = Objective("yield", Direction.MAXIMIZE, "%")


def test_campaign_lists_objective_names_in_order() -> None:
    cost = Objective("cost", Direction.MINIMIZE)
    campaign = Campaign("c1", SPACE, (YIELD, cost))
    assert campaign.objective_names == ["yield", "cost"]
    assert campaign.status == "active"
    assert campaign.settings == CampaignSettings()


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_campaign_name_must_not_be_blank(name: str) -> None:
    with pytest.raises(ValueError, match="campaign name must not be empty"):
        Campaign(name, SPACE, (YIELD,))


def test_campaign_needs_an_objective() -> None:
    with pytest.raises(ValueError, match="at least one objective"):
        Campaign("c1", SPACE, ())


def test_campaign_objective_must_not_share_a_parameter_name() -> None:
    with pytest.raises(ValueError, match=r"clash with parameter names: \['y'\]"):
        Campaign("c1", SPACE, (YIELD, Objective("y", Direction.MINIMIZE)))


@pytest.mark.parametrize("name", ["", "$where", "gap\x00"])
def test_an_outcome_name_no_result_could_store_is_refused(name: str) -> None:
    # results store outcome names as keys: "$" reads as an operator, NUL ends a BSON key
    with pytest.raises(ValueError, match="non-empty, not start with '\\$' and hold no NUL"):
        Campaign("c1", SPACE, (YIELD, Objective(name, Direction.MINIMIZE)))


# -- Measurement.check ---------------------------------------------------------------------

OBJECTIVES = (YIELD, Objective("cost", Direction.MINIMIZE))


def test_complete_finite_measurement_passes_check() -> None:
    Measurement("t1", {"yield": 71.5, "cost": 3}, idempotency_key="k1").check(OBJECTIVES)


def test_measurement_needs_an_idempotency_key() -> None:
    with pytest.raises(ValueError, match="idempotency_key must not be empty"):
        Measurement("t1", {"yield": 1.0, "cost": 1.0}, idempotency_key="").check(OBJECTIVES)


def test_measurement_names_missing_objectives() -> None:
    with pytest.raises(
        ValueError, match=r"trial t1: values: missing objective value\(s\) \['cost'\]"
    ):
        Measurement("t1", {"yield": 1.0}, idempotency_key="k").check(OBJECTIVES)


def test_a_misspelt_objective_is_named_with_the_campaigns_own() -> None:
    with pytest.raises(
        ValueError, match=r"values: unknown objective\(s\) \['Cost'\]; the campaign's"
    ):
        Measurement("t1", {"yield": 1.0, "Cost": 1.0}, idempotency_key="k").check(OBJECTIVES)


def test_measurement_names_unknown_objectives() -> None:
    values = {"yield": 1.0, "cost": 2.0, "colour": 3.0}
    with pytest.raises(ValueError, match=r"unknown objective\(s\) \['colour'\]"):
        Measurement("t1", values, idempotency_key="k").check(OBJECTIVES)


def test_sixty_thousand_unknown_names_are_an_error_of_one_short_line() -> None:
    values = {"yield": 1.0, "cost": 2.0, **{f"x{i:05d}": 0.0 for i in range(60_000)}}
    with pytest.raises(ValueError) as error:
        Measurement("t1", values, idempotency_key="k").check(OBJECTIVES)
    said = str(error.value)
    assert "['x00000', 'x00001'," in said and "... and 59990 more]" in said
    assert len(said) < 300


@pytest.mark.parametrize("bad", ["1.0", None, True, [1.0]])
def test_measurement_rejects_non_numbers_naming_the_field(bad: object) -> None:
    values = {"yield": 1.0, "cost": bad}
    with pytest.raises(ValueError, match=r"trial t1: values\.cost is not a number"):
        Measurement("t1", values, idempotency_key="k").check(OBJECTIVES)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_measurement_rejects_non_finite_values_naming_the_field(bad: float) -> None:
    with pytest.raises(ValueError, match=r"trial t1: values\.yield is not finite"):
        Measurement("t1", {"yield": bad, "cost": 1.0}, idempotency_key="k").check(OBJECTIVES)


TC_OUTCOMES = (
    Objective("tc", Direction.MAXIMIZE, "K"),
    OutcomeConstraint("gap", lower=1.1, upper=1.7, unit="eV"),
    Objective("cost", Direction.MINIMIZE),
)


def test_values_in_another_unit_are_converted_to_the_declared_one() -> None:
    result = Measurement(
        "t1", {"tc": 50.0, "gap": 1500.0, "cost": 3.0}, "k", units={"tc": "degC", "gap": "meV"}
    )
    converted = result.in_units_of(TC_OUTCOMES)
    assert converted.values == {"tc": pytest.approx(323.15), "gap": 1.5, "cost": 3.0}
    assert converted.units == {"tc": "K", "gap": "eV"}
    # the declared unit, and no unit, are left alone
    as_declared = Measurement("t1", {"tc": 9.0, "cost": 3.0}, "k", units={"tc": "K"})
    assert as_declared.in_units_of(TC_OUTCOMES) == as_declared
    # a value without a unit is in the declared one, and says so: a retry labelled "K"
    # reports the same thing
    unlabelled = Measurement("t1", {"tc": 9.0, "cost": 3.0}, "k")
    assert unlabelled.in_units_of(TC_OUTCOMES) == as_declared
    # an outcome without a declared unit has nothing to convert to: meV and eV values
    # would be stored side by side, so a label there is refused
    labelled = Measurement("t1", {"tc": 9.0, "cost": 3.0}, "k", units={"cost": "$"})
    with pytest.raises(ValueError, match=r"units\.cost: the campaign declares no unit for 'cost'"):
        labelled.in_units_of(TC_OUTCOMES)


def test_a_converted_value_keeps_what_the_lab_reported() -> None:
    result = Measurement(
        "t1", {"tc": -250, "gap": 1500.0, "cost": 3.0}, "k", units={"tc": "degC", "gap": "meV"}
    )
    converted = result.in_units_of(TC_OUTCOMES)
    assert converted.values == {"tc": 23.15, "gap": 1.5, "cost": 3.0}  # no float noise
    assert converted.reported == {
        "tc": {"value": -250.0, "unit": "degC"},
        "gap": {"value": 1500.0, "unit": "meV"},
    }
    # converting again (a stored result read for a repeat) keeps the lab's report
    assert converted.in_units_of(TC_OUTCOMES) == converted
    # only converted outcomes say what was reported
    mixed = Measurement("t1", {"tc": 9.0, "gap": 1.4, "cost": 3.0}, "k", units={"gap": "meV"})
    assert mixed.in_units_of(TC_OUTCOMES).reported == {"gap": {"value": 1.4, "unit": "meV"}}


@pytest.mark.parametrize("units", [{}, {"tc": "K", "gap": "eV"}])
def test_a_value_in_the_declared_unit_is_stored_as_sent_with_nothing_reported(
    units: dict[str, str],
) -> None:
    value = 0.1 + 0.2  # 0.30000000000000004: not rounded, as it was not converted
    result = Measurement("t1", {"tc": value, "gap": 1.4, "cost": 3.0}, "k", units=units)
    as_declared = result.in_units_of(TC_OUTCOMES)
    assert as_declared.values["tc"] == value and as_declared.reported == {}


@pytest.mark.parametrize(
    ("outcomes", "units", "message"),
    [
        (TC_OUTCOMES, {"tc": "degC"}, r"units\.tc: -500 degC is below absolute zero \(-273.15"),
        ((Objective("tc", Direction.MAXIMIZE, "degC"),), {}, r"values\.tc: -500 degC is below"),
        (TC_OUTCOMES, {"tc": "degF"}, r"units\.tc: -500 degF is below absolute zero"),
    ],
)
def test_a_temperature_below_absolute_zero_is_refused(
    outcomes: tuple, units: dict[str, str], message: str
) -> None:
    result = Measurement("t1", {"tc": -500.0}, "k", units=units)
    with pytest.raises(ValueError, match=message):
        result.in_units_of(outcomes)
    # a unit of another quantity is named as such, not as a temperature below zero
    wrong = Measurement("t1", {"tc": 9.0, "gap": -300.0, "cost": 3.0}, "k", units={"gap": "degC"})
    with pytest.raises(ValueError, match=r"units\.gap: 'degC' cannot be converted to 'eV'"):
        wrong.in_units_of(TC_OUTCOMES)
    above = Measurement("t1", {"tc": -40.0}, "k", units={"tc": "degC"}).in_units_of(TC_OUTCOMES)
    assert above.values == {"tc": pytest.approx(233.15)}
    # kelvin and delta units may be differences (a Tc shift): negative is allowed
    for unit in ("K", "delta_degC"):
        shift = Measurement("t1", {"tc": -5.0}, "k", units={"tc": unit})
        assert shift.in_units_of(TC_OUTCOMES).values == {"tc": pytest.approx(-5.0)}


def test_a_declared_label_pint_does_not_know_matches_only_itself() -> None:
    outcomes = (Objective("fe", Direction.MAXIMIZE, "wt%"),)
    same = Measurement("t1", {"fe": 12.0}, "k", units={"fe": "wt%"})
    assert same.in_units_of(outcomes).values == {"fe": 12.0}
    other = Measurement("t1", {"fe": 12.0}, "k", units={"fe": "%"})
    with pytest.raises(ValueError, match=r"units\.fe: the campaign declares 'wt%', a unit pint"):
        other.in_units_of(outcomes)


OPAQUE_LABELS = ["at%", "at.%", "mol%", "mole%", "mass%", "w/w%", "% v/v", "appm", "a.u.", "arb. u"]


@pytest.mark.parametrize("label", OPAQUE_LABELS)
def test_fractions_and_arbitrary_units_pint_would_misread_match_only_themselves(
    label: str,
) -> None:
    outcomes = (Objective("x", Direction.MAXIMIZE, label),)
    same = Measurement("t1", {"x": 12.0}, "k", units={"x": label})
    assert same.in_units_of(outcomes).values == {"x": 12.0}
    # pint reads at% as percent x technical atmosphere and a.u. as amu x year
    for other in ("%", "Pa", "kg*s"):
        posing = Measurement("t1", {"x": 12.0}, "k", units={"x": other})
        with pytest.raises(
            ValueError, match=rf"units\.x: the campaign declares '{re.escape(label)}'"
        ):
            posing.in_units_of(outcomes)


def test_a_blank_unit_is_refused_not_read_as_dimensionless() -> None:
    outcomes = (Objective("x", Direction.MAXIMIZE, "%"),)
    blank = Measurement("t1", {"x": 5.0}, "k", units={"x": " "})
    with pytest.raises(ValueError, match=r"units\.x: a unit must not be blank"):
        blank.in_units_of(outcomes)


def test_a_value_on_a_bound_in_another_unit_stays_on_it() -> None:
    for lower, upper, mev in [(0.35, 1.4, 350.0), (1.1, 1.4, 1400.0), (1 / 3, 1.0, 1000 / 3)]:
        gap = OutcomeConstraint("gap", lower, upper, "eV")  # pint: 1400 meV = 1.4000000000000001
        for unit, value in (("meV", mev), ("electron_volt", mev / 1000)):
            result = Measurement("t1", {"gap": value}, "k", units={"gap": unit})
            assert gap.satisfied(result.in_units_of((gap,)).values["gap"]), (unit, value)
    assert not OutcomeConstraint("gap", 1.1, 1.4).satisfied(1.4000001)


def test_powers_written_without_a_caret_convert() -> None:
    outcomes = (Objective("j", Direction.MAXIMIZE, "A/m^2"),)
    current = Measurement("t1", {"j": 5.0}, "k", units={"j": "mA/cm2"})
    assert current.in_units_of(outcomes).values == {"j": pytest.approx(50.0)}


def test_energies_per_atom_and_per_formula_unit_convert() -> None:
    outcomes = (
        Objective("e_form", Direction.MINIMIZE, "eV/atom"),
        Objective("e_fu", Direction.MINIMIZE, "eV/fu"),
    )
    result = Measurement(
        "t1", {"e_form": -120.0, "e_fu": -2.5}, "k", units={"e_form": "meV/atom"}
    ).in_units_of(outcomes)
    assert result.values == {"e_form": pytest.approx(-0.12), "e_fu": -2.5}
    assert result.units == {"e_form": "eV/atom", "e_fu": "eV/fu"}
    per_atom = Measurement("t1", {"e_form": -1.0, "e_fu": -2.5}, "k", units={"e_fu": "eV/atom"})
    with pytest.raises(ValueError, match=r"units\.e_fu: 'eV/atom' cannot be converted to 'eV/fu'"):
        per_atom.in_units_of(outcomes)


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ({"tc": "eV"}, r"units\.tc: 'eV' cannot be converted to 'K'"),
        ({"tc": "kelvinz"}, r"units\.tc: 'kelvinz' is not a unit pint converts"),
        ({"colour": "nm"}, r"units: 'colour' is not an outcome; the outcomes are \['tc'"),
    ],
)
def test_a_unit_that_does_not_convert_is_named(units: dict[str, str], message: str) -> None:
    result = Measurement("t1", {"tc": 50.0, "gap": 1.5, "cost": 3.0}, "k", units=units)
    with pytest.raises(ValueError, match=message):
        result.in_units_of(TC_OUTCOMES)
