"""``matloop model``: train, register, inspect and use property surrogates.

Registered in :mod:`matloop.cli`. torch, pymatgen and the database load only when a
command runs.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Annotated, Any

import typer

from matloop.pool_options import Seed

if TYPE_CHECKING:  # torch and pymatgen load only when a command runs
    from agents.models import Evaluation, PreparedTraining
    from discovery.policy import PolicyTrainingConfig, TrainingPool

model_app = typer.Typer(
    help="Property surrogates and acquisition policies: train, list, show, predict, eval.",
    no_args_is_help=True,
)

KIND_HELP = "gp, ensemble, gnn, transformer, hybrid (ensemble + transformer) or crystal-gnn."


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    return f"{value:.4g}" if math.isfinite(value) else str(value)


#: Arguments of :func:`agents.models.prepare_table` and the options that set them.
TABLE_OPTIONS = {
    "val_path": "--val",
    "val_fraction": "--val-fraction",
    "structure_column": "--structure-column",
    "unit": "--unit",
    "kind": "--kind",
}
#: Those of :func:`agents.models.prepare_campaign` and :func:`~agents.models.prepare_records`.
SPLIT_OPTIONS = {"val_fraction": "--val-fraction", "objective": "--objective", "kind": "--kind"}
#: Those of :func:`agents.models.evaluate_table`.
EVAL_OPTIONS = {
    "target": "--target",
    "unit": "--unit",
    "structure_column": "--structure-column",
    "formula_column": "--formula-column",
}


def _as_options(error: ValueError, options: dict[str, str]) -> Exception:
    """``error`` in the options' words when it starts by naming one of the arguments.

    The library names its arguments (``"val_path: ..."``); a command line user knows the
    options (``"--val: ..."``): :func:`matloop.cli.in_options`. Other errors are returned
    as they are.
    """
    from matloop.cli import CommandError, in_options

    message = str(error)
    if not any(message.startswith(f"{name}: ") for name in options):
        return error
    return CommandError(in_options(message, options))


#: Refuses both ways of naming where a table's materials are.
BOTH_COLUMNS = (
    "--formula-column: --structure-column reads the materials from crystal structures, and "
    "no formula column is read with it; give one of them"
)


def _source(data: Path | None, campaign: str | None, records: str | None) -> str:
    from matloop.cli import CommandError

    given = [name for name, v in (("--data", data), ("--campaign", campaign),
                                  ("--records", records)) if v is not None]  # fmt: skip
    if len(given) != 1:
        found = f"got {' and '.join(given)}" if given else "got none"
        raise CommandError(f"give exactly one of --data, --campaign or --records ({found})")
    return given[0]


def check_device(device: str | None) -> None:
    """Refuse a ``--device`` this machine cannot use, naming the option."""
    from matloop.cli import CommandError

    if device is None or device == "cpu":
        return
    if device != "cuda" and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise CommandError(f"--device: expected cpu, cuda or cuda:N, got {device!r}")
    import torch

    if not torch.cuda.is_available():
        raise CommandError(f"--device: {device} was asked for, and this machine has no CUDA")
    if device != "cuda" and int(device[5:]) >= torch.cuda.device_count():
        raise CommandError(
            f"--device: {device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        )


def _refuse_ensemble_options(kind: str, options: dict[str, Any]) -> None:
    """Refuse ensemble training options given with a kind that trains no ensemble."""
    from matloop.cli import CommandError

    given = [name for name, value in options.items() if value is not None]
    if kind == "gp" and given:  # ignored, they would only make another registry version
        raise CommandError(
            f"{', '.join(given)}: set ensemble training, and --kind gp trains no ensemble "
            "(a GP fits its kernel on the CPU); leave them out"
        )


def _check_plots_folder(plots: Path) -> None:
    """Make the ``--plots`` folder now: a bad path is refused before training, not after."""
    from matloop.cli import CommandError

    if plots.exists() and not plots.is_dir():
        raise CommandError(f"--plots: {plots} is a file, not a folder")
    try:
        plots.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"--plots: cannot make folder {plots}: {error.strerror}") from None
    if not os.access(plots, os.W_OK | os.X_OK):
        raise CommandError(f"--plots: folder {plots} is not writable")


def _folders_to_make(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


@contextmanager
def _plots_folder(plots: Path | None) -> Iterator[None]:
    """Make the ``--plots`` folder for the ``with`` body, and take it back if that fails.

    A bad path is refused before training, not after. When the body raises, the folders
    made here that are still empty are removed; a folder that was there stays.
    """
    if plots is None:
        yield
        return
    made = _folders_to_make(plots)
    try:
        _check_plots_folder(plots)
        yield
    except BaseException:
        for folder in made:  # deepest first: a parent empties once its child is gone
            with suppress(OSError):  # not empty (plots were written), or never made
                folder.rmdir()
        raise


def _train_and_register(
    prepared: PreparedTraining, plots: Path | None, device: str | None
) -> tuple[dict[str, Any], bool, list[Path]]:
    """Train and register a model, unless the same data and settings already made one.

    Returns:
        The registry's record of the model (:func:`db.models.describe_model_record`),
        whether it was trained now, and the plots written to ``plots``.

    """
    from agents.models import (
        load_property_model,
        register_trained,
        registered,
        score,
        train,
        write_plots,
    )
    from db.models import describe_model_record

    stored = registered(prepared)
    if stored is not None:  # same data and settings, same model: reported, not retrained
        if plots is None:
            return stored, False, []
        model = load_property_model(stored["version"], device)  # its validation predictions
        return stored, False, write_plots(score(model, prepared), plots)
    trained = train(prepared)
    written = write_plots(trained, plots) if plots is not None else []
    return describe_model_record(register_trained(trained)), True, written


def _lineage_notes(prepared: PreparedTraining, stored: dict[str, Any], fresh: bool) -> list[str]:
    """Say so when the registered model of the same data records another lineage.

    Its metrics are those of the training that registered it: the same data read from
    another file or another campaign's trials, or from records that have been read in
    more papers since (or registered before lineage was recorded), is the same model,
    and its lineage is not this training's.
    """
    from agents.models import lineage_changes

    changed = [] if fresh else lineage_changes(prepared, stored["metrics"])
    if not changed:
        return []
    shown = "; ".join(
        f"{name} {_short(stored['metrics'].get(name))} there, {_short(prepared.info[name])} here"
        for name in changed
    )
    return [
        f"{stored['version']} keeps the lineage of the training that registered it, not this "
        f"training's: {shown} (another file or campaign with the same data, papers read "
        "since, or a model registered before lineage was recorded)"
    ]


def _short(value: Any) -> str:
    """A lineage value as said in a note: hashes cut to 12 digits, none said as none."""
    if value is None:
        return "none"
    text = str(value)
    return text[:12] if re.fullmatch(r"[0-9a-f]{40,}", text) else repr(text)


#: What the validation metrics of an ensemble kind (ensemble, gnn, transformer, hybrid,
#: crystal-gnn) are: its members keep their epoch of least validation MAE, a hybrid's
#: mixing weight is the one of least validation MAE, and the spread is rescaled to the
#: split's errors, so the split chose the model it scores.
SELECTED_ON_VALIDATION = (
    "the validation split also chose this model (each member's epoch of least validation "
    "MAE, and a hybrid's mixing weight) and recalibrated its spread, so its MAE, RMSE and "
    "NLL were used for model selection and are optimistic, and its coverage is not out of "
    "sample; score a held-out file with `matloop model eval` to measure them (a gp's "
    "validation metrics are held out)"
)
#: What a GP's validation metrics are: :func:`agents.models.train` fits it without the split.
HELD_OUT = "the validation split was held out of the fit: its metrics are out of sample"


#: Fewest rows whose scores are printed without saying they are rough: with fewer, one
#: row moves the MAE a lot, and a 95% coverage of 1 row is 0 or 1.
FEW_ROWS = 10


def _few_rows_note(n: Any, what: str, advice: str = "") -> str | None:
    """Say that ``what`` (scores) rest on ``n`` rows and are rough, when under FEW_ROWS."""
    if type(n) is not int or n >= FEW_ROWS:
        return None
    if n == 1:
        why = "one row sets the MAE, and a 95% coverage of one row can only be 0 or 1"
    else:
        why = f"each row moves the MAE, and the 95% coverage moves in steps of {1 / n:.2g}"
    return f"{what} rest on {n} row{'' if n == 1 else 's'} and are rough: {why}{advice}"


#: What to do about validation metrics of few rows.
SCORE_HELD_OUT = f"; score a held-out file of {FEW_ROWS} or more rows with `matloop model eval`"


def _validation_note(metrics: dict[str, Any]) -> str | None:
    """How far a property model's ``val_`` metrics can be trusted, or None if not recorded."""
    if metrics.get("val_in_calibration"):
        return SELECTED_ON_VALIDATION
    if metrics.get("val_in_training") is False:
        return HELD_OUT
    return None


