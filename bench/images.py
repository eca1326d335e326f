"""Container image sizes: what the runner and operator images add to their common base.

Budgets: runner <= 300 MB and operator <= 120 MB above the base (tests/images builds all three).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import images  # tests/images: the build helper

RUNNER_BUDGET_MB = 300
OPERATOR_BUDGET_MB = 120


def size_figures() -> dict[str, float]:
    """Sizes in MB (podman's figures), building the images if needed."""
    built = images.build()
    runner, operator = built["runner"], built["operator"]
    return {"runner_mb": runner.above_base_mb, "operator_mb": operator.above_base_mb,
            "base_mb": runner.base_mb}


def figures() -> dict[str, float]:
    """Everything this benchmark reports; extend here (e.g. node start timings)."""
    return size_figures()


def main() -> None:
    """Print the figures and the BENCH line."""
    reason = images.podman_missing()
    if reason:
        print(f"BENCH images skipped: {reason}")
        return
    found = figures()
    print(f"base {found['base_mb']:.0f} MB; above it: runner {found['runner_mb']:.0f} MB "
          f"(budget {RUNNER_BUDGET_MB}), operator {found['operator_mb']:.0f} MB "
          f"(budget {OPERATOR_BUDGET_MB})")
    extra = " ".join(f"{k}={v:g}" for k, v in found.items())
    print(f"BENCH images ratio={found['runner_mb'] / RUNNER_BUDGET_MB:.2f} goal=<=1.0 {extra}")


if __name__ == "__main__":
    main()
