"""The import contracts in .importlinter name every runner module the operator must not import."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {"api", "schedule", "timing", "archive"}  # what the operator may import of the runner


def _forbidden(contract: str) -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return set(config[f"importlinter:contract:{contract}"]["forbidden_modules"].split())


def test_every_runner_module_but_the_api_is_forbidden_to_the_operator() -> None:
    runner = ROOT / "runner" / "bulletin"
    modules = {p.stem for p in runner.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in runner.iterdir() if (p / "__init__.py").exists()}
    expected = {f"bulletin.{m}" for m in modules - ALLOWED}
    assert _forbidden("operator-uses-api-only") == expected
    assert _forbidden("api-stands-alone") == expected | {"bulletin.archive"}
    assert _forbidden("archive-uses-api-only") == expected


def test_every_runner_module_has_a_layer() -> None:
    runner = ROOT / "runner" / "bulletin"
    modules = {p.stem for p in runner.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in runner.iterdir() if (p / "__init__.py").exists()}
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    layers = config["importlinter:contract:runner-layers"]["layers"].split("\n")
    placed = [m.strip() for layer in layers for m in layer.split("|") if m.strip()]
    assert len(placed) == len(set(placed))
    assert set(placed) == modules
