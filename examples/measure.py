r"""A stand-in lab: "measures" a proposed batch and writes the results file matloop reads.

It reads a batch proposed with ``matloop campaign propose NAME --json``, looks each trial's
parameters up in a table of measured rows (the campaign's CSV pool, say) and writes the
CSV that ``matloop campaign observe NAME --from-file`` reads: ``trial_id``, one column per
outcome, and an ``idempotency_key`` (a retried report with the same key is stored once):

    matloop campaign create alloys --from-csv examples/data/alloys.csv \
        --objective hardness:max:HV --param x --param y --param solvent
    mkdir -p demo-output
    matloop campaign propose alloys -n 4 --json > demo-output/alloys-batch.json
    python examples/measure.py demo-output/alloys-batch.json examples/data/alloys.csv \
        hardness > demo-output/results.csv
    matloop campaign observe alloys --from-file demo-output/results.csv

``--scale OUTCOME=FACTOR`` writes an outcome multiplied by FACTOR, as an instrument that
reports in another unit would (``--scale band_gap=1000``: a table in eV written in meV, to
be reported with ``observe --unit band_gap=meV``). Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

#: Columns of ``campaign propose --json`` that are not the trial's parameters.
PROPOSAL_COLUMNS = {
    "trial_id",
    "batch",
    "strategy",
    "candidate",
    "label",
    "model_version",
    "acquisition_value",
    "formula",
}


def parameters(trial: dict[str, Any]) -> dict[str, Any]:
    """A proposed trial's parameters (``parameter.status``: a parameter named as a column)."""
    return {
        name.removeprefix("parameter."): value
        for name, value in trial.items()
        if name not in PROPOSAL_COLUMNS
    }


def same(cell: str, value: Any) -> bool:
    """Whether a table cell holds a proposed parameter value (numbers to 1e-9)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return math.isclose(float(cell), value, rel_tol=1e-9, abs_tol=1e-12)
        except ValueError:
            return False
    return cell == str(value)


def measure(
    batch: list[dict[str, Any]],
    table: list[dict[str, str]],
    outcomes: list[str],
    scale: dict[str, float],
) -> list[dict[str, Any]]:
    """One result row per trial: its id, each outcome as the table gives it, a key.

    Raises:
        SystemExit: naming the trial whose parameters no table row holds.
    """
    results = []
    for trial in batch:
        point = parameters(trial)
        row = next((r for r in table if all(same(r.get(k, ""), v) for k, v in point.items())), None)
        if row is None:
            raise SystemExit(f"trial {trial['trial_id']}: no table row has {point}")
        values = {o: float(row[o]) * scale.get(o, 1.0) for o in outcomes}
        key = f"measure:{trial['trial_id']}"
        results.append({"trial_id": trial["trial_id"], **values, "idempotency_key": key})
    return results


def main(argv: list[str] | None = None) -> None:
    """Read the batch and the table, write the results CSV to stdout."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("batch", type=Path, help="JSON from `matloop campaign propose --json`.")
    parser.add_argument("table", type=Path, help="CSV of measured rows (parameters, outcomes).")
    parser.add_argument("outcomes", nargs="+", help="Outcome columns to report.")
    parser.add_argument(
        "--scale",
        action="append",
        default=[],
        metavar="OUTCOME=FACTOR",
        help="Multiply OUTCOME by FACTOR (another unit: 1000 for eV written as meV).",
    )
    args = parser.parse_args(argv)
    scale = {}
    for item in args.scale:
        outcome, _, factor = item.partition("=")
        try:
            scale[outcome] = float(factor)
        except ValueError:
            parser.error(f"--scale {item!r}: expected OUTCOME=FACTOR")
    batch = json.loads(args.batch.read_text(encoding="utf-8"))
    with args.table.open(newline="", encoding="utf-8-sig") as handle:
        table = list(csv.DictReader(handle))
    missing = [o for o in args.outcomes if table and o not in table[0]]
    if missing:
        parser.error(f"{args.table} has no column {missing}; columns are {list(table[0])}")
    results = measure(batch, table, args.outcomes, scale)
    writer = csv.DictWriter(
        sys.stdout, ["trial_id", *args.outcomes, "idempotency_key"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(results)


if __name__ == "__main__":
    main()