@model_app.command("train")
def model_train(
    data: Annotated[Path | None, typer.Option(help="Training CSV (one material a row).")] = None,
    campaign: Annotated[
        str | None, typer.Option(help="A composition campaign's measurements.")
    ] = None,
    records: Annotated[
        str | None, typer.Option(help="Literature records of this property.")
    ] = None,
    min_confidence: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="Only --records at least this confident (default: all)."),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target column of --data.")] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            help="Unit of --data's target (GPa, eV/atom; pint's syntax), stored with the "
            "model: a campaign converts it as a prior, and refuses a prior without one for "
            "an objective with a unit."
        ),
    ] = None,
    objective: Annotated[str | None, typer.Option(help="Objective of --campaign.")] = None,
    kind: Annotated[str, typer.Option(help=KIND_HELP)] = "ensemble",
    formula_column: Annotated[
        str | None, typer.Option(help="Formula column of --data (default: formula).")
    ] = None,
    structure_column: Annotated[
        str | None, typer.Option(help="Column of CIF text or CIF paths (crystal-gnn).")
    ] = None,
    val: Annotated[Path | None, typer.Option(help="Validation CSV (default: a split).")] = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(min=0, max=1, help="Share held out for validation (no --val; 0.1)."),
    ] = None,
    members: Annotated[
        int | None, typer.Option(min=1, help="Ensemble members (not gp; 5).")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Largest number of epochs (not gp; 300).")
    ] = None,
    patience: Annotated[
        int | None, typer.Option(min=1, help="Epochs without progress (not gp; 30).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Samples a step (not gp; 128).")
    ] = None,
    seed: Seed = 0,
    plots: Annotated[
        Path | None, typer.Option(help="Folder for parity and calibration PNGs.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (not gp; default: best).")] = None,
) -> None:
    """Train a property model on a table, a campaign or literature records; register it.

    --members, --epochs, --patience, --batch-size and --device set ensemble training: a
    gp has none. The same data and settings train once: a registered model is reported.
    --unit declares a table's unit; a campaign's model takes its objective's, a records
    model its records'. --min-confidence keeps the --records at least that confident.
    --formula-column and --structure-column name where --data's materials are: one of them.
    """
    from rich.markup import escape

    from matloop.cli import CommandError, console, errors, store

    with errors({"property": "--records"}):
        source = _source(data, campaign, records)
        if source == "--data" and target is None:
            raise CommandError("--target: name the target column of --data")
        if source != "--data":
            extra = [
                name
                for name, value in (
                    ("--target", target),
                    ("--val", val),
                    ("--formula-column", formula_column),
                    ("--structure-column", structure_column),
                    ("--unit", unit),  # a campaign's objective, or the records, say theirs
                )
                if value is not None
            ]
            if extra:
                raise CommandError(f"{extra[0]}: applies to --data only, not {source}")
        if formula_column is not None and structure_column is not None:
            raise CommandError(BOTH_COLUMNS)
        if objective is not None and source != "--campaign":
            raise CommandError(f"--objective: applies to --campaign only, not {source}")
        if min_confidence is not None and source != "--records":
            raise CommandError(f"--min-confidence: applies to --records only, not {source}")
        from agents.models import checked_unit, prepare_campaign, prepare_records, prepare_table
        from discovery.ensembles import TrainingConfig
        from discovery.property_models import KINDS

        if unit is not None:
            try:  # before the database and training: "unit: ..." names the option
                checked_unit(unit)
            except ValueError as error:
                raise CommandError(f"--{error}") from None
        if kind not in KINDS:
            raise CommandError(f"--kind: unknown model {kind!r}; choose from {', '.join(KINDS)}")
        _refuse_ensemble_options(
            kind,
            {"--members": members, "--epochs": epochs, "--patience": patience,
             "--batch-size": batch_size, "--device": device},
        )  # fmt: skip
        if val_fraction is not None and not 0 < val_fraction < 1:
            raise CommandError(
                f"--val-fraction: must lie strictly between 0 and 1, got {val_fraction}"
            )
        if kind == "crystal-gnn" and data is not None and structure_column is None:
            raise CommandError(
                "--structure-column: crystal-gnn reads crystal structures; name the column "
                "of CIF text or CIF file paths"
            )
        check_device(device)
        with _plots_folder(plots):  # made now; taken back if the command fails
            # only the options given: the defaults are TrainingConfig's own
            given: dict[str, Any] = {
                "n_members": members,
                "epochs": epochs,
                "patience": patience,
                "batch_size": batch_size,
            }
            config = TrainingConfig(
                **{name: value for name, value in given.items() if value is not None},
                seed=seed,
                device=device,
                progress=sys.stderr.isatty(),  # a bar per member on a terminal, none in logs
            )
            campaigns = store()  # connects first: no training for a registry that is not there
            common: dict[str, Any] = {"config": config, "seed": seed}
            if val_fraction is not None:
                common["val_fraction"] = val_fraction
            if data is not None:
                assert target is not None
                try:
                    prepared = prepare_table(
                        data,
                        target,
                        kind,
                        formula_column=formula_column or "formula",
                        structure_column=structure_column,
                        val_path=val,
                        unit=unit,
                        **common,
                    )
                except ValueError as error:  # "val_path: ..." names arguments: say options
                    raise _as_options(error, TABLE_OPTIONS) from None
            elif campaign is not None:
                try:
                    prepared = prepare_campaign(campaigns, campaign, objective, kind, **common)
                except ValueError as error:  # "val_fraction: ..." names the argument
                    raise _as_options(error, SPLIT_OPTIONS) from None
            else:
                from db.literature import LiteratureStore

                assert records is not None
                try:
                    prepared = prepare_records(
                        LiteratureStore(), records, kind, min_confidence=min_confidence, **common
                    )
                except ValueError as error:
                    raise _as_options(error, SPLIT_OPTIONS) from None
            stored, fresh, written = _train_and_register(prepared, plots, device)
    for note in (*prepared.notes, *_lineage_notes(prepared, stored, fresh)):
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    metrics = stored["metrics"]  # the registry's: a model registered before keeps its own
    said = "registered" if fresh else "already registered"
    again = "" if fresh else "same data and settings, not retrained; "
    unit = f" {metrics['unit']}" if metrics.get("unit") else ""
    console.print(
        f"{said} [bold]{stored['version']}[/bold] ({again}{metrics.get('target')}, "
        f"{metrics.get('n_train')} train / {metrics.get('n_val')} validation)",
        highlight=False,
    )
    console.print(
        f"validation: MAE {_number(metrics.get('val_mae'))}{unit}, "
        f"RMSE {_number(metrics.get('val_rmse'))}{unit}, NLL {_number(metrics.get('val_nll'))}, "
        f"95% coverage {_number(metrics.get('val_coverage_95'))}",
        highlight=False,
    )
    if metrics.get("val_in_calibration"):
        console.print(f"note: {SELECTED_ON_VALIDATION}", highlight=False)
    rough = _few_rows_note(metrics.get("n_val"), "the validation metrics", SCORE_HELD_OUT)
    if rough is not None:
        console.print(f"[yellow]note:[/yellow] {escape(rough)}", highlight=False)
    for path in written:
        console.print(f"wrote {path}", highlight=False)


