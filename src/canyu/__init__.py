"""Canyu (参与): the public-participation platform of the Pudong New Area."""

from pathlib import Path

__version__ = "0.1.0"

#: The checkout (or installed tree) that holds templates/, static/ and locale/.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
