"""``matloop backtest``: strategies replayed on a measured data set, to choose one.

A lab with a table of past measurements asks which strategy would have found its best
materials soonest. Each strategy runs seeded campaigns on the table as a pool, the lookup
oracle answering from its rows, exactly as ``matloop demo`` does on photo_pce10 and
``benchmarks/acquisition.py`` on the Olympus sets: EF and AF against random sampling
(top 5%), with standard errors over seeds, and each strategy's AF against the first's
over the seeds both found a top row in. Random sampling always runs too: its own AF on a
small table is well above 1. The campaigns are throw-away (deleted at the end, also on
Ctrl-C or SIGTERM, unless ``--keep``). Registered in :mod:`matloop.cli`.
"""

from __future__ import annotations

import json
import math
import secrets
import signal
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from discovery.domain import RECOMMENDED_STRATEGY
from matloop.pool_options import CompositionColumn, FromCsv, FromOlympus, Objectives, Params

#: What a backtest compares unless told: a BoTorch-default GP, and matloop's recommended
#: strategy (chosen on benchmarks/results/acquisition_synthetic.md's development tasks);
#: with several objectives (which ``top`` does not take), the GP's qLogNEHVI.
DEFAULT_STRATEGIES = ("botorch", RECOMMENDED_STRATEGY)
DEFAULT_PARETO_STRATEGIES = ("gp",)
#: Always run as well, as a reference: on a small table or a short run random sampling's
#: own AF is well above 1 (the first time a level is reached comes early by chance), so
#: AF reads against its row, not against 1.
REFERENCE = "random"