@model_app.command("train-policy")
def model_train_policy(
    iterations: Annotated[int, typer.Option(help="Policy-gradient updates.")] = 400,
    horizon: Annotated[int, typer.Option(help="Experiments per training episode.")] = 30,
    seed: Seed = 0,
    pool: Annotated[
        list[str] | None,
        typer.Option(
            help="A measured data set to train on too: an Olympus folder or shipped set "
            "name, or FILE.csv:NAME:max|min (the other columns are parameters); repeatable."
        ),
    ] = None,
    pool_share: Annotated[
        float | None, typer.Option(help="Share of updates on the --pool data sets [0.5].")
    ] = None,
) -> None:
    """Train a learned acquisition policy on GP-sample tasks and register it.

    With ``--pool``, a share of the updates trains on random subsets of your own measured
    data sets instead (never evaluate it on one of them). Use it in a campaign with
    ``--acquisition rl:VERSION``.
    """
    from matloop.cli import CommandError, console, errors, store

    with errors():
        from discovery.policy import POOL_SHARE, PolicyTrainingConfig, train_policy

        try:
            config = PolicyTrainingConfig(iterations=iterations, horizon=horizon, seed=seed)
        except ValueError as error:  # "horizon: ..." names the option
            raise CommandError(f"--{error}") from None
        if pool_share is not None and not pool:
            raise CommandError("--pool-share: the share of updates on --pool data sets; give one")
        pool_share = POOL_SHARE if pool_share is None else pool_share
        if not 0.0 <= pool_share <= 1.0:
            raise CommandError(f"--pool-share: must be in [0, 1], got {pool_share}")
        pools = [_training_pool(spec, config) for spec in pool or []]
        store()  # connects
        from agents.policies import register_policy, registered_policy
        from db.models import describe_model_record

        stored = registered_policy(config, pools, pool_share)
        if stored is None:
            trained = train_policy(config, sys.stdout.isatty(), pools, pool_share)
            version = register_policy(trained)
            stored = describe_model_record(version)
            said = f"registered {version} ("
        else:  # same settings, same policy: the stored one is reported, not retrained
            said = f"already registered {stored['version']} (same settings, not retrained; "
    metrics, version = stored["metrics"], stored["version"]
    regret, ei = metrics["held_out_regret"], metrics["held_out_regret_ei"]
    console.print(
        f"{said}trained in {metrics['seconds']:.0f} s; mean held-out regret {regret:.4f}, "
        f"expected improvement's {ei:.4f}: lower is better)",
        highlight=False,
    )
    if regret > ei:  # registered all the same: a baseline, or a start for longer training
        console.print(
            f"[yellow]warning:[/yellow] its held-out regret {regret:.4f} is worse than "
            f"expected improvement's {ei:.4f}: it is not recommended; keep an expected-improvement "
            "acquisition (the default qlognei, or --acquisition qlogei)",
            highlight=False,
        )
    else:
        console.print(f"use --acquisition rl:{version}", highlight=False)


