"""Options that read a measured table as a pool, shared by ``campaign create`` and ``backtest``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

FromCsv = Annotated[Path | None, typer.Option(help="CSV table of measured points (a pool).")]
FromOlympus = Annotated[
    Path | None,
    typer.Option(help="Olympus data set folder, or the name of one shipped (photo_pce10)."),
]
Objectives = Annotated[
    list[str] | None,
    typer.Option(help="NAME:max|min[:UNIT]; results in other pint units convert (repeatable)."),
]
Params = Annotated[
    list[str] | None, typer.Option(help="Parameter column (repeatable; default: all others).")
]
CompositionColumn = Annotated[
    str | None,
    typer.Option(help="Formula column of --from-csv: candidates become compositions."),
]

__all__ = ["CompositionColumn", "FromCsv", "FromOlympus", "Objectives", "Params"]
