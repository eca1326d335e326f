"""End-to-end check of localkube: ``python -m localkube.selftest [--keep] [--workdir W]``.

Starts a ControlPlane and a PodExecutor in a temporary directory and proves that:
a Job's pod gets env from Secrets/ConfigMaps/fieldRefs, reads a mounted Secret through
the rewritten path and talks to the API with its own ServiceAccount token (RBAC allows
one ConfigMap, forbids another: 403); a failing Job ends Failed; a missing Secret fails
a pod; SIGKILL via ``PodExecutor.kill`` and ``activeDeadlineSeconds`` fail pods; the
CronJob controller creates a Job that completes; deleting a namespace removes
everything (running processes included). Prints timings; exit code 0 on success.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .controlplane import ControlPlane
from .executor import PodExecutor, expand, parse_quantity, rewrite_path
from .kube import JSON, ApiError, KubeClient, ns_path

NS = "selftest"
T = TypeVar("T")

# The command line gets kubelet $(VAR) expansion too, hence "$$(" for a literal "$(".
POD_SCRIPT = textwrap.dedent("""
    import os, sys, yaml
    from kubernetes import client, config
    from kubernetes.client import ApiException

    env = os.environ
    ns = env["POD_NAMESPACE"]
    checks = {
        "PASSWORD": "s3cret", "GREETING": "hello", "COMBINED": "hello-world",
        "ESCAPED": "$$(GREETING)", "CREDS_password": "s3cret", "POD_IP": "127.0.0.1",
        "JOB_LABEL": "env-check", "SA": "runner", "NODE": "localkube",
    }
    for key, want in checks.items():
        assert env.get(key) == want, f"{key}={env.get(key)!r}, want {want!r}"
    assert env["POD_NAME"].startswith("env-check-"), env["POD_NAME"]
    assert "MISSING_OPTIONAL" not in env and "KUBERNETES_SERVICE_HOST" not in env
    assert env["SECRET_FILE"].startswith(env["LOCALKUBE_ROOT"]), env["SECRET_FILE"]
    assert open(env["SECRET_FILE"]).read() == "s3cret"
    assert open(sys.argv[1]).read() == "hello", sys.argv
    assert sys.argv[2].startswith("--templates=" + env["LOCALKUBE_ROOT"]), sys.argv
    assert os.getcwd() == env["LOCALKUBE_ROOT"], os.getcwd()
    user = yaml.safe_load(open(env["KUBECONFIG"]))["users"][0]["user"]
    assert set(user) == {"token"}, user

    config.load_kube_config()
    v1 = client.CoreV1Api()
    assert v1.read_namespaced_config_map("allowed", ns).data == {"k": "v"}
    try:
        v1.read_namespaced_config_map("forbidden", ns)
        raise SystemExit("reading the forbidden configmap succeeded")
    except ApiException as e:
        assert e.status == 403, e.status
    print("SELFTEST-OK")
""")

FEATURES_SCRIPT = textwrap.dedent("""
    import base64, json, os, sys, yaml
    init_file, labels, subdir, token_file = sys.argv[1:5]
    assert open(init_file).read().strip() == "init-done"
    assert 'app="features"' in open(labels).read()
    assert os.environ["CFG_greeting"] == "hello"
    assert os.getcwd().endswith("/rootfs/srv/app"), os.getcwd()
    assert os.path.isdir(subdir) and subdir.endswith("/volumes/work/sub"), subdir
    payload = open(token_file).read().split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == ["bulletin-test"], claims
    user = yaml.safe_load(open(os.environ["KUBECONFIG"]))["users"][0]["user"]
    assert not user, user  # automountServiceAccountToken: false -> anonymous
    print("A-OK")
""")


def wait_for(what: str, fn: Callable[[], T | None], timeout: float,
             interval: float = 0.2) -> T:
    """Poll fn until it returns a truthy value; AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} "
                                 f"(last: {last!r})")
        time.sleep(interval)