def _training_pool(spec: str, config: PolicyTrainingConfig) -> TrainingPool:
    """``--pool SPEC`` (an Olympus folder or set, or ``FILE.csv:NAME:max|min``) as a pool.

    Raises:
        CommandError: ``--pool 'SPEC': ...`` saying what is wrong with it.
    """
    from discovery.domain import Direction
    from discovery.policy import training_pool
    from matloop.cli import CommandError, _parse_objective, measured_pool

    # the file is the longest start before a ':' that is one (a path may hold ':')
    cuts = [i for i, c in enumerate(spec) if c == ":" and Path(spec[:i]).is_file()]
    try:
        if cuts:
            goal = _parse_objective(spec[cuts[-1] + 1 :])
            dataset = measured_pool(Path(spec[: cuts[-1]]), None, [goal], [], None, None, None)
        elif Path(spec).is_file():
            raise CommandError("a file needs the objective after it, as FILE.csv:NAME:max|min")
        elif ":" in spec:
            raise CommandError(f"no such file {spec.split(':')[0]!r}")
        else:
            dataset = measured_pool(None, Path(spec), [], [], None, None, None)
        points = dataset.space.encode(dataset.points)
        maximise = dataset.objectives[0].direction is Direction.MAXIMIZE
        pool = training_pool(dataset.name, points, dataset.values[:, 0], maximise)
    except (CommandError, ValueError, OSError) as error:
        said = str(error).removeprefix("--objective ").removeprefix("--from-olympus: ")
        raise CommandError(f"--pool {spec!r}: {said}") from None
    if len(pool.y) < config.initial + config.horizon:
        raise CommandError(
            f"--pool {spec!r}: {len(pool.y)} rows, fewer than a training episode measures "
            f"({config.initial} initial + {config.horizon} --horizon)"
        )
    return pool


