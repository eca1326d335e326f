"""Install Bulletin into the local cluster the way a platform team does: `helm install` of the
chart, with the images this checkout built (already imported into the node)."""

from __future__ import annotations

from pathlib import Path

from helmchart import CHART, helm

from devstack.ports import HOST


def image_values(prefix: str, image: str, pull_policy: str = "Never") -> list[str]:
    """``--set`` arguments pointing the chart value ``prefix`` (image, runnerImage) at
    ``image`` (repository:tag)."""
    repository, tag = image.rsplit(":", 1)
    return ["--set", f"{prefix}.repository={repository}", "--set", f"{prefix}.tag={tag}",
            "--set", f"{prefix}.pullPolicy={pull_policy}"]


def helm_install(kubeconfig: Path, release: str, namespace: str, operator_image: str,
                 runner_image: str, *extra: str, command: str = "install",
                 chart: Path = CHART) -> str:
    """`helm install` (or ``upgrade``) of the chart (ours, or another release's) with these
    images; the test servers' address is allowed as a private network. Waits until the
    operator Deployment is available."""
    args = [command, release, str(chart), "--kubeconfig", str(kubeconfig),
            "--namespace", namespace, "--wait", "--timeout", "180s",
            *image_values("image", operator_image), *image_values("runnerImage", runner_image),
            "--set", f"allowPrivateNetworks={HOST}/32", *extra]
    if command == "install":
        args.append("--create-namespace")
    return helm(*args, timeout=240).stdout
