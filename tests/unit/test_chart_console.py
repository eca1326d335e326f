"""The chart's console (console.enabled): off by default; with auth token the pod holds no
credential and its ServiceAccount has no rights; with auth header the ServiceAccount may only
impersonate; a Service, an optional Ingress; the schema refuses what it does not know."""

from __future__ import annotations

from typing import Any

from helmchart import CHART, helm, render


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def console_objects(objects: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((o["kind"], o["metadata"]["name"]) for o in objects
                  if "console" in o["metadata"]["name"])


def test_off_by_default() -> None:
    assert console_objects(render("rel", "ops")) == []


def test_token_auth_holds_no_credential_and_no_rights() -> None:
    objects = render("rel", "ops", "console.enabled=true", "console.namespaces={team-a,team-b}")
    assert console_objects(objects) == [("Deployment", "rel-console"), ("Service", "rel-console"),
                                        ("ServiceAccount", "rel-console")]
    pod = named(objects, "Deployment", "rel-console")["spec"]["template"]
    assert pod["spec"]["automountServiceAccountToken"] is False
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"] == "kube-api"]
    assert [list(s) for s in volume["projected"]["sources"]] == [["configMap"]]  # CA only
    [container] = pod["spec"]["containers"]
    assert container["command"] == ["bulletin-console", "--auth=token", "--port=8080",
                                    "--owner-label=owner", "--namespaces=team-a,team-b"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    selector = named(objects, "Service", "rel-console")["spec"]["selector"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert selector["app.kubernetes.io/component"] == "console"


def test_header_auth_may_only_impersonate() -> None:
    objects = render("rel", "ops", "console.enabled=true", "console.auth=header",
                     "console.ingress.enabled=true", "console.ingress.host=reports.example.com")
    role = named(objects, "ClusterRole", "rel-console-impersonate")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["users", "groups"],
                              "verbs": ["impersonate"]}]
    binding = named(objects, "ClusterRoleBinding", "rel-console-impersonate")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "rel-console",
                                    "namespace": "ops"}]
    assert not [o for o in objects if o["kind"] in ("Role", "RoleBinding")
                and "console" in o["metadata"]["name"]]
    pod = named(objects, "Deployment", "rel-console")["spec"]["template"]["spec"]
    [volume] = [v for v in pod["volumes"] if v["name"] == "kube-api"]
    assert [list(s) for s in volume["projected"]["sources"]] == [["configMap"],
                                                                 ["serviceAccountToken"]]
    assert "--user-header=X-Forwarded-User" in pod["containers"][0]["command"]
    ingress = named(objects, "Ingress", "rel-console")
    assert ingress["spec"]["rules"][0]["host"] == "reports.example.com"


def test_the_schema_refuses_unknown_console_values() -> None:
    for bad in ("console.auth=basic", "console.typo=1", "console.userHeader=X User"):
        proc = helm("template", "rel", str(CHART), "--set", "console.enabled=true",
                    "--set", bad, check=False)
        assert proc.returncode != 0 and "values don't meet the specifications" in proc.stderr, bad
    proc = helm("template", "rel", str(CHART), "--set", "console.enabled=true",
                "--set", "console.ingress.enabled=true", check=False)
    assert "console.ingress.host is needed" in proc.stderr
