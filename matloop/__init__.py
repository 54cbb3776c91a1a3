"""matloop: closed-loop materials discovery. This package is the face: CLI and settings."""

from matloop.settings import Settings

__all__ = ["Settings"]
__version__ = "0.1.0"
