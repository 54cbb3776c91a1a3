"""Options shared by commands: a table read as a pool, and a seed.

The pool options are ``campaign create``'s and ``backtest``'s; the seed is also
``model train``'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from discovery.domain import MAX_SEED

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

#: A seed, named in its errors ("--seed: -1 is not in the range ..."), as the API bounds it.
Seed = Annotated[
    int, typer.Option(min=0, max=MAX_SEED, help="Random seed: the same seed, the same run.")
]

__all__ = ["CompositionColumn", "FromCsv", "FromOlympus", "Objectives", "Params", "Seed"]
