"""The ``matloop`` command."""

from __future__ import annotations

import csv
import getpass
import io
import json
import logging
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import replace
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from discovery.domain import RECOMMENDED_STRATEGY
from matloop.backtest_cli import backtest
from matloop.flows_cli import flows_app
from matloop.lineage_cli import lineage_app
from matloop.literature_cli import literature_app
from matloop.model_cli import model_app
from matloop.pool_options import CompositionColumn, FromCsv, FromOlympus, Objectives, Params, Seed
from matloop.settings import Settings

if TYPE_CHECKING:
    from agents.campaign import CampaignStatus, Observation
    from agents.pools import CompositionRules
    from discovery.datasets import PoolDataset
    from discovery.domain import Campaign, Measurement, Objective
    from discovery.planners import Planner
    from discovery.spaces import SearchSpace

app = typer.Typer(
    help="Closed-loop materials discovery on MongoDB.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The embedded database server.", no_args_is_help=True)
campaign_app = typer.Typer(help="Discovery campaigns.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(campaign_app, name="campaign")
app.add_typer(flows_app, name="flows")
app.add_typer(literature_app, name="literature")
app.add_typer(lineage_app, name="lineage")
app.add_typer(model_app, name="model")
app.command("backtest")(backtest)

# no emoji codes: a reason "1:x:2" or a formula "Li:v:O" is data, printed as stored
console = Console(emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)


class CommandError(Exception):
    """An error to report to the user without a traceback."""


class DatabaseNotRunning(CommandError, ConnectionError):
    """The embedded database is not running (it may be starting)."""


@contextmanager
def errors(options: dict[str, str] | None = None) -> Iterator[None]:
    """Report expected failures as one red line and exit 1, writing nothing more.

    Args:
        options: The command's options by the library's names for them: a message that
            starts by naming one (``prior_model: ...``) names the option (``--prior: ...``).
    """
    try:
        yield
    except OSError as error:  # files, network
        _fail(in_options(_os_error(error), options or {}))
    except (CommandError, ValueError, LookupError) as error:
        message = str(error.args[0] if isinstance(error, LookupError) and error.args else error)
        _fail(in_options(message, options or {}))
    except RuntimeError as error:  # a surrogate plugin that failed names itself
        if not _plugin_failure(error):
            raise
        _fail(str(error))


def _os_error(error: OSError) -> str:
    """A failed file operation as a person reads it: the file, and what went wrong.

    ``[Errno 2] No such file or directory: 'out/a.json'`` reads ``out/a.json: no such
    file or directory (the folder out does not exist)``.
    """
    if error.filename is None or not error.strerror:
        return str(error)
    path = Path(error.filename)
    said = f"{path}: {error.strerror[0].lower()}{error.strerror[1:]}"
    if isinstance(error, FileNotFoundError) and not path.parent.is_dir():
        said += f" (the folder {path.parent} does not exist)"
    return said


def in_options(message: str, options: dict[str, str]) -> str:
    """``message`` with the library's argument names as the command's options.

    An argument named like an identifier (``prior_model``, ``val_path``) is renamed
    wherever it stands; one named by a plain word (``objective``, ``kind``) only where it
    leads the message, since elsewhere the word means itself ("campaign 'x' has no
    objective 'y'").

    Example:
        >>> in_options("prior_model: no model version 'x'", {"prior_model": "--prior"})
        "--prior: no model version 'x'"
    """
    for name, option in options.items():
        if "_" not in name:
            if message.startswith(f"{name}: "):
                message = option + message[len(name) :]
            continue
        # whole words only: a file named val_path.csv keeps its name
        message = re.sub(rf"(?<![\w./-]){name}(?![\w/-]|\.\w)", option, message)
    return message


def _fail(message: str) -> NoReturn:
    # Escaped: a message quoting input ("units.[key]") is not Rich markup.
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(1) from None


def _plugin_failure(error: RuntimeError) -> bool:
    """Whether ``error`` is a :class:`discovery.campaign_models.SurrogatePluginError`.

    Looked up where it was raised from: importing the module here would load torch for
    every command.
    """
    models = sys.modules.get("discovery.campaign_models")
    return models is not None and isinstance(error, models.SurrogatePluginError)


def _server(settings: Settings) -> Any:
    from db.server import EmbeddedServer

    return EmbeddedServer(settings.home, port=settings.db_port)


def store(prepare: bool = True) -> Any:
    """Connect to the configured database and return a campaign store.

    ``prepare=False`` neither creates indexes nor upgrades documents (backups).
    """
    from db import CampaignStore, connect

    settings = Settings()
    if settings.embedded:
        server = _server(settings)
        running = server.status()
        if running is None:
            raise DatabaseNotRunning(
                "the embedded database is not running: start it with `matloop db start` "
                "(or point MATLOOP_MONGODB_URI at a MongoDB)"
            )
        server.check_port(running)
    connect(settings.uri, prepare=prepare)
    return CampaignStore()


def wait_for_store(seconds: float, pause: float = 2.0) -> Any:
    """:func:`store`, retried while the database does not answer, for up to ``seconds``.

    Raises:
        ConnectionError: when it still does not answer then.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return store()
        except ConnectionError as error:
            if time.monotonic() + pause > deadline:
                raise
            err.print(f"[yellow]waiting for the database:[/yellow] {escape(str(error))}")
            time.sleep(pause)


# -- db -----------------------------------------------------------------------------
@db_app.command("start")
def db_start() -> None:
    """Start the embedded database (SecantusDB) in the background."""
    with errors():
        settings = Settings()
        if not settings.embedded:
            raise CommandError("MATLOOP_MONGODB_URI is set: matloop uses that database")
        settings.home.mkdir(parents=True, exist_ok=True)
        try:
            info = _server(settings).start()
        except RuntimeError as error:  # the port taken, or the server exited
            raise CommandError(str(error)) from None
    console.print(f"database running: {info.uri} (pid {info.pid}, data {info.data_dir})")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded database."""
    with errors():
        stopped = _server(Settings()).stop()
    console.print("database stopped" if stopped else "database was not running")


@db_app.command("status")
def db_status() -> None:
    """Show whether the embedded database runs (exit 1 if it does not)."""
    with errors():
        settings = Settings()
    if not settings.embedded:
        from db.connection import redact
        from db.server import ping

        with errors():
            uri = settings.uri  # a bad MATLOOP_MONGODB_URI: its error line, no traceback
        alive = ping(uri, timeout_ms=3000)
        console.print(f"external database {redact(uri)}: {'up' if alive else 'DOWN'}")
        raise typer.Exit(0 if alive else 1)
    server = _server(settings)
    info = server.status()
    if info is None:
        console.print("database not running (start it with `matloop db start`)")
        raise typer.Exit(1)
    with errors():  # running, but where commands do not look
        server.check_port(info)
    console.print(
        f"database running: {info.uri} (pid {info.pid})\n"
        f"  data: {info.data_dir}\n  log:  {info.log}"
    )


@db_app.command("dump")
def db_dump(folder: Path) -> None:
    """Back the database up into FOLDER (mongodump format + checksummed manifest)."""
    from db.backup import dump
    from db.connection import database

    with errors():
        store(prepare=False)  # the documents as stored, not as this matloop would upgrade them
        report = dump(database(), folder)
    console.print(
        f"dumped {report.total} documents in {len(report.counts)} collections to {folder}"
    )


@db_app.command("restore")
def db_restore(
    folder: Path,
    drop: Annotated[
        bool,
        typer.Option(help="Replace collections that hold documents; drop those the dump lacks."),
    ] = False,
) -> None:
    """Restore a dump written by `matloop db dump` (checks every file first).

    With --drop the database becomes the dump: collections it lacks are dropped too.
    """
    from db.backup import restore
    from db.connection import database
    from db.tokens import token_states

    with errors():
        store(prepare=False)  # the next connection upgrades what the dump holds
        tokens = token_states(database())
        try:
            report = restore(database(), folder, drop=drop)
        except ValueError as error:  # db.backup names its argument: "pass drop=True (--drop)"
            raise CommandError(re.sub(r"drop=True \(--drop\)", "--drop", str(error))) from None
        after = token_states(database())
    console.print(f"restored {report.total} documents in {len(report.counts)} collections")
    if report.dropped:
        console.print(
            f"dropped {len(report.dropped)} collections the dump lacks: "
            + ", ".join(report.dropped)
        )
    valid_again = sorted(n for n, revoked in after.items() if not revoked and tokens.get(n))
    if valid_again:
        console.print(
            "[yellow]tokens revoked since the dump are valid again: "
            + ", ".join(valid_again)
            + " (`matloop token revoke NAME` to revoke them again)[/yellow]"
        )
    gone = sorted(n for n, revoked in tokens.items() if not revoked and after.get(n, True))
    if gone:
        console.print("tokens no longer valid (revoked or absent in the dump): " + ", ".join(gone))


# -- campaign -----------------------------------------------------------------------
def _parse_objective(text: str) -> Any:
    """``NAME:max|min[:UNIT]`` to an objective."""
    from discovery.domain import Direction, Objective

    parts = text.split(":")
    for cut, unit in ((len(parts) - 1, None), (len(parts) - 2, parts[-1].strip())):
        name = ":".join(parts[:cut])
        if cut >= 1 and name and unit != "":
            try:
                return Objective(name, Direction.parse(parts[cut]), unit)
            except ValueError:
                continue
    after = [i for i, part in enumerate(parts) if i and _is_direction(part)]
    if not parts[0].strip():
        problem = "the name before the direction is empty"
    elif after and parts[after[-1] + 1 :] == [""]:
        problem = f"the unit after {parts[after[-1]]!r} is empty (leave out the last ':')"
    elif after:
        problem = f"one unit after {parts[after[-1]]!r}, not {':'.join(parts[after[-1] + 1 :])!r}"
    else:
        problem = "the direction must be max or min"
    raise CommandError(f"--objective {text!r}: {problem}, as in NAME:max or NAME:min:UNIT")


def _is_direction(text: str) -> bool:
    from discovery.domain import Direction

    try:
        Direction.parse(text)
    except ValueError:
        return False
    return True


def _warn_unknown_units(quantities: Sequence[Any]) -> None:
    """Say which declared units pint does not know (:func:`discovery.units.unknown_unit_notes`)."""
    from discovery.units import unknown_unit_notes

    for note in unknown_unit_notes([(q.name, q.unit) for q in quantities]):
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)


def _note_units_in_names(objectives: Sequence[Objective]) -> None:
    """Say when an objective's name ends in a unit: ``y:%:max`` names ``y:%``, unitless."""
    from discovery.units import OPAQUE, convertible

    for objective in objectives:
        head, _, tail = objective.name.rpartition(":")
        unit = tail.strip()
        if head and objective.unit is None and (convertible(unit) or OPAQUE.fullmatch(unit)):
            direction = objective.direction.value
            console.print(
                f"[yellow]note:[/yellow] the objective is named {escape(repr(objective.name))}, "
                f"without a unit; for {escape(head)} in {escape(unit)}, write --objective "
                f"{escape(f'{head}:{direction}:{unit}')} (the unit comes last)",
                highlight=False,
            )