def job_condition(c: KubeClient, name: str) -> str | None:
    """'Complete' or 'Failed' once the Job has that condition, else None."""
    job = c.get(ns_path(NS, "jobs", name, group="batch"))
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            return str(cond["type"])
    return None


def job_pods(c: KubeClient, job: str) -> list[JSON]:
    """Pods of a Job."""
    return list(c.get(ns_path(NS, "pods"),
                      labelSelector=f"batch.kubernetes.io/job-name={job}")["items"])


def pod_phase(c: KubeClient, name: str) -> str:
    """Phase of a pod."""
    return str(c.get(ns_path(NS, "pods", name)).get("status", {}).get("phase"))


def container(name: str, command: list[str], **extra: object) -> JSON:
    """A container spec; the image is ignored by localkube."""
    return {"name": name, "image": "bulletin-runner:dev", "command": command, **extra}


def job(name: str, cont: JSON, **pod_spec: object) -> JSON:
    """A Job with restartPolicy Never and backoffLimit 0."""
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never", "containers": [cont], **pod_spec}}}}


def pod(name: str, cont: JSON, **pod_spec: object) -> JSON:
    """A bare pod."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [cont], **pod_spec}}


def env_check_job() -> JSON:
    """The Job whose pod checks env, volumes, path rewriting and RBAC."""
    def ref(kind: str, name: str, key: str, optional: bool = False) -> JSON:
        return {kind: {"name": name, "key": key, **({"optional": True} if optional else {})}}

    def field(path: str) -> JSON:
        return {"fieldRef": {"fieldPath": path}}

    env = [
        {"name": "PASSWORD", "valueFrom": ref("secretKeyRef", "creds", "password")},
        {"name": "GREETING", "valueFrom": ref("configMapKeyRef", "settings", "greeting")},
        {"name": "COMBINED", "value": "$(GREETING)-world"},
        {"name": "ESCAPED", "value": "$$(GREETING)"},
        {"name": "MISSING_OPTIONAL",
         "valueFrom": ref("secretKeyRef", "nope", "x", optional=True)},
        {"name": "POD_NAME", "valueFrom": field("metadata.name")},
        {"name": "POD_NAMESPACE", "valueFrom": field("metadata.namespace")},
        {"name": "POD_IP", "valueFrom": field("status.podIP")},
        {"name": "NODE", "valueFrom": field("spec.nodeName")},
        {"name": "SA", "valueFrom": field("spec.serviceAccountName")},
        {"name": "JOB_LABEL",
         "valueFrom": field("metadata.labels['batch.kubernetes.io/job-name']")},
        {"name": "SECRET_FILE", "value": "/etc/creds/password"},
    ]
    cont = container(
        "check", ["python3", "-c", POD_SCRIPT],
        args=["/etc/settings/greet.txt", "--templates=/etc/bulletin/templates"],
        env=env, envFrom=[{"prefix": "CREDS_", "secretRef": {"name": "creds"}}],
        volumeMounts=[{"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
                      {"name": "settings", "mountPath": "/etc/settings"},
                      {"name": "templates", "mountPath": "/etc/bulletin/templates"}])
    return job("env-check", cont, serviceAccountName="runner", volumes=[
        {"name": "creds", "secret": {"secretName": "creds"}},
        {"name": "settings", "configMap": {
            "name": "settings", "items": [{"key": "greeting", "path": "greet.txt"}]}},
        {"name": "templates", "emptyDir": {}},
    ])


def features_pod() -> JSON:
    """Init container, sidecar, two containers, downwardAPI, subPath, workingDir, ..."""
    work = {"name": "work", "mountPath": "/work"}
    a = container(
        "a", ["python3", "-c", FEATURES_SCRIPT],
        args=["/work/init.txt", "/podinfo/labels", "/data", "/var/run/aud/token"],
        workingDir="/srv/app", envFrom=[{"prefix": "CFG_", "configMapRef": {"name": "settings"}}],
        volumeMounts=[work, {"name": "work", "mountPath": "/data", "subPath": "sub"},
                      {"name": "podinfo", "mountPath": "/podinfo"},
                      {"name": "aud", "mountPath": "/var/run/aud"}])
    b = container("b", ["sh", "-c", "echo B-$(GREETING)"], env=[{"name": "GREETING", "valueFrom": {
        "configMapKeyRef": {"name": "settings", "key": "greeting"}}}])
    p = pod("features", a, automountServiceAccountToken=False, initContainers=[
        container("init", ["sh", "-c", 'echo init-done > "$1"', "sh", "/work/init.txt"],
                  volumeMounts=[work]),
        container("sidecar", ["sleep", "600"], restartPolicy="Always"),
    ], volumes=[
        {"name": "work", "emptyDir": {}},
        {"name": "podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"name": "aud", "projected": {"sources": [{"serviceAccountToken": {
            "audience": "bulletin-test", "expirationSeconds": 600, "path": "token"}}]}},
    ])
    p["metadata"]["labels"] = {"app": "features"}
    p["spec"]["containers"].append(b)
    return p


def check_helpers() -> None:
    """Kubelet-compatible $(VAR) expansion, mountPath rewriting, quantities."""
    env = {"A": "1", "B": "x"}
    assert expand("$(A)-$(B)-$(C)-$$(A)-$A-$(", env) == "1-x-$(C)-$(A)-$A-$(", expand
    mounts = [("/etc/bulletin/templates", Path("/L/t")), ("/etc/bulletin", Path("/L/b"))]
    assert rewrite_path("/etc/bulletin/templates/x.j2", mounts) == "/L/t/x.j2"
    assert rewrite_path("/etc/bulletin", mounts) == "/L/b"
    assert rewrite_path("--config=/etc/bulletin/c.yaml", mounts) == "--config=/L/b/c.yaml"
    assert rewrite_path("/etc/bulletinx", mounts) == "/etc/bulletinx"
    assert parse_quantity("100m") * 1000 == 100 and parse_quantity("1Gi") == 2**30


class SelfTest:
    """The checks, run in order against a running control plane and executor."""

    def __init__(self, cp: ControlPlane, ex: PodExecutor) -> None:
        self.cp = cp
        self.ex = ex
        self.c = cp.client()
        self.timings: dict[str, float] = {}

    def step(self, name: str, fn: Callable[[], None]) -> None:
        t = time.monotonic()
        fn()
        self.timings[name] = time.monotonic() - t
        print(f"  ok  {name:<42} {self.timings[name]:6.1f}s", flush=True)

    def create(self, resource: str, body: JSON, group: str = "", version: str = "v1") -> None:
        self.c.create(ns_path(NS, resource, group=group, version=version), body)

    def setup(self) -> None:
        self.c.create("/api/v1/namespaces", {"metadata": {"name": NS}})
        self.create("secrets", {"metadata": {"name": "creds"},
                                "stringData": {"password": "s3cret"}})
        self.create("configmaps", {"metadata": {"name": "settings"},
                                   "data": {"greeting": "hello"}})
        for name in ("allowed", "forbidden"):
            self.create("configmaps", {"metadata": {"name": name}, "data": {"k": "v"}})
        self.create("serviceaccounts", {"metadata": {"name": "runner"}})
        rbac = "rbac.authorization.k8s.io"
        self.create("roles", {"metadata": {"name": "read-allowed"}, "rules": [{
            "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["allowed"],
            "verbs": ["get"]}]}, group=rbac)
        self.create("rolebindings", {
            "metadata": {"name": "read-allowed"},
            "roleRef": {"apiGroup": rbac, "kind": "Role", "name": "read-allowed"},
            "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": NS}]},
            group=rbac)
        wait_for("default serviceaccount", lambda: self.c.exists(
            ns_path(NS, "serviceaccounts", "default")), 30)

    def create_cronjob(self) -> None:
        tmpl = job("unused", container("tick", ["python3", "-c", "print('tick')"]))
        self.create("cronjobs", {"apiVersion": "batch/v1", "kind": "CronJob",
                                 "metadata": {"name": "tick"},
                                 "spec": {"schedule": "* * * * *",
                                          "concurrencyPolicy": "Forbid",
                                          "jobTemplate": {"spec": tmpl["spec"]}}},
                    group="batch")
        self.cron_created = time.monotonic()

    def env_check(self) -> None:
        self.create("jobs", env_check_job(), group="batch")
        cond = wait_for("env-check Job to finish", lambda: job_condition(self.c, "env-check"), 60)
        name = job_pods(self.c, "env-check")[0]["metadata"]["name"]
        out = self.ex.logs(NS, name)
        assert cond == "Complete", f"env-check Job {cond}; pod output:\n{out}"
        assert "SELFTEST-OK" in out, out

    def failing_job(self) -> None:
        self.create("jobs", job("exit3", container(
            "fail", ["python3", "-c", "import sys; print('bye'); sys.exit(3)"])), group="batch")
        cond = wait_for("exit3 Job to finish", lambda: job_condition(self.c, "exit3"), 60)
        assert cond == "Failed", cond
        pods = job_pods(self.c, "exit3")
        term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
        assert term["exitCode"] == 3 and term["reason"] == "Error", term
        assert "bye" in term.get("message", ""), term

    def features(self) -> None:
        self.create("pods", features_pod())
        wait_for("features pod to finish", lambda: pod_phase(self.c, "features") in (
            "Succeeded", "Failed"), 30)
        status = self.c.get(ns_path(NS, "pods", "features"))["status"]
        logs = self.ex.logs(NS, "features")
        assert status["phase"] == "Succeeded", f"{status}\n{logs}"
        assert "A-OK" in logs and "B-hello" in logs, logs
        inits = {c["name"]: c["state"] for c in status["initContainerStatuses"]}
        assert inits["init"]["terminated"]["exitCode"] == 0, inits
        assert "terminated" in inits["sidecar"], inits
        assert not self.ex.is_running(NS, "features")

    def missing_secret(self) -> None:
        self.create("pods", pod("no-secret", container("c", ["true"], env=[
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}])))
        wait_for("no-secret pod to fail", lambda: pod_phase(self.c, "no-secret") == "Failed", 30)
        status = self.c.get(ns_path(NS, "pods", "no-secret"))["status"]
        assert status.get("reason") == "CreateContainerConfigError", status
        assert "absent" in status.get("message", ""), status

    def killed(self) -> None:
        self.create("jobs", job("sleeper", container(
            "sleep", ["python3", "-c", "import time; time.sleep(600)"])), group="batch")
        name = wait_for("sleeper pod to run", lambda: next(
            (p["metadata"]["name"] for p in job_pods(self.c, "sleeper")
             if self.ex.is_running(NS, p["metadata"]["name"])), None), 30)
        assert self.ex.kill(NS, name, signal.SIGKILL)
        cond = wait_for("sleeper Job to fail", lambda: job_condition(self.c, "sleeper"), 30)
        assert cond == "Failed", cond
        term = self.c.get(ns_path(NS, "pods", name))["status"]["containerStatuses"][0][
            "state"]["terminated"]
        assert term["exitCode"] == 137, term

    def deadline(self) -> None:
        self.create("pods", pod("deadline", container(
            "c", ["python3", "-c", "import time; time.sleep(600)"]), activeDeadlineSeconds=2))
        wait_for("deadline pod to fail", lambda: pod_phase(self.c, "deadline") == "Failed", 30)
        status = self.c.get(ns_path(NS, "pods", "deadline"))["status"]
        assert status.get("reason") == "DeadlineExceeded", status
        assert not self.ex.is_running(NS, "deadline")

    def cronjob(self) -> None:
        def completed() -> str | None:
            jobs = self.c.get(ns_path(NS, "jobs", group="batch"))["items"]
            for j in jobs:
                owners = j["metadata"].get("ownerReferences") or []
                if any(o["kind"] == "CronJob" and o["name"] == "tick" for o in owners) and \
                        job_condition(self.c, j["metadata"]["name"]) == "Complete":
                    return str(j["metadata"]["name"])
            return None

        left = 100 - (time.monotonic() - self.cron_created)
        name = wait_for("a Job from CronJob tick to complete", completed, max(left, 5), 1.0)
        pod_name = job_pods(self.c, name)[0]["metadata"]["name"]
        assert "tick" in self.ex.logs(NS, pod_name)

    def delete_namespace(self) -> None:
        self.create("pods", pod("lingerer", container(
            "c", ["python3", "-c", "import time; time.sleep(600)"]),
            terminationGracePeriodSeconds=30))
        wait_for("lingerer to run", lambda: self.ex.is_running(NS, "lingerer"), 30)
        self.c.delete(f"/api/v1/namespaces/{NS}")
        wait_for("namespace to disappear",
                 lambda: not self.c.exists(f"/api/v1/namespaces/{NS}"), 90, 0.5)
        assert not self.ex.is_running(NS, "lingerer")
        assert not self.ex.running_pods(), self.ex.running_pods()

    def diagnose(self) -> None:
        """Print pod states and outputs after a failure."""
        try:
            for p in self.c.get(ns_path(NS, "pods"))["items"]:
                name = p["metadata"]["name"]
                st = p.get("status") or {}
                print(f"--- pod {name}: {st.get('phase')} {st.get('reason') or ''} "
                      f"{st.get('message') or ''}\n{self.ex.logs(NS, name)[-2000:]}")
        except (ApiError, OSError) as e:
            print(f"(no diagnostics: {e})")

    def run(self) -> None:
        self.step("namespace, secret, configmaps, SA, RBAC", self.setup)
        self.step("create CronJob (checked later)", self.create_cronjob)
        self.step("Job: env, volumes, paths, token + RBAC", self.env_check)
        self.step("Job exiting 3 -> Failed", self.failing_job)
        self.step("init/sidecar/2 containers/volumes pod", self.features)
        self.step("missing Secret -> pod Failed", self.missing_secret)
        self.step("SIGKILL via kill() -> Job Failed", self.killed)
        self.step("activeDeadlineSeconds -> DeadlineExceeded", self.deadline)
        self.step("CronJob -> Job created and Complete", self.cronjob)
        self.step("namespace deletion (with running pod)", self.delete_namespace)


def main(argv: list[str] | None = None) -> int:
    """Run the self test; 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m localkube.selftest")
    parser.add_argument("--workdir", type=Path, help="use this dir instead of a temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="localkube-selftest-"))
    t0 = time.monotonic()
    cp = ControlPlane(workdir / "controlplane")
    ex: PodExecutor | None = None
    ok = False
    test: SelfTest | None = None
    try:
        check_helpers()
        print("  ok  helpers (expansion, path rewriting, quantities)", flush=True)
        cp.bin_dir  # noqa: B018 - build (or find) binaries before timing the start
        cp.start()
        print(f"control plane started in {cp.start_seconds:.1f}s "
              f"({', '.join(f'{k} {v:.1f}s' for k, v in cp.timings.items())})", flush=True)
        ex = PodExecutor(cp.kubeconfig, workdir / "executor")
        ex.start()
        test = SelfTest(cp, ex)
        test.run()
        ok = True
    except Exception as e:
        print(f"FAILED: {type(e).__name__}: {e}", flush=True)
        if test is not None:
            test.diagnose()
    finally:
        if ex is not None:
            ex.stop()
        cp.stop()
        if ok and not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"workdir kept: {workdir}")
    print(f"{'selftest passed' if ok else 'selftest FAILED'} in {time.monotonic() - t0:.1f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
