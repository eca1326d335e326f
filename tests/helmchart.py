"""The Helm chart on the local control plane: build helm, render the chart, and act as the
chart's operator ServiceAccount with a real token (used by the chart test and the benchmark)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from localkube.kube import Credentials, KubeClient, ns_path

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "bulletin"
BUILD_SCRIPT = ROOT / "tests" / "helm" / "build.sh"
_helm: list[Path] = []


def helm_binary() -> Path:
    """Build helm from tests/helm/go.mod (instant when cached) and return its path."""
    if not _helm:
        proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{BUILD_SCRIPT} failed ({proc.returncode}):\n{proc.stderr}")
        _helm.append(Path(proc.stdout.strip().splitlines()[-1]))
    return _helm[0]


def helm(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run helm with a private, empty home (no repositories, no plugins, no cache)."""
    home = ROOT / "out" / "helm-home"
    env = {**os.environ, "HELM_CACHE_HOME": str(home / "cache"),
           "HELM_CONFIG_HOME": str(home / "config"), "HELM_DATA_HOME": str(home / "data")}
    env.pop("KUBECONFIG", None)
    proc = subprocess.run([str(helm_binary()), *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}{proc.stderr}")
    return proc


def render(release: str, namespace: str, *set_values: str) -> list[dict[str, Any]]:
    """The chart's objects as `helm template` renders them (CRDs not included)."""
    args = ["template", release, str(CHART), "--namespace", namespace]
    for value in set_values:
        args += ["--set", value]
    return [doc for doc in yaml.safe_load_all(helm(*args).stdout) if doc]


def kubectl_apply(kubectl: Path, kubeconfig: Path, objects: Sequence[dict[str, Any]],
                  *extra: str) -> str:
    """`kubectl apply --server-side` the objects (extra args, e.g. ``--dry-run=server``).

    Sent as JSON: PyYAML writes the string "y" bare, which Go's YAML reads as a boolean."""
    listing = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    proc = subprocess.run(
        [str(kubectl), "apply", "--server-side", "--field-manager=helm-chart-test", *extra,
         "-f", "-"],
        input=json.dumps(listing), capture_output=True, text=True, timeout=120,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    if proc.returncode != 0:
        raise AssertionError(f"kubectl apply failed:\n{proc.stderr}")
    return proc.stdout


def operator_account(objects: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """(namespace, name) of the ServiceAccount the chart's Deployment runs as."""
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    name = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    account = next(o for o in objects if o["kind"] == "ServiceAccount"
                   and o["metadata"]["name"] == name)
    return account["metadata"]["namespace"], name


def service_account_kubeconfig(admin_kubeconfig: Path, namespace: str, name: str, path: Path,
                               expiration_seconds: int = 7200) -> Path:
    """Write a kubeconfig at ``path`` that authenticates as ServiceAccount ``namespace/name``
    with a fresh token from the TokenRequest API (asked for with the admin kubeconfig)."""
    admin = Credentials.from_kubeconfig(admin_kubeconfig)
    answer = KubeClient(admin).create(
        ns_path(namespace, "serviceaccounts", name, sub="token"),
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"expirationSeconds": expiration_seconds}})
    user = f"system:serviceaccount:{namespace}:{name}"
    cfg = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "localkube", "cluster": {
            "server": admin.server, "certificate-authority": str(admin.ca_file)}}],
        "users": [{"name": user, "user": {"token": answer["status"]["token"]}}],
        "contexts": [{"name": "localkube", "context": {"cluster": "localkube", "user": user}}],
        "current-context": "localkube",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path.chmod(0o600)
    return path