def _parse_constraint(text: str) -> Any:
    """``NAME:LOWER:UPPER[:UNIT]`` (either bound may be empty) to an outcome constraint."""
    from discovery.domain import OutcomeConstraint

    parts = text.split(":")
    if len(parts) not in (3, 4) or not parts[0] or [p.strip() for p in parts[3:]] == [""]:
        raise CommandError(
            f"--constraint {text!r}: expected NAME:LOWER:UPPER[:UNIT] (e.g. band_gap:1.1:1.7:eV)"
        )
    bounds: list[float | None] = []
    for which, value in zip(("lower", "upper"), parts[1:3], strict=True):
        try:
            bounds.append(float(value) if value.strip() else None)
        except ValueError:
            raise CommandError(
                f"--constraint {text!r}: the {which} bound {value!r} is not a number"
            ) from None
    try:
        unit = parts[3].strip() if len(parts) == 4 else None
        return OutcomeConstraint(parts[0], bounds[0], bounds[1], unit)
    except ValueError as error:
        raise CommandError(f"--constraint {text!r}: {error}") from None


@campaign_app.command("create")
def campaign_create(
    name: str,
    from_csv: FromCsv = None,
    from_olympus: FromOlympus = None,
    objective: Objectives = None,
    param: Params = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="gp (the default; serves every campaign), bayesgp, ensemble, gnn, "
            "transformer, random, "
            f"botorch, portfolio, {RECOMMENDED_STRATEGY} (recommended for one objective "
            "over a pool), rl:VERSION "
            "(surrogate[+acquisition][+iwarp][+warp][+endgame|+believer])."
        ),
    ] = None,
    surrogate: Annotated[
        str | None,
        typer.Option(
            help="gp, bayesgp, ensemble, gnn, transformer or an installed plugin's: the "
            "model behind qLogNEI."
        ),
    ] = None,
    acquisition: Annotated[
        str | None,
        typer.Option(
            help="qlognei, qucb, qlogei, qsr, top, topk, ens, ensfinal, portfolio or rl:VERSION "
            "(a policy)."
        ),
    ] = None,
    composition: CompositionColumn = None,
    label: Annotated[
        str | None,
        typer.Option(
            help="Column of --from-csv naming each row (a sample id): proposals and exports "
            "show it (default: the --composition column, as written)."
        ),
    ] = None,
    unmeasured: Annotated[
        bool,
        typer.Option(
            "--unmeasured",
            help="--from-csv lists candidates the lab will measure: its objective and "
            "--constraint columns are left out or empty, except in rows measured already, "
            "whose results the campaign starts from (no lookup oracle: campaign run needs "
            "one).",
        ),
    ] = False,
    elements: Annotated[
        str | None,
        typer.Option(help="Generate a composition pool over these elements (Li,Fe,P,O)."),
    ] = None,
    max_elements: Annotated[
        int | None, typer.Option(help="At most k elements per candidate (--elements; 3).")
    ] = None,
    grid: Annotated[
        int | None, typer.Option(help="Fractions are multiples of 1/GRID (--elements; 10).")
    ] = None,
    charge_balanced: Annotated[
        bool,
        typer.Option(
            help="Keep compositions that can be ionic compounds only: pymatgen's oxidation "
            "states, each element of one sign, anions more electronegative than cations "
            "(drops intermetallics, peroxides and, unless --min-elements 1 or "
            "--max-elements 1, pure elements; --elements)."
        ),
    ] = False,
    min_elements: Annotated[
        int | None,
        typer.Option(help="At least this many elements (--elements; 2 if --charge-balanced)."),
    ] = None,
    substitute_from: Annotated[
        list[str] | None,
        typer.Option(
            help="Known formula whose pymatgen substitutions make the pool instead of the "
            "grid (--elements; repeatable)."
        ),
    ] = None,
    prior: Annotated[
        str | None,
        typer.Option(help="Property model version whose predictions are the prior mean."),
    ] = None,
    constraint: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME:LOWER:UPPER[:UNIT], a measured quantity that must be in range: a "
            "column of --from-csv, or one the lab reports with --elements (repeatable)."
        ),
    ] = None,
    initial: Annotated[int, typer.Option(help="Random experiments before the model.")] = 10,
    batch: Annotated[int, typer.Option(help="Experiments per round.")] = 4,
    seed: Seed = 0,
    budget: Annotated[
        int | None,
        typer.Option(
            min=1, help="Experiments to run in all: no proposal goes past it (top's endgame)."
        ),
    ] = None,
) -> None:
    """Create a campaign over a data set's rows, or over generated compositions.

    A measured table (`--from-csv`, `--from-olympus`) is a pool whose values answer as a
    lookup oracle (`campaign run`, backtests); with `--unmeasured`, a CSV's rows are
    candidates the lab will measure, their objective columns left out or empty.
    """
    from agents import CampaignAgent
    from agents.pools import CompositionRules
    from db.documents import check_name
    from discovery.domain import CampaignSettings

    with errors({"prior_model": "--prior"}):
        check_name(name)  # before a pool is read
        sources = [from_csv, from_olympus, elements]
        if sum(source is not None for source in sources) != 1:
            raise CommandError(
                "give exactly one of --from-csv FILE, --from-olympus DIR or --elements LIST"
            )
        _refuse_unused(
            elements is None,
            "shape a generated pool and need --elements (a CSV or Olympus pool is used as it is)",
            **{
                "--max-elements": max_elements is not None,
                "--min-elements": min_elements is not None,
                "--grid": grid is not None,
                "--charge-balanced": charge_balanced,
                "--substitute-from": bool(substitute_from),
            },
        )
        _refuse_unused(
            from_csv is None,
            "need --from-csv (they name its columns)",
            **{
                "--composition": composition is not None,
                "--param": bool(param),
                "--label": label is not None,
                "--unmeasured": unmeasured,
            },
        )
        _refuse_unused(
            from_olympus is not None,
            "cannot go with --from-olympus: an Olympus set declares its own objectives",
            **{"--objective": bool(objective)},
        )
        _refuse_unused(
            bool(substitute_from),
            "cannot go with --substitute-from: substitutions keep their own stoichiometry",
            **{"--grid": grid is not None},
        )
        strategy, _ = _strategy(strategy or "gp", surrogate, acquisition, given=strategy)
        settings = CampaignSettings(
            strategy, initial, batch, seed, prior_model=prior, budget=budget
        )
        constraints = [_parse_constraint(c) for c in constraint or []]
        if constraints and from_olympus is not None:
            raise CommandError("--constraint: an Olympus set's columns are its objectives")
        goals = [_parse_objective(o) for o in objective or []]
        if from_olympus is None and not goals:
            raise CommandError("--objective NAME:max|min is required with --from-csv or --elements")
        _warn_unknown_units([*goals, *constraints])
        _note_units_in_names(goals)
        if settings.budget_note:
            console.print(f"[yellow]note:[/yellow] {escape(settings.budget_note)}")
        if elements is not None:
            agent = _generated_campaign(
                name,
                goals,
                constraints,
                CompositionRules(
                    elements=tuple(e.strip() for e in elements.split(",")),  # "" refused
                    max_elements=3 if max_elements is None else max_elements,
                    grid=grid,
                    charge_balanced=charge_balanced,
                    min_elements=min_elements,
                    substitute_from=tuple(substitute_from or []),
                ),
                settings,
            )
            console.print(
                f"created campaign [bold]{escape(name)}[/bold]: {agent.campaign.pool_size} "
                f"generated compositions of {escape(elements)}"
            )
            _note_prior_target(agent.campaign)
            return
        dataset = measured_pool(
            from_csv, from_olympus, goals, constraints, param, composition, label, not unmeasured
        )
        earlier = {}
        if unmeasured and from_csv is not None:  # rows measured before the campaign
            earlier = _measured_rows(dataset, f"import:{from_csv.name}")
        if unmeasured:
            constrained = {c.name for c in constraints}
            agent = CampaignAgent.from_candidates(
                store(), name, dataset.space,
                tuple(o for o in dataset.objectives if o.name not in constrained),
                dataset.points, settings, dataset.source, constraints, labels=dataset.labels,
                results=earlier, source_sha256=dataset.source_sha256,
            )  # fmt: skip
        else:
            agent = CampaignAgent.from_dataset(store(), name, dataset, settings, constraints)
    for note in dataset.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
    stored_goals = agent.campaign.objectives
    goals_text = ", ".join(  # as declared: "gap (max, eV)"
        f"{o.name} ({o.direction.value}{f', {o.unit}' if o.unit else ''})" for o in stored_goals
    )
    console.print(
        f"created campaign [bold]{escape(name)}[/bold]: {len(dataset)} candidates, "
        f"{len(dataset.space.parameters)} parameters, "
        f"objective{'s' if len(stored_goals) > 1 else ''} {escape(goals_text)}"
    )
    _note_prior_target(agent.campaign)
    if earlier:
        _note_earlier_results(len(earlier), agent.campaign.settings)


def _measured_rows(dataset: PoolDataset, source: str) -> dict[int, Measurement]:
    """The rows of a table of candidates that hold results already: row -> result."""
    from discovery.domain import Measurement

    names = [o.name for o in dataset.objectives]
    rows = (dict(zip(names, map(float, row), strict=True)) for row in dataset.values)
    return {
        i: Measurement("", values, "", source)
        for i, values in enumerate(rows)
        if all(map(math.isfinite, values.values()))
    }


def _note_earlier_results(imported: int, settings: Any) -> None:
    """Say what a new campaign made of the results its table of candidates held."""
    from agents.campaign import MIN_RESULTS
    from discovery.domain import IMPORTED
    from discovery.planners import RandomPlanner

    design = ""
    if settings.strategy != RandomPlanner.name:  # a model needs MIN_RESULTS results
        needed = max(settings.initial, MIN_RESULTS)
        design = (
            f"; {needed - imported} random experiment(s) complete the initial design of {needed}"
            if imported < needed
            else "; the model chooses from the first proposal on"
        )
    console.print(
        f"[yellow]note:[/yellow] {imported} row(s) hold results: stored as the completed "
        f"trials of batch b0000 (strategy {IMPORTED}), experiments done that count towards "
        f"--initial and --budget{design}"
    )


def measured_pool(
    from_csv: Path | None,
    from_olympus: Path | None,
    goals: Sequence[Objective],
    constraints: Sequence[Any],
    param: list[str] | None,
    composition: str | None,
    label: str | None,
    measured: bool = True,
) -> PoolDataset:
    """The measured data set of ``--from-csv`` (its columns as named) or ``--from-olympus``.

    Not ``measured``: the CSV's candidates, for a lab to measure (values NaN).

    Raises:
        CommandError: for a quantity named both objective and constraint.
    """
    from discovery.datasets import load_csv, load_olympus
    from discovery.domain import Direction

    if from_csv is None:
        assert from_olympus is not None
        return load_olympus(_olympus_folder(from_olympus))
    both = sorted({o.name for o in goals} & {c.name for c in constraints})
    if both:  # an Olympus set's measurements are objectives until constrained
        raise CommandError(
            f"--objective and --constraint both name {both}: a quantity is "
            "optimised or constrained, not both"
        )
    wanted = [(o.name, o.direction) for o in goals]
    wanted += [(c.name, Direction.MAXIMIZE) for c in constraints]  # read, not optimised
    dataset = load_csv(
        from_csv, wanted, param, composition, _read_formula(), label=label, measured=measured
    )
    units = {o.name: o.unit for o in goals}
    declared = tuple(replace(o, unit=units.get(o.name)) for o in dataset.objectives)
    return replace(dataset, objectives=declared)