#: Kind of the registered acquisition policies: :data:`agents.policies.KIND`, written out
#: because importing that module loads torch and botorch.
POLICY_KIND = "rl-policy"

#: Marks the ``model list`` cells of a policy, whose n and score mean other things.
POLICY_MARK = "†"

POLICY_LEGEND = (
    f"{POLICY_MARK} acquisition policy ({POLICY_KIND}): n = training episodes (updates x "
    "tasks x rollouts), val MAE = held-out regret (mean normalised simple regret on fresh "
    "GP-sample tasks; lower is better; `model show` has expected improvement's)"
)


#: Marks a literature tagger's cells in ``model list``: its sizes and scores differ.
TAGGER_MARK = "‡"
#: Entity whose held-out F1 ``model list`` shows beside a tagger's micro F1: the value
#: label records are read from (``db.models.RECORD_ENTITIES``, spelled out: no import).
TAGGER_VALUE = "tcValue"
TAGGER_LEGEND = (
    f"{TAGGER_MARK} literature tagger (tagger-*): n = training sentences, val MAE = F1 on "
    f"its held-out papers, all entities (micro) / {TAGGER_VALUE} (the values records are "
    "read from); higher is better; the default tagger is the best by micro F1"
)


def _is_policy(row: dict[str, Any]) -> bool:
    return bool(row["kind"] == POLICY_KIND)


def _is_tagger(row: dict[str, Any]) -> bool:
    return bool(str(row["kind"]).startswith("tagger-"))


def _tagger_score(metrics: dict[str, Any]) -> str:
    """A tagger's held-out micro F1 and value-entity F1, ``"0.81 / 0.62‡"``."""
    micro = _number(metrics.get("test_micro_f1"))
    value = metrics.get(f"test_f1_{TAGGER_VALUE}")
    return f"{micro}{'' if value is None else f' / {_number(value)}'}{TAGGER_MARK}"


def _legend(rows: list[dict[str, Any]]) -> str | None:
    """The table's caption: what the marked cells of policies and taggers mean."""
    marked = ((POLICY_LEGEND, _is_policy), (TAGGER_LEGEND, _is_tagger))
    return "\n".join(legend for legend, kind in marked if any(map(kind, rows))) or None


