"""Real recorded X API v2 responses, copied into the repository (tests/fixtures/x-api-samples/README.md)."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "x-api-samples"