def _note_prior_target(campaign: Any) -> None:
    """Say when a prior model predicts a property named otherwise than the objective.

    Units are checked (a K prior for an eV objective is refused), but an objective
    without a unit, or one in the prior's unit, takes any prior: a Tc model for a band
    gap would be scaled to fit and shape every choice.
    """
    version = campaign.settings.prior_model
    if version is None:
        return
    from db.models import describe_model_record

    target = str(describe_model_record(version)["metrics"].get("target") or "")
    objective = campaign.objectives[0].name

    def plain(name: str) -> str:
        return re.sub(r"[\W_]+", "", name).lower()

    if target and plain(target) != plain(objective):
        err.print(
            f"[yellow]note:[/yellow] prior {escape(version)} predicts {escape(repr(target))} "
            f"and the objective is {escape(repr(objective))}: the prior mean is fitted to "
            "the measurements by a scale factor, so a prior of another property is taken "
            "without an error; check it is the same quantity"
        )
    _note_stale_prior(version)


def _note_stale_prior(version: str) -> None:
    """Say when records a prior model learned from were rejected or removed since."""
    from db.lineage import property_model_lineage

    records = property_model_lineage(version)["records"]
    if not records or not (records["rejected"] or records["gone"]):
        return
    changed = [
        f"{records['rejected']} rejected by a curator" if records["rejected"] else "",
        f"{records['gone']} gone with their papers" if records["gone"] else "",
    ]
    err.print(
        f"[yellow]note:[/yellow] prior {escape(version)} learned from {records['used']} "
        f"literature records, {' and '.join(c for c in changed if c)} since: a model "
        "trained on the records now (`matloop model train --records ...`) leaves them out "
        f"(`matloop lineage model {escape(version)}` names them)"
    )


def _olympus_folder(given: Path) -> Path:
    """``given``, or the shipped set of that name when there is no such folder.

    Raises:
        CommandError: naming the folder, and the shipped sets, when it does not exist.
    """
    from matloop.demo import DATA_DIR

    sets = DATA_DIR / "olympus"
    shipped = sets / given.name
    bare_name = given == Path(given.name) and not given.exists()
    if bare_name and shipped.is_dir():
        return shipped
    if not given.exists():
        names = sorted(p.name for p in sets.iterdir() if (p / "config.json").is_file())
        shipped_too = f", and no set of that name is shipped ({', '.join(names)})"
        raise CommandError(
            f"--from-olympus: the folder {str(given)!r} does not exist"
            + (shipped_too if bare_name else "")
        )
    return given


def _refuse_unused(unused: bool, why: str, **given: bool) -> None:
    """Refuse options that the chosen source would ignore, naming them."""
    named = [option for option, present in given.items() if present]
    if unused and named:
        raise CommandError(f"{', '.join(named)} {why}")


#: The command-line option of each field of :class:`agents.pools.CompositionRules`.
_RULE_OPTIONS = {
    "max_elements": "--max-elements",
    "min_elements": "--min-elements",
    "grid": "--grid",
    "elements": "--elements",
    "substitute_from": "--substitute-from",
}


def _generated_campaign(
    name: str,
    objectives: list[Any],
    constraints: list[Any],
    rules: CompositionRules,
    settings: Any,
) -> Any:
    """A lab campaign over generated compositions, leaving out formulas already known."""
    from agents import CampaignAgent
    from agents.pools import generate_pool
    from db.campaigns import MAX_POOL_SIZE
    from db.materials import known_formulas

    opened: list[Any] = []  # the store, opened only once the rules hold

    def known(symbols: tuple[str, ...]) -> set[str]:
        opened.append(store())
        return known_formulas(symbols)

    try:
        pool = generate_pool(rules, known, read_formula=_read_formula(), limit=MAX_POOL_SIZE)
    except ValueError as error:  # its fields, as the options that set them
        field, _, rest = str(error).partition(":")
        raise CommandError(f"{_RULE_OPTIONS.get(field, field)}:{rest}") from None
    return CampaignAgent.from_candidates(
        opened[0],
        name,
        pool.space,
        tuple(objectives),
        pool.points,
        settings,
        source="generated",
        constraints=constraints,
        pool_recipe=pool.recipe,
    )


def _read_formula() -> Callable[[str], str]:
    """How formulas from the command line and its files are read as their writers meant.

    :func:`literature.formulas.read_formula`: ``STO`` is ``SrTiO3``; ``YBCO`` (oxygen not
    fixed), Roman-numeral oxidation states and misread capitals are refused. Imported
    here, since discovery/ may not import literature/.
    """
    from literature.formulas import read_formula

    return read_formula


def _strategy(
    strategy: str,
    surrogate: str | None,
    acquisition: str | None = None,
    *,
    stored: bool = False,
    given: str | None = None,
) -> tuple[str, Planner]:
    """The planner, and its name, from ``--strategy``, ``--surrogate`` and ``--acquisition``.

    Args:
        strategy: ``--strategy`` when a campaign is created, or the campaign's own strategy
            when some rounds switch (``stored``).
        surrogate: ``--surrogate``: the surrogate, keeping the strategy's acquisition and
            flags where it serves them (:func:`discovery.planners.with_surrogate`).
        acquisition: ``--acquisition``: a whole strategy (``portfolio``, ``rl:VERSION``),
            or an acquisition that replaces the strategy's own (surrogate and flags kept;
            :func:`discovery.planners.with_acquisition`).
        stored: Whether ``strategy`` is the campaign's: the options then replace its
            parts instead of having to agree with it.
        given: ``--strategy`` as typed (None: left to its default, gp), so that an
            explicit ``gp`` beside a whole strategy (``--acquisition portfolio``) is a
            conflict, not the default it replaces.

    """
    from agents.campaign import strategy_planner
    from agents.policies import STRATEGY_PREFIX
    from discovery.campaign_models import surrogates
    from discovery.planners import with_acquisition, with_surrogate

    conflict = "" if stored else f" does not go with --strategy {strategy}"
    if surrogate is not None:
        if surrogate not in surrogates():
            raise CommandError(
                f"--surrogate: unknown {surrogate!r}; choose from {list(surrogates())}"
            )
        if conflict and strategy not in ("gp", surrogate):
            raise CommandError(f"--surrogate {surrogate}{conflict}")
        strategy = with_surrogate(strategy, surrogate)
    if acquisition is not None:
        if acquisition.startswith(STRATEGY_PREFIX) or acquisition == "portfolio":
            if surrogate not in (None, "gp"):
                raise CommandError(f"--acquisition {acquisition} works on the gp surrogate")
            if conflict and (strategy != "gp" or given is not None):
                raise CommandError(f"--acquisition {acquisition} is a whole strategy; it{conflict}")
            strategy = acquisition
        elif conflict and _names_acquisition(strategy):
            raise CommandError(f"--acquisition {acquisition}{conflict}")
        else:
            strategy = with_acquisition(strategy, acquisition)
    if strategy.startswith(STRATEGY_PREFIX):
        store()  # the policy is read from the model registry
    try:
        planner = strategy_planner(strategy)
        # as the campaign stores it: a policy's version in full, however it was shortened,
        # and the other strategies' parts in one order (gp+warp+qucb is gp+qucb+warp)
        return planner.name, planner
    except (ValueError, LookupError) as error:
        option = "--acquisition" if acquisition is not None else "--strategy"
        raise CommandError(f"{option}: {error}") from None


def _names_acquisition(strategy: str) -> bool:
    """Whether ``strategy`` chooses its own way: an acquisition, or no surrogate part."""
    from discovery.acquisition import acquisitions
    from discovery.campaign_models import surrogates

    surrogate, *options = strategy.split("+")
    return surrogate not in surrogates() or any(o in acquisitions() for o in options)


@campaign_app.command("list")
def campaign_list(
    status: Annotated[
        str | None, typer.Option(help="Only the campaigns still running (active) or closed.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON, as GET /api/v1/campaigns answers.")
    ] = False,
) -> None:
    """List campaigns, oldest first."""
    from agents.serialize import campaign_summary_json

    with errors({"status": "--status"}):
        campaigns = store().campaigns(status=status)
    if as_json:
        console.print_json(json.dumps([campaign_summary_json(c) for c in campaigns]))
        return
    table = Table()
    # a name is typed back whole: it keeps its width, the other columns fold
    widest = max((len(c.name) for c in campaigns), default=4)
    table.add_column("name", no_wrap=True, min_width=widest)
    for column in ("strategy", "pool", "objectives", "status", "created"):
        table.add_column(column, overflow="fold")
    for c in campaigns:
        goals = ", ".join(  # as --objective spells them: hardness:max:MPa
            ":".join([o.name, o.direction.value, *filter(None, [o.unit])]) for o in c.objectives
        )
        created = c.created_at.strftime("%Y-%m-%d %H:%M") if c.created_at else ""
        cells = (c.name, c.settings.strategy, str(c.pool_size), goals, c.status, created)
        table.add_row(*map(escape, cells))
    console.print(table)


@campaign_app.command("show")
def campaign_show(
    name: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    rows: Annotated[
        int | None,
        typer.Option(
            "--history",
            min=0,
            help="Latest metrics rows to show (default 10; with --json 100). "
            "GET /api/v1/campaigns/NAME/metrics pages through all of them.",
        ),
    ] = None,
) -> None:
    """Show a campaign's progress: trials, best result, EF and AF on a known pool."""
    from agents import CampaignAgent
    from agents.serialize import hypervolume_reference_json, status_json
    from discovery.domain import TrialStatus

    with errors():
        agent = CampaignAgent(store(), name)
        status = agent.status()
        shown = rows if rows is not None else 100 if as_json else 10
        history = agent.latest_metrics(shown + 1, status)  # one more: are there earlier?
        ended = agent.store.trials(name, [TrialStatus.FAILED, TrialStatus.ABANDONED])
    earlier = len(history) > shown  # then it holds one row more than shown
    history = history[1:] if earlier else history
    if as_json:
        console.print_json(json.dumps(status_json(status) | {"metrics_history": history}))
        return
    first = status.campaign.objectives[0]
    unit = f" {first.unit}" if first.unit else ""
    console.print(_headline(status))
    if status.campaign.pool_size:
        console.print(escape(_pool_line(status.campaign)))
    counts = {k: str(v) for k, v in status.trials.items() if v}
    if status.expired:  # still running (their results count): the next claim frees them
        counts["running"] += f" ({status.expired} with a lease that ran out)"
    if status.stalled:  # kept: their sample exists (`campaign handoff` moves them on)
        counts["running"] += f" ({status.stalled} stalled: partly measured or handed on)"
    console.print("trials: " + (", ".join(f"{k} {v}" for k, v in counts.items()) or "none yet"))
    for c in status.campaign.constraints:
        console.print(escape(f"constraint {c.describe()}"))  # as the dashboard gives it
    if status.feasible is not None:
        console.print(f"feasible results: {status.feasible} of {status.measurements}")
    if status.best is not None:
        for goal, best in [(first, status.best), *_other_bests(status)]:
            value = best.measurement.values[goal.name]
            console.print(
                escape(
                    f"best {goal.name} = {value:.6g}{f' {goal.unit}' if goal.unit else ''} "
                    f"at {_point(status.campaign.space, best.trial.parameters)} "
                    f"(trial {best.trial.id})"
                )
            )
    if status.pareto:
        console.print(_pareto_table(status))
    if status.efficiency is not None:
        eff = status.efficiency
        af = eff.acceleration_factor
        console.print(
            f"top-5% found {eff.top_fraction[-1]:.0%}; EF {eff.enhancement_factor:.2f}, "
            f"AF {'-' if math.isnan(af) else f'{af:.2f}'} against random; "
            f"pool best {eff.pool_best:.6g}{escape(unit)}"
        )
    for trial in [t for t in ended if t.reason][-10:]:  # why the latest were given up
        console.print(escape(f"{trial.status.value} {trial.id}: {trial.reason}"))
    if history:
        console.print(_metrics_table(history))
        if earlier:
            console.print(f"(the latest {shown} metrics rows; --history N for more)")
        if (point := hypervolume_reference_json(status)) is not None:
            where = ", ".join(f"{escape(name)} {_fmt(value)}" for name, value in point.items())
            console.print(
                f"hypervolume above ({where}): a Pareto point below it in any objective adds "
                "nothing",
                highlight=False,
            )


