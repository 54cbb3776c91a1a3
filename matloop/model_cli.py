"""``matloop model``: train, register, inspect and use property surrogates.

Registered in :mod:`matloop.cli`. torch, pymatgen and the database load only when a
command runs.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

model_app = typer.Typer(
    help="Property surrogates and acquisition policies: train, list, show, predict.",
    no_args_is_help=True,
)

KIND_HELP = "gp, ensemble, gnn, transformer, hybrid (ensemble + transformer) or crystal-gnn."


def _json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-" if value is None else str(value)
    return f"{value:.4g}" if math.isfinite(value) else str(value)


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


@model_app.command("train")
def model_train(
    data: Annotated[Path | None, typer.Option(help="Training CSV (one material a row).")] = None,
    campaign: Annotated[
        str | None, typer.Option(help="A composition campaign's measurements.")
    ] = None,
    records: Annotated[
        str | None, typer.Option(help="Literature records of this property.")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target column of --data.")] = None,
    objective: Annotated[str | None, typer.Option(help="Objective of --campaign.")] = None,
    kind: Annotated[str, typer.Option(help=KIND_HELP)] = "ensemble",
    formula_column: Annotated[str, typer.Option(help="Formula column of --data.")] = "formula",
    structure_column: Annotated[
        str | None, typer.Option(help="Column of CIF text or CIF paths (crystal-gnn).")
    ] = None,
    val: Annotated[Path | None, typer.Option(help="Validation CSV (default: a split).")] = None,
    val_fraction: Annotated[
        float, typer.Option(min=0, max=1, help="Share held out for validation.")
    ] = 0.1,
    members: Annotated[int, typer.Option(min=1, help="Ensemble members.")] = 5,
    epochs: Annotated[int, typer.Option(min=1, help="Largest number of epochs.")] = 300,
    patience: Annotated[int, typer.Option(min=1, help="Epochs without progress.")] = 30,
    batch_size: Annotated[int, typer.Option(min=1)] = 128,
    seed: int = 0,
    plots: Annotated[
        Path | None, typer.Option(help="Folder for parity and calibration PNGs.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu or cuda (default: best).")] = None,
) -> None:
    """Train a property model on a table, a campaign or literature records; register it."""
    from rich.markup import escape

    from matloop.cli import CommandError, console, errors, store

    with errors():
        source = _source(data, campaign, records)
        if source == "--data" and target is None:
            raise CommandError("--target: name the target column of --data")
        if source != "--data":
            extra = [
                name
                for name, value in (
                    ("--target", target),
                    ("--val", val),
                    ("--structure-column", structure_column),
                )
                if value is not None
            ]
            if extra:
                raise CommandError(f"{extra[0]}: applies to --data only, not {source}")
        if objective is not None and source != "--campaign":
            raise CommandError(f"--objective: applies to --campaign only, not {source}")
        from agents.models import (
            register_trained,
            train_from_campaign,
            train_from_records,
            train_from_table,
            write_plots,
        )
        from discovery.ensembles import TrainingConfig
        from discovery.property_models import KINDS

        if kind not in KINDS:
            raise CommandError(f"--kind: unknown model {kind!r}; choose from {', '.join(KINDS)}")
        if not 0 < val_fraction < 1:
            raise CommandError(
                f"--val-fraction: must lie strictly between 0 and 1, got {val_fraction}"
            )
        if kind == "crystal-gnn" and data is not None and structure_column is None:
            raise CommandError(
                "--structure-column: crystal-gnn reads crystal structures; name the column "
                "of CIF text or CIF file paths"
            )
        check_device(device)
        config = TrainingConfig(
            n_members=members,
            epochs=epochs,
            patience=patience,
            batch_size=batch_size,
            seed=seed,
            device=device,
            progress=sys.stderr.isatty(),  # a bar per member on a terminal, none in logs
        )
        campaigns = store()  # connects first: no training for a registry that is not there
        common: dict[str, Any] = {"val_fraction": val_fraction, "config": config, "seed": seed}
        if data is not None:
            assert target is not None
            trained = train_from_table(
                data,
                target,
                kind,
                formula_column=formula_column,
                structure_column=structure_column,
                val_path=val,
                **common,
            )
        elif campaign is not None:
            trained = train_from_campaign(campaigns, campaign, objective, kind, **common)
        else:
            from db.literature import LiteratureStore

            assert records is not None
            trained = train_from_records(LiteratureStore(), records, kind, **common)
        written = write_plots(trained, plots) if plots is not None else []
        version = register_trained(trained)
    for note in trained.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False)
    d, metrics = trained.diagnostics, trained.model.metrics
    unit = f" {trained.info['unit']}" if trained.info.get("unit") else ""
    console.print(
        f"registered [bold]{version}[/bold] ({trained.info['target']}, "
        f"{metrics['n_train']} train / {metrics['n_val']} validation)",
        highlight=False,
    )
    console.print(
        f"validation: MAE {_number(d['mae'])}{unit}, RMSE {_number(d['rmse'])}{unit}, "
        f"NLL {_number(d['nll'])}, 95% coverage {_number(d['coverage_95'])}",
        highlight=False,
    )
    if metrics.get("val_in_calibration"):
        console.print(
            "note: the validation split also stopped training and recalibrated the spread, "
            "so its coverage is not out of sample; predict a held-out set to measure it",
            highlight=False,
        )
    for path in written:
        console.print(f"wrote {path}", highlight=False)


@model_app.command("train-policy")
def model_train_policy(
    iterations: Annotated[int, typer.Option(help="Policy-gradient updates.")] = 400,
    horizon: Annotated[int, typer.Option(help="Experiments per training episode.")] = 30,
    seed: int = 0,
) -> None:
    """Train a learned acquisition policy on GP-sample tasks and register it.

    Use it in a campaign with ``--acquisition rl:VERSION``.
    """
    from matloop.cli import CommandError, console, errors, store

    with errors():
        from discovery.policy import PolicyTrainingConfig, train_policy

        try:
            config = PolicyTrainingConfig(iterations=iterations, horizon=horizon, seed=seed)
        except ValueError as error:  # "horizon: ..." names the option
            raise CommandError(f"--{error}") from None
        store()  # connects
        from agents.policies import register_policy, registered_policy
        from db.models import load_model_record

        stored = registered_policy(config)
        if stored is None:
            version = register_policy(train_policy(config, progress=sys.stdout.isatty()))
            stored = load_model_record(version)
            said = f"registered {version} ("
        else:  # same settings, same policy: the stored one is reported, not retrained
            said = f"already registered {stored.version} (same settings, not retrained; "
    metrics = dict(stored.metrics)
    console.print(
        f"{said}trained in {metrics['seconds']:.0f} s; mean held-out regret "
        f"{metrics['held_out_regret']:.4f}, expected improvement's "
        f"{metrics['held_out_regret_ei']:.4f}: lower is better); "
        f"use --acquisition rl:{stored.version}",
        highlight=False,
    )


@model_app.command("list")
def model_list(
    kind: Annotated[str | None, typer.Option(help="Only models of this kind.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List registered models (campaign surrogates, property models, taggers)."""
    from rich.table import Table

    from db.models import list_model_records
    from matloop.cli import console, errors, store

    with errors():
        store()
        rows = list_model_records(kind)
    if as_json:
        _json(rows)
        return
    table = Table()
    table.add_column("version", no_wrap=True)  # whole, to copy into `show` and `predict`
    for column in ("kind", "campaign", "target"):
        table.add_column(column)
    table.add_column("n", justify="right")
    table.add_column("val MAE", justify="right")
    table.add_column("created", no_wrap=True)
    for row in rows:
        m = row["metrics"]
        size = m.get("n_train")
        created = (row["created_at"] or "")[:16].replace("T", " ")
        table.add_row(
            row["version"],
            row["kind"],
            row["campaign"] or "",
            str(m.get("target") or m.get("objective") or ""),
            "" if size is None else str(size),
            _number(m.get("val_mae", m.get("cv_mae"))),
            created,
        )
    console.print(table)


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
    for key, value in info["metrics"].items():
        if isinstance(value, list | dict):
            value = f"({len(value)} entries; --json shows them)"
        console.print(f"  {key}: {_number(value)}", highlight=False)


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
        parsed = read_materials(model.kind, materials)
        prediction = predict(model, parsed)
    rows: list[dict[str, Any]] = [
        {
            "material": material,
            "mean": float(prediction.mean[i]),
            "std": float(prediction.std[i]),
            "epistemic_std": float(prediction.epistemic_std[i]),
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
