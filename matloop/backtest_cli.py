"""``matloop backtest``: strategies replayed on a measured data set, to choose one.

A lab with a table of past measurements asks which strategy would have found its best
materials soonest. Each strategy runs seeded campaigns on the table as a pool, the lookup
oracle answering from its rows, exactly as ``matloop demo`` does on photo_pce10 and
``benchmarks/acquisition.py`` on the Olympus sets: EF and AF against random sampling
(top 5%), with standard errors over seeds, and each strategy's AF against the first's.
The campaigns are throw-away (deleted at the end unless ``--keep``). Registered in
:mod:`matloop.cli`.
"""

from __future__ import annotations

import json
import math
import secrets
import sys
from typing import Annotated, Any

import typer

from matloop.pool_options import CompositionColumn, FromCsv, FromOlympus, Objectives, Params

#: What a backtest compares unless told: a BoTorch-default GP, and the strategy the
#: acquisition benchmark found best (benchmarks/results/acquisition.md). Random sampling
#: needs no runs: EF and AF are against its expectation.
DEFAULT_STRATEGIES = ("botorch", "gp+top+iwarp+warp+endgame")


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
            "portfolio, random, ...; repeatable). Default: botorch, gp+top+iwarp+warp+endgame. "
            "The first is the one the others' AF is compared with."
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, max=100, help="Seeds per strategy.")] = 5,
    initial: Annotated[int, typer.Option(min=1, help="Random experiments first.")] = 10,
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
        console,
        err,
        errors,
        measured_pool,
        store,
    )

    chosen = list(dict.fromkeys(strategy or DEFAULT_STRATEGIES))
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
        chosen = [_strategy(name, None)[0] for name in chosen]  # refused before any run
        dataset = measured_pool(from_csv, from_olympus, goals, [], param, composition, None)
        budget = initial + rounds * batch
        if budget >= len(dataset):
            raise CommandError(
                f"--rounds: {budget} experiments ({initial} + {rounds} x {batch}) would "
                f"measure the whole pool of {len(dataset)}; a backtest needs fewer"
            )
        campaigns = store()
        prefix = f"backtest-{secrets.token_hex(3)}"
        shown = console if not as_json else err
        shown.print(
            f"{len(dataset)} candidates; {initial} random experiments, then {rounds} rounds "
            f"of {batch}; {', '.join(chosen)}; {seeds} seed(s) each",
            highlight=False,
        )
        try:
            outcomes = compare_strategies(
                campaigns, dataset, chosen, range(seeds), initial, batch, rounds, prefix
            )
        finally:  # an interrupted backtest's campaigns go too
            if not keep:
                _delete_campaigns(campaigns, prefix)
    summaries = summarize(outcomes, dataset.best_value())
    first = summaries[0].af_mean
    rows = [
        {
            "strategy": s.strategy,
            "seeds": s.seeds,
            "ef_mean": s.ef_mean,
            "ef_se": s.ef_se,
            "af_mean": s.af_mean,
            "af_se": s.af_se,
            "af_defined": s.af_defined,
            "af_ratio": s.af_mean / first if first and math.isfinite(first) else math.nan,
            "best_mean": s.best_mean,
            "found_best": s.found_optimum,
            "seconds_mean": s.seconds_mean,
        }
        for s in summaries
    ]
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
    _print_table(rows, chosen[0], dataset.best_value(), keep and prefix)


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


def _print_table(rows: list[dict[str, Any]], first: str, best: float, kept: str | bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from matloop.cli import console

    table = Table(title="backtest: EF and AF against random sampling (top 5%)")
    table.add_column("strategy", overflow="fold")  # a policy's version in full
    for column in ("EF ± se", "AF ± se (n)", f"AF / {first}", "best", "found best"):
        table.add_column(escape(column))
    for row in rows:
        af = (
            "n/a"
            if math.isnan(row["af_mean"])
            else f"{row['af_mean']:.2f} ± {row['af_se']:.2f} ({row['af_defined']})"
        )
        ratio = "n/a" if math.isnan(row["af_ratio"]) else f"{row['af_ratio']:.2f}x"
        table.add_row(
            escape(row["strategy"]),
            f"{row['ef_mean']:.2f} ± {row['ef_se']:.2f}",
            af,
            ratio,
            f"{row['best_mean'] + 0.0:.4g}",
            f"{row['found_best']}/{row['seeds']}",
        )
    console.print(table)
    console.print(f"the pool's best: {best + 0.0:.4g}", highlight=False)  # -0: 0
    if kept:
        console.print(f"campaigns kept: {kept}-* (`matloop campaign list`)", highlight=False)


__all__ = ["DEFAULT_STRATEGIES", "backtest"]