def _episodes(version: str) -> int | None:
    """Training episodes of a registered policy (updates x tasks x rollouts), or None.

    Read from its stored training configuration, a dict that ``list_model_records``
    leaves out of its rows.
    """
    from db.models import describe_model_record

    try:
        config = describe_model_record(version)["metrics"].get("config") or {}
    except LookupError:  # deleted since the listing
        return None
    episodes = 1
    for name in ("iterations", "tasks", "rollouts"):
        count = config.get(name)
        if type(count) is not int:  # a policy stored without its settings
            return None
        episodes *= count
    return episodes


#: Kinds of property models: :data:`discovery.property_models.KINDS`, written out
#: because importing that module loads torch.
PROPERTY_KINDS = ("gp", "ensemble", "gnn", "transformer", "crystal-gnn", "hybrid")
#: Models ``model list`` shows by default: every campaign round may register one.
LIST_LIMIT = 50
#: Narrowest terminal whose ``model list`` has kind and campaign columns (both are in
#: the version too) and the time of day of creation.
WIDE_LIST = 120
#: A limit that reads every matching model.
_EVERY = 2**31 - 1


def _is_property_model(row: dict[str, Any]) -> bool:
    """Whether a listed model is a property model, one `model predict` and `eval` take.

    As :func:`agents.models.load_property_model` tells them: a property model's kind, no
    campaign, and a featurizer version (a surrogate of a deleted campaign has none).
    """
    return bool(
        row["kind"] in PROPERTY_KINDS
        and row["campaign"] is None
        and row["featurizer_version"] is not None
    )


