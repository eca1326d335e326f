"""What platforms set on the chart (issue 22, point 3): ServiceAccount annotations, operator pod
labels and annotations, priorityClassName, topology spread, image digests, a PodDisruptionBudget;
the standard labels on every object; Chart.yaml's metadata; a runbook_url on every alert that
lands on a section of docs/operating.md; the LICENSE in the repository and in the chart archive;
the changelog and the upgrade notes. All rendered by `helm template` or packaged by `helm
package` (helm built from tests/helm), the schema included."""

from __future__ import annotations

import re
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from helmchart import CHART, ROOT, helm, render

CHART_META: dict[str, Any] = yaml.safe_load((CHART / "Chart.yaml").read_text())
REPO_URL = "https://github.com/bulletin-dev/bulletin"
OPERATING = ROOT / "docs" / "operating.md"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
# Every template that renders objects, switched on (the PDB by replicas, the Roles by
# watchNamespaces, the NetworkPolicy, the monitoring objects).
EVERYTHING = ("replicas=2", "watchNamespaces={team-a,team-b}", "runnerNetworkPolicy.enabled=true",
              "metrics.serviceMonitor.enabled=true", "metrics.prometheusRule.enabled=true",
              "metrics.dashboard.enabled=true", "console.enabled=true", "console.auth=header",
              "console.ingress.enabled=true", "console.ingress.host=reports.example.com")


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [o for o in objects if o["kind"] == kind]
    return found


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The operator's pod template (not the console's)."""
    operator = [o for o in objects if o["kind"] == "Deployment"
                and not o["metadata"]["name"].endswith("-console")]
    template: dict[str, Any] = one(operator, "Deployment")["spec"]["template"]
    return template


def env(objects: list[dict[str, Any]]) -> dict[str, str]:
    container = pod_spec(objects)["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation other than
    - and _ dropped, spaces as -, repeats numbered -1, -2, ... (code blocks skipped)."""
    anchors: set[str] = set()
    fenced = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else re.match(r"^#{1,6} (.+?)\s*$", line)
        if match is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", match[1].strip().lower().replace("`", "")).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


# -- the platform values ------------------------------------------------------------------------

def test_defaults_render_none_of_the_platform_settings() -> None:
    objects = render("rel", "ops")
    account = one(objects, "ServiceAccount")
    assert "annotations" not in account["metadata"]
    pod = pod_spec(objects)
    assert "annotations" not in pod["metadata"]
    assert set(pod["metadata"]["labels"]) == {
        "helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of",
        "app.kubernetes.io/version", "app.kubernetes.io/name", "app.kubernetes.io/component",
        "app.kubernetes.io/instance"}
    assert "priorityClassName" not in pod["spec"]
    assert "topologySpreadConstraints" not in pod["spec"]
    version = CHART_META["appVersion"]
    assert pod["spec"]["containers"][0]["image"] == \
        f"ghcr.io/bulletin-dev/bulletin-operator:{version}"
    assert env(objects)["BULLETIN_RUNNER_IMAGE"] == \
        f"ghcr.io/bulletin-dev/bulletin-runner:{version}"
    assert "PodDisruptionBudget" not in {o["kind"] for o in objects}


def test_service_account_annotations_for_irsa_and_workload_identity() -> None:
    objects = render(
        "rel", "ops",
        "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789012:role/b",
        "serviceAccount.annotations.iam\\.gke\\.io/gcp-service-account=b@p.iam.gserviceaccount.com")
    account = one(objects, "ServiceAccount")
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/b",
        "iam.gke.io/gcp-service-account": "b@p.iam.gserviceaccount.com"}
    # It is the account the operator runs as.
    assert pod_spec(objects)["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_operator_pod_labels_annotations_and_priority_class() -> None:
    objects = render("rel", "ops", "podLabels.team=platform", "podLabels.cost-center=42a",
                     "podAnnotations.example\\.com/owner=data-platform",
                     "priorityClassName=platform-critical")
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert labels["team"] == "platform" and labels["cost-center"] == "42a"
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert "team" not in deployment["metadata"]["labels"]  # the pod's, not the Deployment's
    assert pod["metadata"]["annotations"] == {"example.com/owner": "data-platform"}
    assert pod["spec"]["priorityClassName"] == "platform-critical"


def test_topology_spread_constraints_select_the_operator_pods_unless_told() -> None:
    objects = render(
        "rel", "ops", "replicas=3",
        "topologySpreadConstraints[0].maxSkew=1",
        "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
        "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
        "topologySpreadConstraints[1].maxSkew=2",
        "topologySpreadConstraints[1].topologyKey=kubernetes.io/hostname",
        "topologySpreadConstraints[1].whenUnsatisfiable=DoNotSchedule",
        "topologySpreadConstraints[1].labelSelector.matchLabels.app=other")
    deployment = one(objects, "Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"] == [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
         "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": selector}},
        {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname",
         "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "other"}}},
    ]


def test_image_digests_make_repository_at_digest_references() -> None:
    objects = render("rel", "ops", f"image.digest={DIGEST_A}", "image.tag=9.9.9",
                     f"runnerImage.digest={DIGEST_B}", "runnerImage.repository=reg.local/runner")
    container = pod_spec(objects)["spec"]["containers"][0]
    assert container["image"] == f"ghcr.io/bulletin-dev/bulletin-operator@{DIGEST_A}"
    assert env(objects)["BULLETIN_RUNNER_IMAGE"] == f"reg.local/runner@{DIGEST_B}"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((), None),  # one replica: no budget (it would block every drain)
        (("replicas=2",), {"maxUnavailable": 1}),
        (("replicas=3", "podDisruptionBudget.enabled=false"), None),
        (("replicas=3", "podDisruptionBudget.minAvailable=2"), {"minAvailable": 2}),
        (("replicas=3", "podDisruptionBudget.maxUnavailable=34%"), {"maxUnavailable": "34%"}),
        (("podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=50%"),
         {"minAvailable": "50%"}),
        (("podDisruptionBudget.enabled=true",), {"maxUnavailable": 1}),
    ],
)
def test_pod_disruption_budget(values: tuple[str, ...], expected: dict[str, Any] | None) -> None:
    objects = render("rel", "ops", *values)
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    if expected is None:
        assert budgets == []
        return
    [budget] = budgets
    assert budget["apiVersion"] == "policy/v1"
    assert (budget["metadata"]["name"], budget["metadata"]["namespace"]) == ("rel-operator", "ops")
    spec = dict(budget["spec"])
    selector = spec.pop("selector")["matchLabels"]
    assert spec == expected
    assert selector == one(objects, "Deployment")["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("serviceAccount.annotation.a=b", "additional properties 'annotation' not allowed"),
        ("serviceAccount.create=false", "additional properties 'create' not allowed"),
        ("podLabel.team=x", "additional properties 'podLabel' not allowed"),
        ("podAnnotation.a=b", "additional properties 'podAnnotation' not allowed"),
        ("priorityClass=high", "additional properties 'priorityClass' not allowed"),
        ("topologySpreadConstraint[0].maxSkew=1",
         "additional properties 'topologySpreadConstraint' not allowed"),
        ("podDisruptionBudget.enable=true", "additional properties 'enable' not allowed"),
        ("podDisruptionBudget.minAvaliable=1", "additional properties 'minAvaliable' not allowed"),
        ("image.digests=sha256:abc", "additional properties 'digests' not allowed"),
        ("runnerImage.sha=x", "additional properties 'sha' not allowed"),
        ("crds.install=false", "additional properties 'crds' not allowed"),
        ("metrics.prometheusRule.runbookURL=https://x",
         "additional properties 'runbookURL' not allowed"),
        ("topologySpreadConstraints[0].maxskew=1", "additional properties 'maxskew' not allowed"),
        # Wrong values of the right keys.
        ("image.digest=latest", "'latest' does not match pattern"),
        ("runnerImage.digest=sha256:XYZ", "'sha256:XYZ' does not match pattern"),
        ("priorityClassName=High_Priority", "'High_Priority' does not match pattern"),
        ("podLabels.app\\.kubernetes\\.io/name=other", "invalid propertyName"),
        ("podLabels.helm\\.sh/chart=x", "invalid propertyName"),
        ("podLabels.team=not a label value", "does not match pattern"),
        ("serviceAccount.annotations.bad key=x", "invalid propertyName 'bad key'"),
        ("podDisruptionBudget.minAvailable=half", "'half' does not match pattern"),
        ("podDisruptionBudget.enabled=maybe", "got string, want null or boolean"),
        ("topologySpreadConstraints[0].whenUnsatisfiable=Never",
         "missing properties 'maxSkew', 'topologyKey'"),
        ("metrics.prometheusRule.runbookUrl=https://wiki/x#y", "does not match pattern"),
        ("podDisruptionBudget.enabled=true,podDisruptionBudget.minAvailable=1,"
         "podDisruptionBudget.maxUnavailable=1",
         "podDisruptionBudget: set minAvailable or maxUnavailable, not both"),
    ],
)
def test_the_schema_refuses_typos_and_wrong_platform_values(value: str, message: str) -> None:
    proc = helm("template", "rel", str(CHART), "--set", value, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_helm_lint_is_clean_with_every_platform_value() -> None:
    out = helm("lint", "--strict", str(CHART), *[a for v in (
        *EVERYTHING, f"image.digest={DIGEST_A}", f"runnerImage.digest={DIGEST_B}",
        "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn",
        "podLabels.team=platform", "podAnnotations.a=b", "priorityClassName=high",
        "topologySpreadConstraints[0].maxSkew=1",
        "topologySpreadConstraints[0].topologyKey=kubernetes.io/hostname",
        "topologySpreadConstraints[0].whenUnsatisfiable=ScheduleAnyway",
        "runnerNetworkPolicy.apiServer.cidrs={10.0.0.1/32}") for a in ("--set", v)]).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out
    assert "[WARNING]" not in out and "[ERROR]" not in out, out


# -- standard labels ----------------------------------------------------------------------------

def test_every_rendered_object_carries_the_standard_labels() -> None:
    out = helm("template", "rel", str(CHART), "--namespace", "ops",
               *[a for v in EVERYTHING for a in ("--set", v)]).stdout
    sources = set(re.findall(r"^# Source: bulletin/(templates/\S+)$", out, flags=re.M))
    templates = {f"templates/{p.name}" for p in (CHART / "templates").glob("*.yaml")}
    assert sources == templates, "a template rendered nothing: switch it on in EVERYTHING"
    objects = [d for d in yaml.safe_load_all(out) if d]
    standard = {
        "helm.sh/chart": f"bulletin-{CHART_META['version']}",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/version": str(CHART_META["appVersion"]),
        "app.kubernetes.io/name": "bulletin",
        "app.kubernetes.io/instance": "rel",
        "app.kubernetes.io/part-of": "bulletin",
    }
    kinds = set()
    for obj in objects:
        labels = obj["metadata"].get("labels") or {}
        assert standard.items() <= labels.items(), (obj["kind"], obj["metadata"]["name"], labels)
        kinds.add(obj["kind"])
    assert {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
            "RoleBinding", "Service", "ServiceMonitor", "PrometheusRule", "ConfigMap",
            "NetworkPolicy", "PodDisruptionBudget"} <= kinds
    pod_labels = pod_spec(objects)["metadata"]["labels"]
    assert standard.items() <= pod_labels.items()


# -- Chart.yaml ---------------------------------------------------------------------------------

def test_chart_metadata_names_home_sources_icon_and_kube_version() -> None:
    assert CHART_META["home"] == REPO_URL
    assert REPO_URL in CHART_META["sources"]
    icon = urlsplit(CHART_META["icon"])
    assert icon.scheme == "https"
    # The icon is a file of this repository on main, served raw by GitHub.
    prefix = "/bulletin-dev/bulletin/main/"
    assert icon.netloc == "raw.githubusercontent.com" and icon.path.startswith(prefix)
    svg = ROOT / icon.path.removeprefix(prefix)
    assert svg.is_file(), svg
    assert ET.parse(svg).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert CHART_META["kubeVersion"] == ">=1.30.0-0"
    shown = yaml.safe_load(helm("show", "chart", str(CHART)).stdout)
    assert {k: shown[k] for k in ("home", "sources", "icon", "kubeVersion")} == {
        k: CHART_META[k] for k in ("home", "sources", "icon", "kubeVersion")}


@pytest.mark.parametrize(("kube", "ok"), [("1.29.9", False), ("1.30.0", True), ("1.34.4", True)])
def test_kube_version_is_enforced(kube: str, ok: bool) -> None:
    proc = helm("template", "rel", str(CHART), "--kube-version", kube, check=False)
    assert (proc.returncode == 0) is ok, proc.stderr
    if not ok:
        assert "incompatible with Kubernetes" in proc.stderr, proc.stderr


# -- alerts' runbooks ---------------------------------------------------------------------------

def test_every_alert_has_a_runbook_url_whose_anchor_exists_in_docs_operating() -> None:
    rule = one(render("rel", "ops", "metrics.prometheusRule.enabled=true"), "PrometheusRule")
    alerts = [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]
    assert len(alerts) == 4
    anchors = github_anchors(OPERATING.read_text())
    for alert in alerts:
        url = urlsplit(alert["annotations"]["runbook_url"])
        assert (url.scheme, url.netloc) == ("https", "github.com"), url
        # github.com/<owner>/<repo>/blob/main/<path in this repository>
        owner_repo, path = url.path.split("/blob/main/", 1)
        assert f"https://github.com{owner_repo}" == REPO_URL
        assert ROOT / path == OPERATING
        assert url.fragment == alert["alert"].lower(), alert["alert"]
        assert url.fragment in anchors, f"docs/operating.md has no #{url.fragment}"


def test_runbook_url_can_point_at_another_copy() -> None:
    rule = one(render("rel", "ops", "metrics.prometheusRule.enabled=true",
                      "metrics.prometheusRule.runbookUrl=https://wiki.example.com/bulletin"),
               "PrometheusRule")
    urls = {r["alert"]: r["annotations"]["runbook_url"]
            for g in rule["spec"]["groups"] for r in g["rules"]}
    assert urls["BulletinOperatorDown"] == "https://wiki.example.com/bulletin#bulletinoperatordown"
    assert all(u.startswith("https://wiki.example.com/bulletin#") for u in urls.values())


def test_anchor_slugs_follow_github() -> None:
    assert github_anchors("# A b\n## Why? `x` (y, for 5m)\n```\n# not\n```\n## A b\n") == {
        "a-b", "why-x-y-for-5m", "a-b-1"}