def _headline(status: CampaignStatus) -> str:
    """Name, status, strategy as the model-guided trials name it, prior, rounds, budget."""
    from agents.campaign import trial_strategy

    campaign = status.campaign
    settings = campaign.settings
    prior = "" if settings.prior_model is None else f"  prior={escape(settings.prior_model)}"
    budget = "" if settings.budget is None else f"  budget={settings.budget}"
    return (
        f"[bold]{escape(campaign.name)}[/bold]  status={escape(campaign.status)}  "
        f"strategy={escape(trial_strategy(campaign))}{prior}  rounds={status.rounds}{budget}"
    )


def _pool_line(campaign: Campaign) -> str:
    """What the pool holds: its size, and its recipe when matloop generated it."""
    recipe = campaign.pool_recipe
    if recipe is None:
        source = campaign.source or "unknown source"
        origin = "generated candidates" if source == "generated" else f"candidates from {source}"
        digest = campaign.source_sha256
        return f"pool: {campaign.pool_size} {origin}" + (f" (sha256 {digest})" if digest else "")
    return f"pool: {campaign.pool_size} compositions of {recipe.describe()}"


def _other_bests(status: CampaignStatus) -> list[tuple[Objective, Observation]]:
    """The best feasible result on each objective after the first (all on the front)."""
    bests = []
    for goal in status.campaign.objectives[1:]:
        sign, name = goal.direction.sign, goal.name
        bests.append((goal, max(status.pareto, key=lambda o: sign * o.measurement.values[name])))
    return bests


#: Pareto-front rows ``campaign show`` prints: with several objectives a front can hold
#: most results.
PARETO_ROWS = 20


def _pareto_table(status: CampaignStatus) -> Table:
    """The measured feasible Pareto front (its latest rows): trial, point, each objective."""
    goals = status.campaign.objectives
    heads = [f"{g.name} ({g.unit})" if g.unit else g.name for g in goals]
    shown = status.pareto[-PARETO_ROWS:]
    title = "Pareto front"
    if len(shown) < len(status.pareto):
        title += f" (latest {len(shown)} of {len(status.pareto)}; all in --json and export)"
    table = Table("trial", "point", *map(escape, heads), title=title)
    for o in shown:
        values = [_fmt(o.measurement.values[g.name]) for g in goals]
        point = _point(status.campaign.space, o.trial.parameters)
        table.add_row(escape(o.trial.id or ""), escape(point), *values)
    return table


def _metrics_table(rows: list[dict[str, Any]]) -> Table:
    """Stored live metrics (latest rows), one column per metric that has values."""
    names = [k for k in rows[-1] if k != "measurements" and any(r.get(k) is not None for r in rows)]
    table = Table("measurements", *(n.replace("_", " ") for n in names), title="live metrics")
    for row in rows:
        cells = ["-" if row.get(n) is None else f"{row[n]:.4g}" for n in names]
        table.add_row(str(row["measurements"]), *cells)
    return table