def _listed_models(
    kind: str | None, campaign: str | None, property_only: bool, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The models ``model list`` shows, newest first, and how many match its filters."""
    from db.models import page_model_records
    from matloop.cli import CommandError

    if property_only and campaign is not None:
        raise CommandError(
            "--property-only: property models belong to no campaign, and --campaign lists "
            "a campaign's surrogates; give one of them"
        )
    # property models are told apart here, not by the database: read every match
    wanted = _EVERY if property_only or limit == 0 else limit
    try:
        rows, total = page_model_records(kind, campaign, wanted)
    except LookupError as error:  # "campaign: no campaign named 'x'"
        raise CommandError(f"--{error.args[0]}") from None
    if property_only:
        rows = [row for row in rows if _is_property_model(row)]
        total = len(rows)
    return (rows[:limit] if limit else rows), total


def _size_and_score(row: dict[str, Any], episodes: int | None) -> tuple[str, str]:
    """A listed model's n and val MAE cells (a policy's and a tagger's marked)."""
    m = row["metrics"]
    if _is_policy(row):  # no target, no MAE: its training and its regret, marked
        size = f"{'-' if episodes is None else episodes}{POLICY_MARK}"
        return size, f"{_number(m.get('held_out_regret'))}{POLICY_MARK}"
    if _is_tagger(row):  # sentences, not materials; F1 (higher is better), marked
        sentences = m.get("train_sentences")
        return f"{'-' if sentences is None else sentences}{TAGGER_MARK}", _tagger_score(m)
    n_train, n_val = m.get("n_train"), m.get("n_val")
    score = _number(m.get("val_mae", m.get("cv_mae")))
    if score != "-" and m.get("unit"):  # models of GPa and of eV side by side
        score = f"{score} {m['unit']}"
    if "val_mae" in m and type(n_val) is int:  # how many rows the MAE rests on
        score = f"{score} (n={n_val})"
    return ("" if n_train is None else str(n_train)), score


def _models_table(rows: list[dict[str, Any]], wide: bool) -> Any:
    """The ``model list`` table; narrow, without the columns the version repeats."""
    from rich.table import Table

    episodes = {r["version"]: _episodes(r["version"]) for r in rows if _is_policy(r)}
    table = Table(caption=_legend(rows), caption_justify="left")
    table.add_column("version", no_wrap=True)  # whole, to copy into `show` and `predict`
    # a version is {campaign or "model"}:{kind}:{hash}: narrow, those columns go
    for column in ("kind", "campaign", "target") if wide else ("target",):
        table.add_column(column, overflow="fold")
    table.add_column("n", justify="right", overflow="fold")
    table.add_column("val MAE", justify="right", overflow="fold")
    table.add_column("created", no_wrap=True)
    for row in rows:
        size, score = _size_and_score(row, episodes.get(row["version"]))
        m = row["metrics"]
        created = (row["created_at"] or "")[: 16 if wide else 10].replace("T", " ")
        target = str(m.get("target") or m.get("objective") or "")
        source = str(m.get("source") or "")
        if source.startswith("table:"):  # which file: models of one column name told apart
            target += f" ({PurePath(source.removeprefix('table:')).name})"
        named = (row["kind"], row["campaign"] or "", target) if wide else (target,)
        table.add_row(row["version"], *named, size, score, created)
    return table


@model_app.command("list")
def model_list(
    kind: Annotated[
        str | None,
        typer.Option(
            help="Only models of this kind, in any case; a family before a '-' matches each "
            "of its kinds (tagger: every tagger-*)."
        ),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option(help="Only the surrogates of the campaign of this name.")
    ] = None,
    property_only: Annotated[
        bool,
        typer.Option(
            "--property-only",
            help="Only property models (those `model predict` and `model eval` take): no "
            "campaign surrogates, policies or taggers.",
        ),
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            min=0, help=f"The newest N models (0: all; default {LIST_LIMIT}, all with --json)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List registered models, newest first (campaign surrogates, property models, ...).

    A terminal narrower than 120 columns drops the kind and campaign columns (the
    version names both: CAMPAIGN:KIND:HASH, model:KIND:HASH) and the time of creation.
    """
    from matloop.cli import console, err, errors, store

    with errors():
        store()
        if limit is None:  # a script reading --json gets every model unless it asks
            limit = 0 if as_json else LIST_LIMIT
        rows, total = _listed_models(kind, campaign, property_only, limit)
        if not as_json:
            table = _models_table(rows, console.width >= WIDE_LIST)
    more = total - len(rows)
    said = f"{len(rows)} of {total} models (newest first); {more} more: --limit 0 lists them all"
    if as_json:
        _json(rows)
        if more:  # said apart from the JSON, which stays a list
            err.print(said, highlight=False)
        return
    console.print(table)
    if more:
        console.print(said, highlight=False)


@model_app.command("show")
def model_show(version: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show a model's metadata and metrics."""
    from db.models import describe_model_record
    from matloop.cli import console, errors, store

    with errors():
        store()
        info = describe_model_record(version)
    if as_json:
        _json(info)
        return
    for key in ("version", "kind", "campaign", "featurizer_version", "data_hash", "created_at",
                "weights_bytes"):  # fmt: skip
        console.print(f"{key}: {info[key] if info[key] is not None else '-'}", highlight=False)
    metrics = info["metrics"]
    for key, value in metrics.items():
        if isinstance(value, dict) and value and all(_scalar(v) for v in value.values()):
            value = ", ".join(f"{k}={_number(v)}" for k, v in value.items())  # settings
        elif isinstance(value, list | dict):
            value = f"({len(value)} entries; --json shows them)"
        shown = _number(value)
        if key == "val_mae" and type(metrics.get("n_val")) is int:  # the rows it rests on
            shown += f" (n_val {metrics['n_val']})"
        console.print(f"  {key}: {shown}", highlight=False)
    rough = _few_rows_note(metrics.get("n_val"), "the validation metrics", SCORE_HELD_OUT)
    notes = (_validation_note(metrics), rough if "val_mae" in metrics else None)
    for note in notes:
        if note is not None:
            console.print(f"note: {note}", highlight=False)


def _scalar(value: Any) -> bool:
    """Whether ``value`` prints in one cell: no list or dict."""
    return value is None or isinstance(value, str | int | float | bool)


def _refuse_tables(version: str, materials: list[str]) -> None:
    """Point a CSV file given to ``predict`` (no formula) at ``model eval``, which reads it."""
    from matloop.cli import CommandError

    for i, item in enumerate(materials, start=1):
        if item.lower().endswith(".csv"):
            raise CommandError(
                f"material {i}: {item!r} is a CSV file, not a formula; `matloop model eval "
                f"{version} {item}` scores a model on a table"
            )


@model_app.command("predict")
def model_predict(
    version: str,
    materials: Annotated[
        list[str], typer.Argument(help="Formulas (CIF files for a crystal-gnn model).")
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: best).")] = None,
) -> None:
    """Predict materials with a registered model: mean ± standard deviation."""
    from rich.table import Table

    from matloop.cli import console, errors, store

    with errors():
        check_device(device)
        store()
        from agents.models import load_property_model, predict, read_materials
        from db.models import describe_model_record

        unit = describe_model_record(version)["metrics"].get("unit")
        model = load_property_model(version, device)
        _refuse_tables(version, materials)
        parsed = read_materials(model.kind, materials)
        prediction = predict(model, parsed)
    rows: list[dict[str, Any]] = [
        {
            "material": material,
            "mean": float(prediction.mean[i]),
            "std": float(prediction.std[i]),
            "epistemic_std": float(prediction.epistemic_std[i]),
            "unit": unit,  # the model's (None when it records none): the numbers' meaning
        }
        for i, material in enumerate(materials)
    ]
    if as_json:
        _json(rows)
        return
    table = Table(
        "material",
        "mean",
        "± std",
        "epistemic std",
        title=f"{version} ({unit})" if unit else version,
    )
    for row in rows:
        table.add_row(
            row["material"], f"{row['mean']:.4g}", f"{row['std']:.3g}",
            f"{row['epistemic_std']:.3g}",
        )  # fmt: skip
    console.print(table)


def _check_output_file(path: Path, data: Path, option: str) -> None:
    """Refuse, before any work, an output path that is a folder or the ``data`` read."""
    from matloop.cli import CommandError

    if path.is_dir():
        raise CommandError(f"{option}: {path} is a folder; give a file path")
    if path.resolve() == data.resolve():
        raise CommandError(f"{option}: {path} is the file scored; give another path")


def _scores_lines(scores: dict[str, Any], unit: str | None) -> str:
    """An evaluation's scores on one line, those in the target's units with ``unit``."""
    after = f" {unit}" if unit else ""
    return (
        f"MAE {_number(scores['mae'])}{after}, RMSE {_number(scores['rmse'])}{after}, "
        f"R^2 {_number(scores['r2'])}, NLL {_number(scores['nll'])} (Gaussian, nats a row), "
        f"95% coverage {_number(scores['coverage_95'])} (of 0.95 wanted)"
    )


@model_app.command("eval")
def model_eval(
    version: Annotated[str, typer.Argument(help="A property model's version.")],
    data: Annotated[Path, typer.Argument(help="Held-out CSV (one material a row), as --data.")],
    target: Annotated[
        str | None, typer.Option(help="Target column (default: the model's target).")
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(help="Unit of the target column, converted to the model's (default: its)."),
    ] = None,
    formula_column: Annotated[
        str | None, typer.Option(help="Formula column (default: formula).")
    ] = None,
    structure_column: Annotated[
        str | None, typer.Option(help="Column of CIF text or CIF paths (crystal-gnn).")
    ] = None,
    predictions: Annotated[
        Path | None,
        typer.Option(help="Write each row's formula, target, mean and std to this CSV."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: best).")] = None,
) -> None:
    """Score a registered model on a held-out table: MAE, RMSE, R^2, NLL, 95% coverage.

    DATA is read as `model train --data` reads its table (same columns and errors),
    except that every row is scored, repeats too. The scores are in the model's unit;
    --unit converts a target column in another.
    """
    from matloop.cli import CommandError, errors, store

    with errors():
        check_device(device)
        if formula_column is not None and structure_column is not None:
            raise CommandError(BOTH_COLUMNS)
        if predictions is not None:
            _check_output_file(predictions, data, "--predictions")
        store()
        from agents.models import evaluate_table, write_predictions

        try:
            evaluation = evaluate_table(
                version,
                data,
                target,
                formula_column=formula_column or "formula",
                structure_column=structure_column,
                unit=unit,
                device=device,
            )
        except ValueError as error:  # "unit: ..." names the argument: say the option
            raise _as_options(error, EVAL_OPTIONS) from None
        written = None
        if predictions is not None:
            try:
                written = write_predictions(evaluation, predictions)
            except OSError as error:
                raise CommandError(
                    f"--predictions: cannot write {predictions}: {error.strerror}"
                ) from None
    rough = _few_rows_note(evaluation.scores["n"], "these scores")
    notes = [*evaluation.notes, *([rough] if rough else [])]
    if as_json:
        _json({"version": version, "file": str(data), "target": evaluation.target,
               "unit": evaluation.unit, **evaluation.scores, "notes": notes,
               "predictions": None if written is None else str(written)})  # fmt: skip
        return
    _print_evaluation(evaluation, unit, notes, written)


def _print_evaluation(
    evaluation: Evaluation, unit: str | None, notes: list[str], written: Path | None
) -> None:
    """``model eval``'s report: what was scored, its scores, notes, the file written."""
    from rich.markup import escape

    from matloop.cli import console

    scores, model_unit = evaluation.scores, evaluation.unit
    given = unit.strip() if unit else model_unit
    converted = given if given == model_unit else f"{given}, converted to the model's {model_unit}"
    console.print(
        f"{evaluation.version} on {evaluation.path}: {scores['n']} material(s), target "
        f"{evaluation.target!r}{f' ({converted})' if converted else ''}",
        highlight=False,
    )
    console.print(_scores_lines(scores, model_unit), highlight=False)
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    if written is not None:
        console.print(f"wrote {written}", highlight=False)
