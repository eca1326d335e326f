"""Every Kubernetes client is made in bulletin.api.gateway: no other product module loads
credentials or builds a client (an ``ApiClient(...)``, or a typed API of the implicit default
client, ``client.CoreV1Api()``), so each client's retries are decided in one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bulletin.api import gateway

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = (ROOT / "runner" / "bulletin", ROOT / "operator" / "bulletin_operator")
GATEWAY = Path(gateway.__file__).resolve()
MAKES_A_CLIENT = re.compile(r"load_kube_config|load_incluster_config|new_client_from_config"
                            r"|ApiClient\(|config\.load|\bclient\.\w+Api\(\)")


def builders(roots: tuple[Path, ...] = PRODUCT) -> list[str]:
    """``path:line`` of each line outside the gateway that makes a client."""
    return [f"{path.name}:{number}" if not path.is_relative_to(ROOT)
            else f"{path.relative_to(ROOT)}:{number}"
            for path in sorted(p for root in roots for p in root.rglob("*.py"))
            if path.resolve() != GATEWAY
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if MAKES_A_CLIENT.search(line)]


def test_only_the_gateway_makes_clients() -> None:
    assert builders() == []


@pytest.mark.parametrize("line", [
    "api = client.ApiClient()", "config.load_incluster_config()", "client.CustomObjectsApi()",
    "config.new_client_from_config(config_file=k)", "config.load_kube_config(k)"])
def test_a_client_made_elsewhere_is_found(tmp_path: Path, line: str) -> None:
    (tmp_path / "probe.py").write_text(f"x = 1\n{line}\n")
    found = builders((tmp_path,))
    assert [f.rsplit(":", 1)[1] for f in found] == ["2"]


def test_the_gateway_retries_as_it_says() -> None:
    assert gateway.default_client(gateway.NO_RETRIES).configuration.retries == 0
    assert gateway.default_client().configuration.retries == gateway.RECONNECTS