@campaign_app.command("propose")
def campaign_propose(
    name: str,
    n: Annotated[int | None, typer.Option("-n", help="Batch size (default from settings).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Propose the next batch of experiments (stored as trials)."""
    from agents import CampaignAgent

    with errors():
        agent = CampaignAgent(store(), name)
        trials = agent.propose(n)
        if not trials:
            err.print(f"[yellow]note:[/yellow] nothing proposed: {agent.no_work().why}")
            if as_json:  # still a list to read
                console.print_json("[]")
            return  # no table: it would have no rows, nor the columns of any
        if n is not None and len(trials) < n:
            err.print(
                f"[yellow]note:[/yellow] proposed {len(trials)} of {n}: {agent.no_work(trials).why}"
            )
    _print_trials(agent, trials, as_json)


@campaign_app.command("claim")
def campaign_claim(
    name: str,
    n: Annotated[int, typer.Option("-n", min=1, help="Trials to take.")] = 1,
    who: Annotated[
        str,
        typer.Option(
            "--as",
            help="Who measures them: the --source their results name (observe's default "
            "is manual).",
        ),
    ] = "manual",
    hours: Annotated[
        float, typer.Option(min=0.001, help="The lease: past it, the trials go back to the queue.")
    ] = 24.0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Take trials to measure by hand: proposed trials waiting, or a new batch.

    They are leased to `--as` for `--hours`, as an instrument's claim leases them: no
    instrument is handed them meanwhile, and closing the campaign leaves them running, so
    their results are still taken (`campaign observe --source` the same name).
    """
    from agents import CampaignAgent

    with errors():
        agent = CampaignAgent(store(), name)
        trials = agent.claim(who, count=n, lease_seconds=hours * 3600)
        if not trials:
            err.print(f"[yellow]note:[/yellow] nothing claimed: {agent.no_work().why}")
            if as_json:
                console.print_json("[]")
            return
        if len(trials) < n:
            err.print(
                f"[yellow]note:[/yellow] claimed {len(trials)} of {n}: {agent.no_work(trials).why}"
            )
    _print_trials(agent, trials, as_json)


@campaign_app.command("extend")
def campaign_extend(
    name: str,
    who: Annotated[str, typer.Option("--as", help="Whose leases: claim's --as.")] = "manual",
    hours: Annotated[
        float, typer.Option(min=0.001, help="The leases from now on: past it, back to the queue.")
    ] = 24.0,
    trial: Annotated[
        list[str] | None,
        typer.Option(help="Only this trial (repeatable); default every one leased to --as."),
    ] = None,
) -> None:
    """Extend the leases on trials taken by hand (`campaign claim`), from now.

    A measurement that takes longer than its lease keeps its trials this way: past the
    lease they go back to the queue, and an instrument may be handed them. A lease that
    already runs past ``--hours`` from now is left as it is: extending never shortens.
    """
    from agents import CampaignAgent
    from db.campaigns import parse_id
    from db.documents import utcnow
    from discovery.domain import TrialStatus

    with errors({"trial_id": "--trial"}):
        agent = CampaignAgent(store(), name)
        held = [t for t in agent.store.trials(name, [TrialStatus.RUNNING]) if t.claimed_by == who]
        wanted = {str(parse_id(t)) for t in trial or ()}  # as stored: lower-case hex
        for trial_id in sorted(wanted - {t.id for t in held}):
            agent.heartbeat(trial_id, who, hours * 3600)  # refused: the store says why
        held = [t for t in held if not wanted or t.id in wanted]
        if not held:
            raise CommandError(
                f"--as {who!r}: no trial of campaign {name!r} is leased to it (claim some "
                "with `campaign claim --as`)"
            )
        wanted_until = utcnow() + timedelta(hours=hours)
        later = [t for t in held if t.lease_expires_at and t.lease_expires_at >= wanted_until]
        extended = [agent.heartbeat(str(t.id), who, hours * 3600) for t in held if t not in later]
    if extended:
        until = max(t.lease_expires_at for t in extended if t.lease_expires_at is not None)
        console.print(
            f"extended {len(extended)} lease(s) held by {escape(who)} until "
            f"{until:%Y-%m-%d %H:%M} UTC"
        )
    if later:
        last = max(t.lease_expires_at for t in later if t.lease_expires_at is not None)
        console.print(
            f"left {len(later)} lease(s) as they were: they already run past {hours:g} h from "
            f"now (the last until {last:%Y-%m-%d %H:%M} UTC); extending never shortens one"
        )


@campaign_app.command("handoff")
def campaign_handoff(
    name: str,
    trial: Annotated[str, typer.Argument(help="The trial id.")],
    to: Annotated[str, typer.Option(help="The instrument that measures it next.")],
    who: Annotated[
        str | None,
        typer.Option("--as", help="The holder handing it over (default: an operator, whoever)."),
    ] = None,
    hours: Annotated[
        float | None,
        typer.Option(min=0.001, help="The new lease from now (default: as long as the last)."),
    ] = None,
) -> None:
    """Pass a running trial to the instrument that measures it next (its lease too).

    For trials several instruments measure, each reporting its outcomes with
    `campaign observe --partial`. A trial with parts stays leased when its lease runs out
    (its sample exists): hand it on from an instrument gone for good here.
    """
    from agents import CampaignAgent

    with errors({"trial_id": "TRIAL"}):
        agent = CampaignAgent(store(), name)
        moved = agent.hand_off(trial, who, to, None if hours is None else hours * 3600)
    if moved.status.value != "running":  # a retry, after the trial completed or was given up
        console.print(f"trial {moved.id} is {moved.status.value}")
        return
    until = f" until {moved.lease_expires_at:%Y-%m-%d %H:%M} UTC" if moved.lease_expires_at else ""
    console.print(f"trial {moved.id} leased to {escape(moved.claimed_by or '')}{until}")


GIVE_UP_TRIALS = Annotated[
    list[str] | None, typer.Argument(help="Trial ids (as `propose`/`claim` print them).")
]
GIVE_UP_REASON = Annotated[str | None, typer.Option(help="Why, kept on the trial.")]


@campaign_app.command("cancel")
def campaign_cancel(
    name: str,
    trial: GIVE_UP_TRIALS = None,
    waiting: Annotated[
        bool, typer.Option("--waiting", help="Every proposed trial no one has claimed.")
    ] = False,
    reason: GIVE_UP_REASON = None,
) -> None:
    """Cancel trials that will not be run, as an operator: no result will come.

    Their places in the budget and their candidates are freed (a cancelled trial is no
    experiment; its candidate may be proposed again). A running trial is cancelled too:
    its instrument's result is then refused. Cancelling again changes nothing.
    """
    _give_up(name, trial, waiting, reason, fail=False)


@campaign_app.command("fail")
def campaign_fail(
    name: str,
    trial: GIVE_UP_TRIALS = None,
    reason: GIVE_UP_REASON = None,
) -> None:
    """Mark trials failed, as an operator: their candidates may be proposed again.

    A failure counts against its candidate: one that failed twice is not proposed again.
    Failing a trial again changes nothing.
    """
    _give_up(name, trial, False, reason, fail=True)


def _give_up(
    name: str, trial_ids: Sequence[str] | None, waiting: bool, reason: str | None, fail: bool
) -> None:
    """Fail or cancel (abandon) trials as an operator.

    Each trial is its own write, safe to repeat: one refused (completed, say) is named,
    and the others are given up all the same.
    """
    from agents import CampaignAgent
    from discovery.domain import TrialStatus

    what = "failed" if fail else "cancelled"
    with errors():
        if not trial_ids and not waiting:
            every = "" if fail else ", or --waiting for every unclaimed one"
            raise CommandError(f"name the trials (their ids){every}")
        agent = CampaignAgent(store(), name)
        ids = list(dict.fromkeys(trial_ids or ()))
        if waiting:
            proposed = agent.store.trials(name, [TrialStatus.PROPOSED])
            ids += [str(t.id) for t in proposed if t.claimed_by is None and t.id not in ids]
        give_up = agent.fail if fail else agent.abandon
        done, refused = 0, []
        for trial_id in ids:
            try:
                give_up(trial_id, None, reason, operator=True)
                done += 1
            except (ValueError, LookupError) as error:  # the store names the trial and why
                refused.append(str(error.args[0] if isinstance(error, LookupError) else error))
        console.print(f"{what} {done} trial(s) of {escape(name)}")
        if refused:
            raise CommandError("; ".join(refused))


def _print_trials(agent: Any, trials: Sequence[Any], as_json: bool) -> None:
    """Trials handed out, as a table or (``as_json``) a JSON list with every column."""
    labelled = any(t.label is not None for t in trials)  # a pool's sample ids, say
    rows = []
    for t in trials:
        fixed = {
            "trial_id": t.id,
            "batch": t.batch,
            "strategy": t.strategy,
            "candidate": t.candidate,
            **({"label": t.label} if labelled else {}),
            "model_version": t.model_version,
            "acquisition_value": t.acquisition_value,
        }
        formula = _formula(agent.campaign.space, t.parameters)
        rows.append(fixed | formula | _columns("parameter", t.parameters, [*fixed, *formula]))
    if as_json:
        console.print_json(json.dumps(rows))
        return
    from discovery.compositions import element_fractions

    # What to make and the id to report it under; --json and `export` have the rest (the
    # model version, the pool row, a composition's fractions, which the formula says):
    # with them the ids and parameters were cut to '6b…' on an 80-column terminal.
    hidden = {"model_version", "candidate", *(element_fractions(agent.campaign.space) or [])}
    said = {c for row in rows for c, v in row.items() if v is not None}  # a random trial's
    columns = [c for c in rows[0] if c not in hidden and c in said]  # acquisition: none
    table = Table()
    for column in columns:
        whole = column in ("trial_id", "formula")  # to copy into `observe`, never cut
        table.add_column(escape(column), no_wrap=whole, overflow="fold")  # the rest wraps
    for row in rows:
        table.add_row(*(_fmt(row[c]) for c in columns))
    console.print(table)


def _columns(kind: str, named: dict[str, Any], taken: Iterable[str]) -> dict[str, Any]:
    """``named`` as columns; a name already ``taken`` by a fixed column gets ``kind.``.

    A pool may well have a column called ``status`` or ``source``: it must not overwrite
    the trial's own (parameter and outcome names never contain a dot).
    """
    reserved = set(taken)
    return {f"{kind}.{name}" if name in reserved else name: value for name, value in named.items()}


def _formula(space: SearchSpace, parameters: dict[str, Any]) -> dict[str, Any]:
    """``{"formula": "Mg5Si6"}`` for a point of a composition space, else nothing."""
    from discovery.compositions import formula_of

    formula = formula_of(space, parameters)
    return {} if formula is None else {"formula": formula}


def _point(space: SearchSpace, parameters: dict[str, Any]) -> str:
    """A point as a user reads it: a composition's formula, else its parameters."""
    return _formula(space, parameters).get("formula") or str(parameters)


def _fmt(value: Any) -> str:
    """A table cell, as stored: ``[nH]`` in a SMILES is text, not Rich markup."""
    return escape(f"{value:.6g}" if isinstance(value, float) else str(value))


#: Columns of `campaign propose --json` beside the parameters, which a lab's results file
#: may keep (their values are the proposal's, not measurements).
PROPOSAL_COLUMNS = frozenset(
    {"batch", "strategy", "candidate", "label", "model_version", "acquisition_value", "formula"}
)


def _proposal_columns(agent: Any) -> frozenset[str]:
    """Columns of a proposal a results CSV may keep: not outcomes, so not read as values."""
    names = agent.campaign.space.names
    proposal = {*PROPOSAL_COLUMNS, *names, *(f"parameter.{n}" for n in names)}
    return frozenset(proposal - {o.name for o in agent.outcomes})


def _results_from_file(
    path: Path,
    source: str,
    ignored: frozenset[str] = frozenset(),
    outcomes: frozenset[str] = frozenset(),
    by_label: Callable[[str], str] | None = None,
    partial: bool = False,
) -> list[tuple[str, Any, dict[str, str]]]:
    """The results in a CSV (``trial_id``, objectives...) or JSON file (a list of results).

    Every row is checked as the API checks a result (``ResultIn``); errors name the file,
    the row and the field. A CSV's ``ignored`` columns (the proposal's own: its
    parameters, ``label``, ``batch``...) are not values: they are kept aside, for
    :func:`_check_samples` to hold against the trial. Given the campaign's ``outcomes``,
    any other column is refused by name. A CSV without ``trial_id`` may name each row's
    trial by its ``label``, which ``by_label`` reads as the trial's id.

    Returns:
        ``(where, measurement, sample cells)`` per row: ``data row 3`` in a CSV,
        ``results[2]`` in JSON; the cells of the ``ignored`` columns that are not blank
        (none in JSON).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets start files with a BOM
    except OSError as error:
        raise CommandError(f"{path}: {error.strerror or error}") from None
    except ValueError as error:  # not UTF-8
        raise CommandError(f"{path}: {error}") from None
    if not text.strip():
        raise CommandError(f"{path}: no results (the file is empty)")
    if path.suffix.lower() == ".json":
        rows = _json_rows(path, text)
    else:
        rows = _csv_rows(path, text, ignored, outcomes, by_label, partial)
    if not rows:
        raise CommandError(f"{path}: no results")
    return [
        (where, _result(path, where, row, source, partial), cells) for where, row, cells in rows
    ]


def _json_rows(path: Path, text: str) -> list[tuple[str, Any, dict[str, str]]]:
    from agents.serialize import DuplicateKeyError, read_json, row_giving_a_key_twice

    try:
        rows = read_json(text)  # a key given twice is refused, not read last-wins
    except DuplicateKeyError as error:
        row = row_giving_a_key_twice(text)
        where = "" if row is None else f"results[{row}]: "
        raise CommandError(f"{path}: {where}{error}") from None
    except ValueError as error:
        raise CommandError(f"{path}: {error}") from None
    except RecursionError:
        raise CommandError(f"{path}: JSON too deeply nested") from None
    if not isinstance(rows, list):
        raise CommandError(f"{path}: expected a JSON list of results")
    return [(f"results[{i}]", row, {}) for i, row in enumerate(rows)]


def _csv_rows(
    path: Path,
    text: str,
    ignored: frozenset[str],
    outcomes: frozenset[str] = frozenset(),
    by_label: Callable[[str], str] | None = None,
    partial: bool = False,
) -> list[tuple[str, Any, dict[str, str]]]:
    """Rows as result objects: every column but trial_id, idempotency_key and ``ignored``.

    Each with the cells of its ``ignored`` columns that are not blank. Header names and
    trial ids are read without the spaces around them. Given the campaign's ``outcomes``,
    a column that is none of these is refused by name before any row is read; a trial
    given two different results is refused too (a stored one is replaced by a correction).
    Without a ``trial_id`` column, ``by_label`` reads each row's ``label`` as its trial's
    id. ``partial``: rows are parts, a blank cell an outcome the row does not give, and a
    trial may have several.

    Raises:
        CommandError: naming the file and the header, or the row and what is wrong in it.
    """
    rows = []
    first: dict[str, tuple[str, Any]] = {}  # trial id -> where, and its result
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = header
        labelled = by_label is not None and "trial_id" not in header and "label" in header
        _check_results_header(path, header, ignored, outcomes, labelled)
        for i, row in enumerate(reader):
            where = f"data row {i + 1}"
            if None in row or None in row.values():
                more = "more" if None in row else "fewer"
                raise CommandError(f"{path}: {where} has {more} cells than the header")
            if labelled:
                assert by_label is not None
                trial_id = _labelled_trial(path, where, row["label"].strip(), by_label)
            else:
                trial_id = row.pop("trial_id").strip()
            if not trial_id:
                raise CommandError(f"{path}: {where} has no trial_id")
            key = row.pop("idempotency_key", None) or None
            values = {
                column: _number(path, where, column, cell)
                for column, cell in row.items()
                if column not in ignored and not (partial and not cell.strip())
            }
            cells = {column: cell for column, cell in row.items() if column in ignored and cell}
            result = {"trial_id": trial_id, "values": values, "idempotency_key": key}
            earlier, said = first.setdefault(trial_id, (where, result))
            if said != result and not partial:
                raise CommandError(
                    f"{path}: {where}: trial {trial_id} has a result in {earlier} too: one "
                    "result per trial (a stored one is replaced by `campaign correct`)"
                )
            rows.append((where, result, cells))
    except csv.Error as error:  # a field over the size limit, ...
        raise CommandError(f"{path}: {error}") from None
    return rows


def _labelled_trial(path: Path, where: str, label: str, by_label: Callable[[str], str]) -> str:
    """The id of the trial a row names by its label.

    Raises:
        CommandError: naming the file, the row and the label no trial is read from.
    """
    if not label:
        raise CommandError(f"{path}: {where} has no label (nor a trial_id column)")
    try:
        return by_label(label)
    except LookupError as error:
        raise CommandError(f"{path}: {where}: {error.args[0]}") from None


def _trial_by_label(agent: Any, trials: Sequence[Any]) -> Callable[[str], str]:
    """A reader of a label as the id of the trial it names: one of ``agent``'s ``trials``.

    A label names one candidate of the pool, as written with spaces collapsed; digits
    that no candidate is called name the one whose label they are with leading zeros, as
    a spreadsheet gives ``007`` back: ``7``. The reader gives that candidate's trial still
    out, else its completed one (a results file sent again), else its latest. The pool is
    read at the first label.

    Raises:
        LookupError: from the reader, for a label no candidate has, one that two
            candidates have, or one whose candidate was never proposed.
    """
    from discovery.domain import TrialStatus

    @cache
    def trials_by_candidate() -> tuple[
        dict[str, list[int]], dict[int, list[int]], dict[int | None, list[Any]]
    ]:
        named: dict[str, list[int]] = {}
        zeros_dropped: dict[int, list[int]] = {}
        for candidate in agent.store.candidates(agent.name):
            if candidate.label is not None:
                label = _spaced(candidate.label)
                named.setdefault(label, []).append(candidate.index)
                if (number := _digits(label)) is not None:
                    zeros_dropped.setdefault(number, []).append(candidate.index)
        by_candidate: dict[int | None, list[Any]] = {}
        for trial in trials:  # proposal order: the latest last
            by_candidate.setdefault(trial.candidate, []).append(trial)
        return named, zeros_dropped, by_candidate

    def read(label: str) -> str:
        named, zeros_dropped, by_candidate = trials_by_candidate()
        written = _spaced(label)
        indices = named.get(written, [])
        if not indices and (number := _digits(written)) is not None:
            indices = zeros_dropped.get(number, [])  # 007, as a spreadsheet gives it back: 7
        if len(indices) != 1:
            many = f"names {len(indices)} candidates" if indices else "is no candidate's"
            raise LookupError(f"label {label!r} {many}: give trial_id")
        found = by_candidate.get(indices[0], [])
        if not found:
            raise LookupError(f"label {label!r}: its candidate was never proposed")
        pending = [t for t in found if t.status.is_pending]
        completed = [t for t in found if t.status is TrialStatus.COMPLETED]
        return str((pending or completed or found)[-1].id)

    return read


def _zeros_dropped(cell: str, label: str, labels: Callable[[], frozenset[str]]) -> bool:
    """Whether ``cell`` is ``label`` as a spreadsheet gives digits back (``7`` for ``007``).

    Not where a candidate of the pool (``labels``) is called ``cell`` itself: the row
    then names that one.
    """
    text = _spaced(cell)
    digits = _digits(text)
    return digits is not None and digits == _digits(_spaced(label)) and text not in labels()


def _digits(text: str) -> int | None:
    """The number a label of ASCII digits is (``007``: 7); None for any other label."""
    return int(text) if text.isascii() and text.isdigit() else None


def _spaced(text: str) -> str:
    """``text`` as a pool keeps a label: spaces collapsed (``S  01`` is ``S 01``)."""
    return " ".join(text.split())


def _check_results_header(
    path: Path, header: list[str], ignored: frozenset[str], outcomes: frozenset[str], labelled: bool
) -> None:
    """Refuse a results header without trial_id (or ``labelled``), a column twice or unknown.

    Raises:
        CommandError: naming the file and the columns.
    """
    if "trial_id" not in header and not labelled:
        separator = next((s for s in ";\t|" if len(header) == 1 and s in header[0]), None)
        hint = f" (its columns look separated by {separator!r}: use commas)" if separator else ""
        raise CommandError(
            f"{path}: no trial_id column in the header (nor label, where the pool names "
            f"its candidates){hint}"
        )
    from discovery.datasets import repeated

    twice = repeated(header)
    if twice:  # DictReader would keep only the last of them
        raise CommandError(f"{path}: column(s) {twice} appear more than once in the header")
    known = {"trial_id", "idempotency_key", *ignored, *outcomes}
    unknown = [name for name in header if name not in known]
    if outcomes and unknown:
        raise CommandError(
            f"{path}: column(s) {unknown} are not outcomes of the campaign "
            f"({sorted(outcomes)}) nor a proposal's columns: rename or drop them"
        )


def _pool_labels(agent: Any) -> Callable[[], frozenset[str]]:
    """A reader of the labels ``agent``'s pool names its candidates by, read at first need."""

    @cache
    def labels() -> frozenset[str]:
        return frozenset(_spaced(c.label) for c in agent.store.candidates(agent.name) if c.label)

    return labels


def _check_samples(
    path: Path,
    space: SearchSpace,
    trials: Sequence[Any],
    rows: Sequence[tuple[str, Any, dict[str, str]]],
    labels: Callable[[], frozenset[str]] = frozenset,
) -> None:
    """Refuse a results file whose row says its trial is another sample than it is.

    A lab keeps the proposal's columns (``label``, ``candidate``, ``batch``, the
    parameters) beside its results to catch rows that were mixed up: a ``label`` or a
    parameter that is not the trial's names the row before anything is stored. A number
    is the trial's where the trial's rounds to it as written (``0.3`` for 0.2999); a
    blank cell, and a trial id the campaign does not have, are left to the results'
    own checks. A label of digits is its trial's where a spreadsheet dropped its leading
    zeros (``7`` for ``007``), unless another candidate is named so (``labels``: the pool's).

    Raises:
        CommandError: naming the file, the row, the column and both values.
    """
    by_id = {t.id: t for t in trials}
    parameters = space.by_name
    for where, result, cells in rows:
        if (trial := by_id.get(result.trial_id)) is None:
            continue
        for column, cell in cells.items():
            name = column.removeprefix("parameter.")  # a parameter named as a proposal column
            if column in ("label", "candidate", "batch"):
                expected = getattr(trial, column)
            elif name in parameters:
                expected = trial.parameters.get(name)
            else:
                continue  # formula, strategy, model_version, acquisition_value: not the sample
            if expected is None:
                continue
            same = _written_as(cell, expected) or (
                column == "label" and _zeros_dropped(cell, str(expected), labels)
            )
            if not same:
                raise CommandError(
                    f"{path}: {where}: {column} {cell!r} is not trial {trial.id}'s "
                    f"({expected!r}): were rows mixed up? Nothing was stored"
                )


def _written_as(cell: str, value: Any) -> bool:
    """Whether a CSV cell is ``value`` as written: a number rounded to the cell's digits.

    Text as a spreadsheet may give it back: spaces collapsed, as a pool keeps labels; the
    leading ``'`` that exports put before a cell a spreadsheet would run (``'-5``);
    ``TRUE`` for ``True``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        text, meant = _spaced(cell), _spaced(str(value))
        if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@"):
            text = text[1:]
        lowered = meant.lower()
        return text == meant or (lowered in BOOLEANS and text.lower() == lowered)
    from decimal import Decimal, InvalidOperation

    try:
        written = Decimal(cell.strip())
    except InvalidOperation:
        return False
    exponent = written.as_tuple().exponent
    if not isinstance(exponent, int):  # NaN, infinity
        return False
    half_digit = Decimal(5).scaleb(exponent - 1)  # in Decimal: 1e400 is no overflow
    return abs(written - Decimal(float(value))) <= half_digit + Decimal("1e-12") * abs(written)


#: How a boolean cell is written, in lower case, either way.
BOOLEANS = frozenset({"true", "false"})


def _number(path: Path, where: str, column: str, cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise CommandError(f"{path}: {where}, {column}: {cell!r} is not a number") from None


def _result(path: Path, where: str, row: Any, source: str, partial: bool = False) -> Any:
    """One row checked as the API checks a result, as a measurement (``partial``: a part)."""
    from pydantic import ValidationError

    from agents.api import ResultIn

    if not isinstance(row, dict):
        raise CommandError(f"{path}: {where}: expected an object, got {row!r:.40}")
    if partial:
        row = {**row, "partial": True}
    try:
        return ResultIn.model_validate(row).measurement(source)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        got = repr(first["input"])[:40]
        raise CommandError(f"{path}: {where}: {field}: {first['msg']}, got {got}") from None


def _result_from_options(
    trial: str, value: list[str], key: str | None, source: str, partial: bool = False
) -> Any:
    from discovery.domain import Measurement, default_key

    values: dict[str, float] = {}
    for item in value:
        outcome, sep, number = item.rpartition("=")  # a name may hold "=", a number not
        try:
            reading = float(number)
        except ValueError:
            sep = ""
        if not sep:  # an objective or a constrained quantity, each given its own --value
            raise CommandError(f"--value {item!r}: expected OUTCOME=NUMBER")
        if repr(values.setdefault(outcome, reading)) != repr(reading):  # which one is meant?
            raise CommandError(f"--value: {outcome!r} is given two values")
    key = key or default_key(source, trial, values if partial else None)
    return Measurement(trial, values, key, source, partial=partial)


def _units_from_options(unit: list[str]) -> dict[str, str]:
    """``--unit OUTCOME=UNIT`` options as outcome -> unit label."""
    units: dict[str, str] = {}
    for item in unit:
        outcome, _, label = item.rpartition("=")
        if not outcome or not label.strip():
            raise CommandError(f"--unit {item!r}: expected OUTCOME=UNIT (gap=meV)")
        if units.setdefault(outcome, label.strip()) != label.strip():
            raise CommandError(f"--unit: {outcome!r} is given two units")
    return units


def _check_units(units: dict[str, str], outcomes: list[Any]) -> None:
    """Refuse a ``--unit`` as a result's ``units`` would be refused, before any is read."""
    from discovery.domain import Measurement

    probe = Measurement("--unit", dict.fromkeys(units, 1.0), "-", units=units)
    try:
        probe.in_units_of(outcomes)  # the domain's one rule: an outcome's, convertible
    except ValueError as error:  # "trial --unit: units.gap: ..." -> "--unit gap: ..."
        raise CommandError(re.sub(r"^trial --unit: units[.:] ?", "--unit ", str(error))) from None


def _with_units(result: Any, units: dict[str, str]) -> Any:
    """``result`` with ``units`` for the outcomes it gives without a unit of its own."""
    given = {k: u for k, u in units.items() if k in result.values}  # a part: some
    return replace(result, units=given | result.units) if given else result


@campaign_app.command("observe")
def campaign_observe(
    name: str,
    trial: Annotated[str | None, typer.Option(help="Trial id measured.")] = None,
    value: Annotated[list[str] | None, typer.Option(help="OUTCOME=NUMBER (repeatable).")] = None,
    unit: Annotated[
        list[str] | None,
        typer.Option(
            help="OUTCOME=UNIT the values are given in, converted to the campaign's "
            "(repeatable; a JSON row's own units win; default: the campaign's units)."
        ),
    ] = None,
    key: Annotated[str | None, typer.Option(help="Idempotency key (default source:trial).")] = None,
    source: Annotated[str, typer.Option(help="Who measured it.")] = "manual",
    from_file: Annotated[
        Path | None, typer.Option(help="CSV (trial_id, objectives...) or JSON list.")
    ] = None,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="Some outcomes only, of running trials several instruments measure: a "
            "trial completes when its parts give every outcome (`campaign handoff` passes "
            "it on). Every row is a part (a JSON row's own `partial` is overridden); a "
            "blank CSV cell is an outcome the row does not give.",
        ),
    ] = False,
) -> None:
    """Report measured results; repeats with the same idempotency key are stored once."""
    from agents import CampaignAgent

    with errors():
        if (trial is None) == (from_file is None):
            raise CommandError("give either --trial ID --value OBJ=NUMBER or --from-file FILE")
        agent = CampaignAgent(store(), name)
        trials = agent.store.trials(name)  # read once: the file's checks and the notes
        if from_file is not None:
            outcomes = frozenset(o.name for o in agent.outcomes)
            by_label = _trial_by_label(agent, trials)
            columns = _proposal_columns(agent)
            read = _results_from_file(from_file, source, columns, outcomes, by_label, partial)
            _check_samples(from_file, agent.campaign.space, trials, read, _pool_labels(agent))
            rows = [(where, result) for where, result, _ in read]
        else:
            assert trial is not None
            rows = [("", _result_from_options(trial, value or [], key, source, partial))]
        units = _units_from_options(unit or [])
        _check_units(units, agent.outcomes)
        rows = [(where, _with_units(result, units)) for where, result in rows]
        before = agent.observations(trials)
        try:
            report = agent.observe([result for _, result in rows])
        except ValueError as error:  # "results[i]: ...": name the file and row instead
            if from_file is None:
                raise CommandError(_in_result_options(str(error))) from None
            row = re.sub(  # results[1].trial_id -> data row 2: trial_id, on each line
                r"^results\[(\d+)\](\.)?",
                lambda m: rows[int(m[1])][0] + (": " if m[2] else ""),
                str(error),
                flags=re.MULTILINE,
            )
            raise CommandError(f"{from_file}: {row}") from None
        if report.stored:
            _note_far_values(before, agent.observations(), agent.outcomes)
    console.print(f"stored {report.stored}, already stored {report.duplicates}")


#: The options of `campaign observe --trial` by the result fields they give.
RESULT_OPTIONS = {
    "trial_id": "--trial",
    "idempotency_key": "--key",
    "source": "--source",
    "values": "--value",
    "units": "--unit",
}


def _in_result_options(message: str) -> str:
    """An error of the one result ``--trial`` gives, in the command's words.

    ``results[0].idempotency_key: ...`` (the API's) is ``--key: ...``.
    """
    alone = re.sub(r"^results\[0\](: |\.)", "", message)
    field = re.match(r"^(\w+):", alone)
    if field is None or field[1] not in RESULT_OPTIONS:
        return alone
    return RESULT_OPTIONS[field[1]] + alone[len(field[1]) :]


#: How many times larger or smaller in size than every earlier result a value is noted.
FAR_FACTOR = 100.0


def _note_far_values(before: Sequence[Any], after: Sequence[Any], outcomes: Sequence[Any]) -> None:
    """Note new values that look like a unit slip; they are stored either way.

    A value over :data:`FAR_FACTOR` times larger or smaller in size than every earlier
    non-zero result of its outcome (three at least), or of the other sign than all of
    them, is a unit slip (meV sent as eV) more often than a discovery. Zeros (no yield,
    no transition) are no slip, nor a measure of size.
    """
    earlier = {o.trial.id for o in before}
    for outcome in outcomes:
        values = (o.measurement.values.get(outcome.name) for o in before)
        seen = [v for v in values if v is not None and v != 0]
        if len(seen) < 3:
            continue
        low, high = min(map(abs, seen)), max(map(abs, seen))
        unit = f" {outcome.unit}" if outcome.unit else ""
        for o in after:
            value = o.measurement.values.get(outcome.name)
            if o.trial.id in earlier or not value:  # None, or 0
                continue
            far = abs(value) > FAR_FACTOR * high or abs(value) * FAR_FACTOR < low
            flipped = value < 0 < min(seen) or value > 0 > max(seen)
            if not (far or flipped):
                continue
            err.print(
                f"[yellow]note:[/yellow] {escape(outcome.name)} = {value:g}{escape(unit)} "
                f"(trial {o.trial.id}) is far from the {len(seen)} results before it "
                f"({min(seen):g} to {max(seen):g}{escape(unit)}): a unit slip? It is stored; "
                "`campaign correct` replaces it",
                highlight=False,
            )


@campaign_app.command("budget")
def campaign_budget(
    name: str,
    budget: Annotated[int | None, typer.Argument(min=1, help="Experiments in all.")] = None,
    open_ended: Annotated[bool, typer.Option(help="No budget: proposals never stop.")] = False,
) -> None:
    """Give a campaign another budget (more funding, a cap), or none."""
    from agents import CampaignAgent

    with errors():
        if (budget is None) != open_ended:
            raise CommandError("give either a BUDGET or --open-ended")
        change = CampaignAgent(store(), name).set_budget(budget)
    before, after = ("none" if b is None else str(b) for b in (change.before, change.after))
    console.print(f"budget of {name}: {before} -> {after} ({change.spent} experiments done or out)")


def _login() -> str:
    """Who runs the command: the login name, or ``operator`` where none is known."""
    try:  # a container's user may have no name (no passwd entry, no USER)
        return getpass.getuser()
    except (KeyError, OSError):
        return "operator"


@campaign_app.command("correct")
def campaign_correct(
    name: str,
    trial: Annotated[str, typer.Option(help="The completed trial whose result is wrong.")],
    value: Annotated[
        list[str],
        typer.Option(
            help="OUTCOME=NUMBER, the right value (repeatable; outcomes not named keep theirs)."
        ),
    ],
    reason: Annotated[str, typer.Option(help="Why the stored values are wrong (kept with them).")],
    key: Annotated[str, typer.Option(help="The correction's idempotency key.")],
    unit: Annotated[
        list[str] | None,
        typer.Option(help="OUTCOME=UNIT the right values are given in (repeatable)."),
    ] = None,
    by: Annotated[str | None, typer.Option(help="Who corrects it (default: your login).")] = None,
) -> None:
    """Replace a completed trial's wrong result, keeping the old values and why."""
    from agents import CampaignAgent

    with errors():
        corrected = _with_units(
            _result_from_options(trial, value, key, "manual"), _units_from_options(unit or [])
        )
        agent = CampaignAgent(store(), name)
        report = agent.correct(corrected, reason, by or _login())
    values = ", ".join(f"{k}={v:g}" for k, v in report.measurement.values.items())
    if report.duplicate:
        console.print(f"already corrected under {key!r}: {values}")
        return
    replaced = report.measurement.corrections[-1]
    before = ", ".join(f"{k}={v:g}" for k, v in replaced.values.items())
    console.print(f"trial {trial}: {before} -> {values}")


@campaign_app.command("run")
def campaign_run(
    name: str,
    rounds: Annotated[
        int, typer.Option(help="Model-guided rounds after the initial design (in total).")
    ] = 15,
    oracle: Annotated[
        str, typer.Option(help="Oracle answering trials: lookup (the pool's data).")
    ] = "lookup",
    surrogate: Annotated[
        str | None,
        typer.Option(
            help="gp, bayesgp, ensemble, gnn, transformer or an installed plugin's for these "
            "rounds (default: the campaign's; its acquisition and flags kept where the "
            "surrogate serves them)."
        ),
    ] = None,
    acquisition: Annotated[
        str | None,
        typer.Option(
            help="qlognei, qucb, qlogei, qsr, top, topk, ens or ensfinal in place of the "
            "campaign's acquisition (its surrogate and flags kept; endgame and believer go "
            "with the top hunters top, topk, ens and ensfinal only), or the whole "
            "strategy portfolio or rl:VERSION, for these rounds."
        ),
    ] = None,
    prior: Annotated[
        str | None,
        typer.Option(help="Prior model version for these rounds, or 'none' to switch it off."),
    ] = None,
) -> None:
    """Run a campaign against an oracle until it has ROUNDS rounds; resumes after a crash."""
    from agents import CampaignAgent, LookupOracle, run
    from agents.campaign import strategy_planner, with_prior
    from discovery.planners import check_campaign_shape

    with errors():
        if oracle != "lookup":
            raise CommandError(f"--oracle: unknown {oracle!r}; available: lookup")
        campaign_store = store()
        campaign = campaign_store.get(name)
        campaign_store.ensure_open(name)  # first, even with its rounds done: it runs no more
        planner = None
        if surrogate is not None or prior is not None or acquisition is not None:
            settings = campaign.settings
            switched = settings.strategy
            if surrogate is not None or acquisition is not None:
                switched, planner = _strategy(
                    settings.strategy, surrogate, acquisition, stored=True
                )
            else:
                planner = strategy_planner(settings.strategy)
            version = settings.prior_model if prior is None else prior
            if version is not None and version != "none":
                unit = campaign.objectives[0].unit
                planner = with_prior(planner, version, campaign.space, unit)
            shape = len(campaign.objectives), len(campaign.constraints)
            check_campaign_shape(planner, *shape, pool=campaign.pool_size > 0)
            if switched != settings.strategy:  # said once it is known to serve the campaign
                console.print(
                    f"these rounds choose with {escape(switched)} instead of "
                    f"{escape(settings.strategy)}"
                )
        agent = CampaignAgent(campaign_store, name, planner)
        lookup = LookupOracle.from_candidates(campaign_store.candidates(name))
        done = agent.status().rounds
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, disable=not sys.stdout.isatty()) as progress:
            task = progress.add_task(name, total=rounds, completed=min(done, rounds), best="-")

            def advance(report: Any) -> None:
                best = "-" if report.best is None else f"{report.best:.6g}"
                progress.update(task, completed=min(report.round, rounds), best=best)
                if report.queued:  # said on a terminal too: they were someone's to measure
                    console.print(
                        f"measured {_count(report.stored, 'trial')} proposed before this run "
                        f"(the queue) first, by looking them up; best {best}"
                    )
                elif not sys.stdout.isatty():
                    console.print(
                        f"round {report.round}/{rounds}: stored {report.stored}, best {best}"
                    )

            status = run(agent, lookup, rounds, advance)
    if status.rounds < rounds:
        stopped = f"{status.rounds} round" + ("" if status.rounds == 1 else "s")
        err.print(f"[yellow]note:[/yellow] stopped after {stopped}: {agent.no_work().why}")
    best = status.best
    if best is not None:
        objective = status.campaign.objectives[0].name
        console.print(
            escape(
                f"{name}: {status.measurements} measurements, best {objective} = "
                f"{best.measurement.values[objective]:.6g}"
            )
        )


@campaign_app.command("close")
def campaign_close(name: str) -> None:
    """Close a campaign: it hands out no more trials.

    Proposed trials no instrument claimed, and running ones whose lease ran out, are
    abandoned (not those partly measured or handed on: their sample exists); running ones
    may still report. Closing it again abandons the leases that ran out since.
    """
    from agents import CampaignAgent

    with errors():
        report = CampaignAgent(store(), name).close()
    said = "was already closed" if report.already_closed else "closed"
    notes = []
    if report.abandoned:
        idle = _count(report.abandoned, "trial")
        notes.append(f"{idle} abandoned (proposed, or its lease ran out)")
    if report.running:
        notes.append(f"{_count(report.running, 'running trial')} may still report results")
    console.print(escape(f"{name} {said}" + (f": {'; '.join(notes)}" if notes else "")))


@campaign_app.command("delete")
def campaign_delete(
    name: str,
    with_results: Annotated[
        bool,
        typer.Option(help="Delete one with results too (`matloop db dump` keeps a copy first)."),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask (needed off a terminal).")] = False,
) -> None:
    """Delete a campaign: its pool, trials, results, metrics and surrogates; the name is free.

    For a campaign created by mistake. One with results is refused unless --with-results.
    Property models trained on its results, registered materials and API tokens naming it
    are kept (a campaign created under this name again is theirs to write to). A delete
    cut short leaves the campaign in place, to be deleted again.
    """
    with errors():
        campaigns = store()
        trials, results = len(campaigns.trials(name)), len(campaigns.measurements(name))
        if results and not with_results:
            raise CommandError(
                f"campaign {name!r} has {_count(results, 'result')}: deleting it loses them;"
                " pass --with-results (after `matloop db dump`), or close it instead"
            )
        what = f"campaign {name!r} with {_count(trials, 'trial')} and {_count(results, 'result')}"
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError(f"deleting {what}: pass --yes to confirm")
            typer.confirm(f"delete {what}?", abort=True)
        campaigns.delete(name)
    console.print(escape(f"deleted {what}"))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


TRIAL_FILTER_HELP = (
    "OPTIMADE filter, as the API's /campaigns/{name}/trials takes: status, batch, strategy, "
    "model_version, candidate, label, acquisition_value, claimed_by, reason, created_at, "
    'updated_at (ISO 8601, UTC: created_at > "2026-12-07"), parameters.<name>; a '
    "result's values.<outcome> and feasible; a composition's "
    "elements, nelements, chemical_formula_reduced, fraction.<element>."
)


def _filtered_trials(agent: Any, trials: list[Any], text: str) -> list[Any]:
    """The trials of ``trials`` that ``--filter`` keeps, in their order.

    Raises:
        CommandError: naming ``--filter``, for a filter that does not parse or names a
            field trials do not have.
    """
    try:
        query = agent.store.trial_query(agent.campaign, text)
    except ValueError as error:  # FilterError: "filter: " and the problem
        raise CommandError(f"--filter: {str(error).removeprefix('filter: ')}") from None
    kept, _ = agent.store.page_trials(agent.campaign.name, query, max(1, len(trials)), 0)
    wanted = {t.id for t in kept}
    return [t for t in trials if t.id in wanted]


@campaign_app.command("export")
def campaign_export(
    name: str,
    format: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    output: Annotated[
        Path | None, typer.Option(help="File to write (default or '-': stdout).")
    ] = None,
    filter: Annotated[str, typer.Option("--filter", help=TRIAL_FILTER_HELP)] = "",
) -> None:
    """Export every trial with its parameters, provenance and measured values.

    `--filter` takes the API's trials filter: `status="completed"`, `batch="b0003"`,
    `parameters.temperature_c > 50`; on a composition campaign also `elements HAS "Fe"`,
    `chemical_formula_reduced = "Fe2O3"` and `fraction.fe >= 0.25`.
    """
    from agents import CampaignAgent, pareto_front
    from agents.serialize import corrections_json, handoff_json, part_json
    from db.convert import iso
    from discovery.compositions import element_fractions

    format = format.lower()  # CSV, as a file's extension may be written
    with errors():
        if format not in {"csv", "json"}:
            raise CommandError(f"--format: expected csv or json, got {format!r}")
        agent = CampaignAgent(store(), name)
        every = agent.store.trials(name)
        observed = agent.observations(every)  # the Pareto front is of every result
        trials = _filtered_trials(agent, every, filter) if filter else every
    measured = {o.trial.id: o.measurement for o in observed}
    campaign = agent.campaign
    several = len(campaign.objectives) > 1
    front = {o.trial.id for o in pareto_front(campaign, observed)} if several else set()
    rows = []
    for t in [*trials, None]:  # None: the columns, for a header when there are no trials
        m = measured.get(t.id) if t is not None else None
        head = {
            "trial_id": t and t.id,
            "batch": t and t.batch,
            "status": t and t.status.value,
            "strategy": t and t.strategy,
            "candidate": t and t.candidate,
            # what the pool names the candidate by (a sample id); empty where it names none,
            # so that every campaign's export has the API's columns
            "label": t and t.label,
            "model_version": t and t.model_version,
            "acquisition_value": t and t.acquisition_value,
        }
        tail = {
            "claimed_by": t and t.claimed_by,
            "reason": t and t.reason,
            # as the API's measurements: {} for none declared or none converted
            "units": dict(m.units) if m else None,
            "reported": dict(m.reported) if m else None,  # as sent, where converted
            "source": m.source if m else None,
            "idempotency_key": m.idempotency_key if m else None,
            "created_at": t and iso(t.created_at),
            "received_at": iso(m.received_at) if m else None,
            "recorded_by": m.recorded_by if m else None,  # the API token that stored it
            # the values an operator replaced, as the API's measurements give them
            "corrections": corrections_json(m) if m else None,
            # a trial several instruments measured: who gave which outcomes, as the API's
            # trials give them ([] for a trial measured whole)
            "parts": t and [part_json(p) for p in t.parts],
            "handoffs": t and [handoff_json(h) for h in t.handoffs],  # where the sample went
        }
        parameters = t.parameters if t is not None else dict.fromkeys(campaign.space.names)
        if t is None and element_fractions(campaign.space) is not None:
            formula: dict[str, Any] = {"formula": None}  # a composition's column, no trials
        else:
            formula = _formula(campaign.space, parameters)
        # every measured quantity: objectives and constrained outcomes; then whether the
        # result meets the constraints (where there are any) and, with several
        # objectives, whether it is on the measured feasible Pareto front
        values = {o: (m.values[o] if m else None) for o in campaign.outcome_names}
        flags: dict[str, Any] = {}
        if campaign.constraints:
            flags["feasible"] = campaign.feasible(m.values) if m else None
        if several:
            flags["pareto"] = (t is not None and t.id in front) if m else None
        taken = [*head, *formula, *flags, *tail]
        rows.append(
            head
            | formula
            | _columns("parameter", parameters, taken)
            | _columns("measured", values, taken)
            | flags
            | tail
        )
    columns = list(rows.pop())
    buffer = io.StringIO()
    if format == "json":
        json.dump(rows, buffer, indent=2)
    else:
        _write_csv(buffer, columns, rows)
    if output is None or str(output) == "-":
        sys.stdout.write(buffer.getvalue())
        return
    with errors():  # an OSError names the file
        output.write_text(buffer.getvalue())
    console.print(f"wrote {len(rows)} trials to {output}")


def _write_csv(buffer: io.StringIO, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """Rows as CSV (the units, and what was reported, as JSON text), no cell a formula.

    The header's cells too (:func:`agents.serialize.csv_safe`): a pool file, or whoever
    made the campaign, named the parameters and outcomes.
    """
    from agents.serialize import csv_cells, csv_safe

    csv.writer(buffer).writerow([csv_safe(c) for c in columns])
    csv.DictWriter(buffer, fieldnames=columns).writerows(csv_cells(row) for row in rows)


# -- service ------------------------------------------------------------------------
token_app = typer.Typer(help="API tokens (shown once, stored hashed).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    name: str,
    role: Annotated[
        str,
        typer.Option(help="researcher (read), instrument (its campaigns alone) or admin."),
    ] = "researcher",
    campaign: Annotated[
        list[str] | None, typer.Option(help="Campaign an instrument may write to (repeatable).")
    ] = None,
    instrument: Annotated[
        str | None,
        typer.Option(
            help="Bind an instrument token to this instrument id: it then claims and reports "
            "only as it, and its results are checked against the trials' leases."
        ),
    ] = None,
) -> None:
    """Create a token and print it once; only its hash is stored."""
    from db.tokens import create_token

    with errors():
        campaigns = store().campaign_names()
        secret, principal = create_token(name, role, campaign, instrument)
    unknown = sorted(set(principal.campaigns) - campaigns)
    if unknown:  # a typo leaves an instrument with 403s; a campaign may also come later
        err.print(
            escape(f"note: no campaign named {', '.join(map(repr, unknown))} yet: ")
            + "the token works there once one is created (`matloop campaign list`)"
        )
    err.print(
        escape(
            f"token {name!r}: scopes {sorted(principal.scopes)}"
            + (f", campaigns {sorted(principal.campaigns)}" if principal.campaigns else "")
            + (f", instrument {principal.instrument!r}" if principal.instrument else "")
            + " (shown once; store it now)"
        )
    )
    print(secret)


@token_app.command("list")
def token_list() -> None:
    """List tokens (names and scopes; never secrets)."""
    from db.tokens import list_tokens

    with errors():
        store()
        tokens = list_tokens()
    table = Table("name", "scopes", "campaigns", "instrument", "created")
    for t in tokens:
        created = t.created_at.strftime("%Y-%m-%d %H:%M") if t.created_at else ""
        scopes, campaigns = ",".join(sorted(t.scopes)), ",".join(sorted(t.campaigns))
        cells = (t.name, scopes, campaigns, t.instrument or "", created)
        table.add_row(*map(escape, cells))
    console.print(table)


@token_app.command("revoke")
def token_revoke(name: str) -> None:
    """Revoke a token."""
    from db.tokens import revoke_token

    with errors():
        store()
        revoke_token(name)
    console.print(f"revoked {name!r}")


#: Seconds ``serve`` gives requests in flight to finish once told to stop (SIGTERM, ^C):
#: a claim that proposes a batch takes seconds to tens of seconds. Idle keep-alive
#: connections are closed at once, so they never hold a restart up.
SHUTDOWN_GRACE_SECONDS = 30

#: The liveness and readiness probes that healthchecks and load balancers call every few
#: seconds: their successful answers are left out of the request log.
PROBE_PATHS = frozenset({"/health", "/ready"})


def _not_a_passing_probe(record: logging.LogRecord) -> bool:
    """Whether a uvicorn access-log line is kept: all but a probe's 2xx/3xx answer.

    uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with (client, method, path, HTTP
    version, status) as the record's args.
    """
    args = record.args
    if not (isinstance(args, tuple) and len(args) == 5):
        return True
    _, method, path, _, status = args
    probe = method in ("GET", "HEAD") and path in PROBE_PATHS
    return not (probe and isinstance(status, int) and status < 400)


def _serve_log_config() -> dict[str, Any]:
    """The logging configuration of uvicorn, its access log without passing probes."""
    from uvicorn.config import LOGGING_CONFIG

    config = deepcopy(LOGGING_CONFIG)  # uvicorn's own stays as it is
    config["filters"] = {"no_probes": {"()": lambda: _not_a_passing_probe}}
    config["handlers"]["access"]["filters"] = ["no_probes"]
    return config


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    wait_for_db: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds to wait at start for the database to answer (it may boot after "
            "the API); 0 fails at once.",
        ),
    ] = 60.0,
    log_level: Annotated[
        str,
        typer.Option(
            help="debug, info (one line per request: client, method, path, status; "
            "not the passing /health and /ready probes), warning (problems only) or error."
        ),
    ] = "info",
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the dashboard (/dashboard)."""
    import uvicorn

    from agents.api import create_app

    with errors():
        if log_level not in ("debug", "info", "warning", "error"):
            raise CommandError(f"--log-level: {log_level!r} is not debug, info, warning or error")
        wait_for_store(wait_for_db)  # then a clear message, when no database answers
    console.print(f"matloop API on http://{host}:{port} (docs /docs, dashboard /dashboard)")
    from flows.events import emit_results_reported  # a no-op unless PREFECT_API_URL is set

    app = create_app(Settings().uri, on_results=emit_results_reported)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=_serve_log_config(),
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


# -- demo ---------------------------------------------------------------------------
@app.command("demo")
def demo(
    seeds: Annotated[int, typer.Option(help="Seeds per strategy.")] = 5,
    rounds: Annotated[int, typer.Option(help="Rounds after the initial design.")] = 15,
    initial: Annotated[int, typer.Option(help="Random initial experiments.")] = 10,
    batch: Annotated[int, typer.Option(help="Experiments per round.")] = 4,
    output: Annotated[Path, typer.Option(help="Folder for the plot and JSON.")] = Path(
        "demo-output"
    ),
) -> None:
    """GP against random sampling on photo_pce10 (1040 polymer blends, minimise degradation)."""
    from agents import compare_strategies, summarize
    from matloop.demo import packaged_dataset, plot_best_so_far, write_summary

    with errors():
        campaign_store = store()
        dataset = packaged_dataset("photo_pce10")
        console.print(
            f"photo_pce10: {len(dataset)} measured blends; {initial} random experiments, then "
            f"{rounds} rounds of {batch}; strategies gp and random, {seeds} seeds each"
        )
        start = time.perf_counter()
        outcomes = compare_strategies(
            campaign_store,
            dataset,
            ["random", "gp"],
            range(seeds),
            initial,
            batch,
            rounds,
            prefix="demo-photo_pce10",
            on_round=lambda n, r: (
                console.print(f"  {n} round {r.round}: best {r.best:.4g}")
                if r.round == rounds
                else None
            ),
        )
        summaries = summarize(outcomes, dataset.best_value())
    elapsed = time.perf_counter() - start
    experiments = initial + rounds * batch
    table = Table(title=f"photo_pce10, {experiments} experiments of {len(dataset)}, {seeds} seeds")
    for column in ("strategy", "EF ± se", "AF ± se (n)", "best (mean)", "hit best", "s/run"):
        table.add_column(column)
    for s in summaries:
        table.add_row(
            s.strategy,
            f"{s.ef_mean:.2f} ± {s.ef_se:.2f}",
            "n/a" if math.isnan(s.af_mean) else f"{s.af_mean:.2f} ± {s.af_se:.2f} ({s.af_defined})",
            f"{s.best_mean:.4g}",
            f"{s.found_optimum}/{s.seeds}",
            f"{s.seconds_mean:.1f}",
        )
    console.print(table)
    console.print(
        f"data-set best degradation: {dataset.best_value():.4g}; "
        "EF/AF against the expectation of random sampling (top-5% definition)"
    )
    plot = output / "photo_pce10_best_so_far.png"
    plot_best_so_far(outcomes, dataset, plot, "photo_pce10: GP + qLogNEI against random")
    write_summary(
        output / "photo_pce10_summary.json",
        dataset,
        summaries,
        outcomes,
        {"initial": initial, "batch": batch, "rounds": rounds, "seeds": seeds},
    )
    console.print(
        f"plot: {plot}\nsummary: {output / 'photo_pce10_summary.json'}\n"
        f"finished in {elapsed:.0f} s; campaigns kept in the database as demo-photo_pce10-*"
    )


if __name__ == "__main__":
    app()
