"""``python -m matloop`` runs the CLI."""

from matloop.cli import app

app()