# -- LICENSE, changelog, upgrade notes ----------------------------------------------------------

def test_license_is_the_apache_2_0_text_in_the_repository_and_the_chart() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "9. Accepting Warranty or Additional Liability." in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
    assert (CHART / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()


def test_the_chart_archive_contains_the_license(tmp_path: Path) -> None:
    helm("package", str(CHART), "--destination", str(tmp_path))
    [archive] = tmp_path.glob("bulletin-*.tgz")
    assert archive.name == f"bulletin-{CHART_META['version']}.tgz"
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        assert {"bulletin/LICENSE", "bulletin/Chart.yaml", "bulletin/values.schema.json",
                "bulletin/crds/bulletin.dev_reportschedules.yaml"} <= names
        member = tar.extractfile("bulletin/LICENSE")
        assert member is not None
        assert member.read() == (ROOT / "LICENSE").read_bytes()
    # The packaged chart is the same chart: it lints and renders.
    out = helm("lint", "--strict", str(archive)).stdout
    assert "0 chart(s) failed" in out


def test_changelog_keeps_a_changelog_with_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/" in text
    headings = re.findall(r"^(#{2,3}) (.+)$", text, flags=re.M)
    assert headings[0] == ("##", "[Unreleased]")
    assert {h for level, h in headings if level == "###"} <= {
        "Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
    assert re.search(r"^\[Unreleased\]: https://", text, flags=re.M)


def test_upgrade_notes_say_crds_first_and_the_changes_to_check() -> None:
    release = (ROOT / "docs" / "release.md").read_text()
    assert "upgrading" in github_anchors(release)
    notes = release.split("## Upgrading", 1)[1].split("\n## ", 1)[0]
    assert "kubectl apply --server-side -f" in notes and "crds/" in notes
    assert "--skip-crds" in notes
    for change in ("runnerPodPolicy", "usable-by-reports", "urlSecretRef", "`endpoint` key",
                   "staggerMinutes"):
        assert change in notes, change


def test_chart_readme_links_resolve() -> None:
    """Relative links of the chart README (shown on Artifact Hub and in the archive) name files
    of the repository, and their anchors exist."""
    readme = CHART / "README.md"
    links = re.findall(r"\]\((\.\./[^)\s]+)\)", readme.read_text())
    assert links
    for link in links:
        path, _, anchor = link.partition("#")
        target = (readme.parent / path).resolve()
        assert target.is_file(), link
        if anchor:
            assert anchor in github_anchors(target.read_text()), link
