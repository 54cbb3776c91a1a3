"""Prefect flows that schedule and run matloop's steps (issue 6).

Orchestration only: the logic lives in agents/, db/, discovery/ and literature/.
"""

__all__: list[str] = []