def backtest(
    from_csv: FromCsv = None,
    from_olympus: FromOlympus = None,
    objective: Objectives = None,
    param: Params = None,
    composition: CompositionColumn = None,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            help="A strategy to compare, as `campaign create --strategy` takes it (rl:VERSION, "
            f"portfolio, random, ...; repeatable). Default: {', '.join(DEFAULT_STRATEGIES)}. "
            "The first is the one the others' AF is compared with."
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, max=100, help="Seeds per strategy.")] = 5,
    initial: Annotated[int, typer.Option(min=2, help="Random experiments first.")] = 10,
    batch: Annotated[int, typer.Option(min=1, help="Experiments per round.")] = 4,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds after the initial design.")] = 15,
    keep: Annotated[
        bool, typer.Option(help="Keep the campaigns (named in the output) to look into.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Replay strategies on a measured data set: which finds its best rows soonest?

    Each strategy runs `--seeds` campaigns on the table as a candidate pool (its rows are
    the candidates; the measured values answer): `--initial` random experiments, then
    `--rounds` batches of `--batch`. The table: EF and AF against random sampling (top 5%
    of the pool), mean ± standard error over seeds, AF against the first strategy's, the
    best value found and how many campaigns found the pool's best. A strategy's result on
    one data set is noisy: compare with several seeds, and on data it was not tuned on.
    """
    from agents import compare_strategies, summarize
    from matloop.cli import (
        CommandError,
        _parse_objective,
        _strategy,
        err,
        errors,
        measured_pool,
        store,
    )

    with errors():
        if (from_csv is None) == (from_olympus is None):
            raise CommandError("give exactly one of --from-csv FILE or --from-olympus DIR")
        if from_olympus is not None and objective:
            raise CommandError("--objective: an Olympus set declares its own objectives")
        if from_csv is None and (param or composition):
            raise CommandError("--param and --composition name columns of --from-csv")
        goals = [_parse_objective(o) for o in objective or []]
        if from_csv is not None and not goals:
            raise CommandError("--objective NAME:max|min is required with --from-csv")
        dataset = measured_pool(from_csv, from_olympus, goals, [], param, composition, None)
        for note in dataset.notes:
            err.print(f"note: {note}", highlight=False)
        several = len(dataset.objectives) > 1
        given = strategy or (DEFAULT_PARETO_STRATEGIES if several else DEFAULT_STRATEGIES)
        # each strategy once, by the name its trials record (gp+qlognei is gp)
        recorded = {name: _strategy(name, None)[1].name for name in dict.fromkeys(given)}
        named = list(dict.fromkeys(recorded.values()))
        for name in named:
            if len(spellings := [g for g, r in recorded.items() if r == name]) > 1:
                err.print(f"note: {', '.join(spellings)} are one strategy, {name}: run once")
        chosen = [*named, *([REFERENCE] if REFERENCE not in named else [])]
        budget = initial + rounds * batch
        if budget >= len(dataset):
            raise CommandError(
                f"--rounds: {budget} experiments ({initial} + {rounds} x {batch}) would "
                f"measure the whole pool of {len(dataset)}; a backtest needs fewer"
            )
        campaigns = store()
        prefix = f"backtest-{secrets.token_hex(3)}"
        err.print(
            f"{len(dataset)} candidates; {initial} random experiments, then {rounds} rounds "
            f"of {batch}; {', '.join(chosen)}; {seeds} seed(s) each",
            highlight=False,
        )
        signal.signal(signal.SIGTERM, _interrupted)  # `timeout`, CI: clean up as on Ctrl-C
        try:
            outcomes = compare_strategies(
                campaigns, dataset, chosen, range(seeds), initial, batch, rounds, prefix,
                on_run=_progress,
            )  # fmt: skip
        finally:  # an interrupted backtest's campaigns go too
            if not keep:
                _delete_campaigns(campaigns, prefix)
    rows = _rows(outcomes, summarize(outcomes, dataset.best_value()), chosen[0])
    if as_json:
        runs = [
            {
                "strategy": o.strategy,
                "seed": o.seed,
                "campaign": o.campaign if keep else None,
                "enhancement_factor": o.enhancement_factor,
                "acceleration_factor": o.acceleration_factor,
                "best": o.best,
                "seconds": o.seconds,
            }
            for o in outcomes
        ]
        found = {"pool": len(dataset), "strategies": rows, "runs": runs}
        sys.stdout.write(json.dumps(_nulled(found), indent=2) + "\n")
        return
    named_first = dataset.objectives[0].name  # "best" is of the first objective
    _print_table(rows, chosen[0], named_first, dataset.best_value(), keep and prefix)


def _rows(outcomes: Sequence[Any], summaries: Sequence[Any], first: str) -> list[dict[str, Any]]:
    """Each strategy's summary, with its AF against ``first``'s over the seeds both defined.

    A campaign that found no top row has no AF: comparing means over different seeds
    would credit a strategy for the seeds it failed on, so the ratio pairs seeds.
    """
    af = {(o.strategy, o.seed): o.acceleration_factor for o in outcomes}
    rows = []
    for s in summaries:
        seeds = [o.seed for o in outcomes if o.strategy == s.strategy]
        both = [
            (af[(s.strategy, seed)], af[(first, seed)])
            for seed in seeds
            if math.isfinite(af[(s.strategy, seed)]) and math.isfinite(af[(first, seed)])
        ]
        ratio = sum(a for a, _ in both) / sum(b for _, b in both) if both else math.nan
        rows.append(
            {
                "strategy": s.strategy,
                "seeds": s.seeds,
                "ef_mean": s.ef_mean,
                "ef_se": s.ef_se,
                "af_mean": s.af_mean,
                "af_se": s.af_se,
                "af_defined": s.af_defined,
                "af_ratio": ratio,
                "af_ratio_seeds": len(both),
                "best_mean": s.best_mean,
                "found_best": s.found_optimum,
                "seconds_mean": s.seconds_mean,
            }
        )
    return rows


def _progress(outcome: Any) -> None:
    """One line on stderr as each campaign ends: a long backtest shows it is going."""
    from matloop.cli import err

    af = outcome.acceleration_factor
    said = f"AF {af:.2f}" if math.isfinite(af) else "no top row found"
    err.print(
        f"  {outcome.strategy} seed {outcome.seed}: EF {outcome.enhancement_factor:.2f}, "
        f"{said} ({outcome.seconds:.0f} s)",
        highlight=False,
    )


def _interrupted(signum: int, frame: Any) -> None:
    """SIGTERM as Ctrl-C: the backtest's campaigns are deleted on the way out."""
    raise KeyboardInterrupt


def _delete_campaigns(campaigns: Any, prefix: str) -> None:
    """Delete the campaigns a backtest stored (named ``{prefix}-...``), finished or not."""
    for campaign in campaigns.campaigns():
        if campaign.name.startswith(f"{prefix}-"):
            campaigns.delete(campaign.name)


def _nulled(value: Any) -> Any:
    """``value`` for JSON: NaN (no AF where a campaign found nothing) as None, nested too."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _nulled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nulled(v) for v in value]
    return value


def _print_table(
    rows: list[dict[str, Any]], first: str, objective: str, best: float, kept: str | bool
) -> None:
    from rich.markup import escape
    from rich.table import Table

    from matloop.cli import console

    table = Table(title="backtest: EF and AF against random sampling's expectation (top 5%)")
    table.add_column("strategy", overflow="fold")  # a policy's version in full
    columns = ("EF ± se", "AF ± se (n)", f"AF / {first} (n)", f"best {objective}", "found best")
    for column in columns:
        table.add_column(escape(column), overflow="fold")
    for row in rows:
        af = (
            "n/a"
            if math.isnan(row["af_mean"])
            else f"{_pm(row['af_mean'], row['af_se'])} ({row['af_defined']})"
        )
        ratio = (
            "n/a"
            if math.isnan(row["af_ratio"])
            else f"{row['af_ratio']:.2f}x ({row['af_ratio_seeds']})"
        )
        table.add_row(
            escape(row["strategy"]),
            _pm(row["ef_mean"], row["ef_se"]),
            af,
            ratio,
            f"{row['best_mean'] + 0.0:.4g}",
            f"{row['found_best']}/{row['seeds']}",
        )
    console.print(table)
    reference = next(r for r in rows if r["strategy"] == REFERENCE)
    if math.isnan(reference["af_mean"]):
        said = f"random sampling found no top row in {reference['seeds']} seed(s)"
    else:
        said = f"random sampling's own AF here is {_pm(reference['af_mean'], reference['af_se'])}"
    console.print(
        f"{said}: on a small table or a short run it is well above 1 by chance, so read AF "
        f"against that row; the pool's best {escape(objective)}: {best + 0.0:.4g}",  # -0: 0
        highlight=False,
    )
    if kept:
        console.print(f"campaigns kept: {kept}-* (`matloop campaign list`)", highlight=False)


def _pm(mean: float, se: float) -> str:
    """``mean ± se``; the mean alone where one seed gives no standard error."""
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.2f} ± {se:.2f}" if math.isfinite(se) else f"{mean:.2f}"


__all__ = ["DEFAULT_STRATEGIES", "backtest"]
