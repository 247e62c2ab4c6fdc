"""Regenerate EdgeTAM's golden outputs with the official EdgeTAM code.

Run with the EdgeTAM reference environment (../shared/tools/edgetam-reference-env), from
the repo root:

    /tmp/edgetam-reference/bin/python tests/parity/make_edgetam_fixtures.py

Image cases (image_cases.py) on both shared photos, and the video sessions of
video_cases.EDGETAM_SESSIONS (one object each), under stand-in weights, as
fixtures/image_edgetam.npz and fixtures/video_edgetam.npz. Only the reference's outputs
are stored.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "parity"))

import make_image_fixtures  # noqa: E402
import make_video_fixtures  # noqa: E402
from video_cases import EDGETAM_SESSIONS  # noqa: E402

if __name__ == "__main__":
    make_image_fixtures.main(("edgetam",), yaml_of=lambda config: "edgetam.yaml")
    make_video_fixtures.record("edgetam", "edgetam.yaml", EDGETAM_SESSIONS)
