"""Local pod executor: a stand-in for kube-scheduler + kubelet, for dev/test tooling only.

There is no kubelet and no container runtime. ``PodExecutor`` registers a Node
(``localkube``), binds every unscheduled pod to it (pods/binding), and runs the pods
bound to it as plain local processes:

* **Images are ignored.** A container's ``command`` + ``args`` are executed directly and
  resolved on ``PATH`` (the executor's Python ``bin`` directory comes first). So the
  runner image's command (e.g. ``bulletin-runner``) is the console script installed in
  the local Python environment. An absolute command that does not exist locally is
  looked up by its basename. A container without ``command`` fails the pod (there is
  no image entrypoint to fall back to).
* **Environment** is built from scratch: ``PATH``, ``LANG`` and ``PYTHONPATH`` (when set)
  from the executor, ``HOME`` pointing to a per-pod directory (so nothing like
  ``~/.kube/config`` leaks in), ``HOSTNAME``, then the container's ``envFrom`` and
  ``env`` (literal values with kubelet-style ``$(VAR)`` expansion, ``secretKeyRef``,
  ``configMapKeyRef`` honouring ``optional``, ``fieldRef``, ``resourceFieldRef``). A
  missing non-optional Secret/ConfigMap/key fails the pod (reason
  ``CreateContainerConfigError``) instead of retrying like a kubelet would.
* **API access**: a real token for the pod's ServiceAccount is requested with the
  TokenRequest API (bound to the pod, 1h, refreshed) and written into a per-pod
  kubeconfig; ``KUBECONFIG`` points to it. ``KUBERNETES_SERVICE_HOST`` is *not* set, so
  clients fall back to the kubeconfig and RBAC applies for real. The executor's own
  (admin) credentials never reach the process. When automounting is disabled (pod or
  ServiceAccount ``automountServiceAccountToken: false``) the kubeconfig is anonymous.
* **Volumes** ``secret``, ``configMap`` (with ``items``), ``emptyDir``, ``downwardAPI``
  and ``projected`` (secret, configMap, downwardAPI, serviceAccountToken) are
  materialized under ``<workdir>/pods/<ns>_<name>_<uid>/volumes/<volume>/``; other
  volume types become empty directories. Since a process cannot see container paths,
  every env value, command element and arg that starts with a volumeMount's
  ``mountPath`` (also in ``--flag=/path`` form) is rewritten to the local directory
  (``subPath`` honoured). ``LOCALKUBE_ROOT`` is the pod root and ``LOCALKUBE_MOUNTS`` a
  JSON map of mountPath -> local directory, for code that builds paths itself.
  ``workingDir`` is mapped the same way (else ``<root>/rootfs/<workingDir>``); without
  one the process runs in the pod root.
* **Lifecycle**: init containers run one after another (``restartPolicy: Always``
  sidecars are started and left running), then all main containers concurrently. The
  pod ends ``Succeeded`` when every main container exits 0, else ``Failed``;
  ``restartPolicy`` ``Never`` and ``OnFailure`` are treated the same: nothing restarts
  in place (the Job controller creates new pods, as it does with ``Never``).
  ``activeDeadlineSeconds`` kills the pod (reason ``DeadlineExceeded``). Deletion sends
  SIGTERM to the process group, SIGKILL after ``terminationGracePeriodSeconds`` (capped
  at 5s), reports the terminal phase and deletes the pod with grace period 0 like a
  kubelet, so finalizers such as ``batch.kubernetes.io/job-tracking`` get released.
* **Logs**: stdout+stderr of each container go to ``<pod root>/logs/<container>.log``;
  see ``PodExecutor.logs``. ``kubectl logs`` does not work (no kubelet API).

Every child process gets SIGKILL if the executor dies (PR_SET_PDEATHSIG); each
container runs in its own session/process group, which is what gets signalled.

Run standalone: ``python -m localkube.executor --kubeconfig K --workdir W``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import json
import logging
import math
import os
import re
import shutil
import signal
import sys
import sysconfig
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from ._proc import Popen, signal_proc, spawn, tail
from .kube import JSON, ApiError, Credentials, KubeClient, Watch, ns_path

log = logging.getLogger("localkube.executor")

POD_IP = "127.0.0.1"
TERMINAL_PHASES = ("Succeeded", "Failed")
TOKEN_SECONDS = 3600
MESSAGE_BYTES = 1024


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PodConfigError(Exception):
    """The pod cannot be started; it is marked Failed with this reason and message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class _MissingObject(PodConfigError):
    """A referenced Secret/ConfigMap/key does not exist (yet)."""


# ----------------------------------------------------------------------------- helpers
def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubelet's $(VAR) expansion: known vars replaced, ``$$`` escapes, unknown kept."""
    out: list[str] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] == "$" and i + 1 < n:
            nxt = value[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = value.find(")", i + 2)
                if end != -1:
                    name = value[i + 2:end]
                    out.append(env[name] if name in env else value[i:end + 1])
                    i = end + 1
                    continue
        out.append(value[i])
        i += 1
    return "".join(out)


_SUFFIXES: dict[str, int | Decimal] = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": 1,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}


def parse_quantity(q: str | int | float) -> Decimal:
    """Parse a Kubernetes resource quantity ("100m", "1Gi", "2e3") into a Decimal."""
    s = str(q).strip()
    m = re.fullmatch(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([A-Za-z]*)", s)
    if not m or m.group(2) not in _SUFFIXES:
        raise ValueError(f"invalid quantity {q!r}")
    return Decimal(m.group(1)) * Decimal(_SUFFIXES[m.group(2)])


def rewrite_path(value: str, mounts: list[tuple[str, Path]]) -> str:
    """Map a container path under a mountPath to its local directory (else unchanged)."""
    for mount_path, local in mounts:
        mp = mount_path.rstrip("/")
        if value == mp or value.startswith(mp + "/"):
            return str(local) + value[len(mp):]
    if value.startswith("-") and "=" in value:
        flag, _, rest = value.partition("=")
        new = rewrite_path(rest, mounts)
        if new != rest:
            return f"{flag}={new}"
    return value


def _b64(data: str) -> bytes:
    return base64.b64decode(data)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _node_memory_kib() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 8 * 1024 * 1024


# --------------------------------------------------------------------------- containers
@dataclass
class _Container:
    """One container of a pod run, and what happened to it."""

    name: str
    spec: JSON
    log: Path
    init: bool = False
    sidecar: bool = False
    proc: Popen | None = None
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    waiting: tuple[str, str] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.exit_code is None

    def poll(self) -> bool:
        """Record the exit if the process has ended; True once terminated."""
        if self.exit_code is not None:
            return True
        if self.proc is None or self.proc.poll() is None:
            return False
        self.finish(_exit_code(self.proc.returncode))
        return True

    def finish(self, code: int, reason: str | None = None, message: str | None = None) -> None:
        self.exit_code = code
        self.finished_at = _now()
        self.reason = reason or ("Completed" if code == 0 else "Error")
        if message is None and code != 0:  # like FallbackToLogsOnError, for every container
            message = tail(self.log, MESSAGE_BYTES) or None
        self.message = message

    def status(self, pod_ready: bool) -> JSON:
        state: JSON = {"waiting": None, "running": None, "terminated": None}
        if self.exit_code is not None:
            term: JSON = {"exitCode": self.exit_code, "reason": self.reason,
                          "startedAt": self.started_at or self.finished_at,
                          "finishedAt": self.finished_at}
            if self.message:
                term["message"] = self.message
            if self.proc is not None:
                term["containerID"] = f"localkube://{self.proc.pid}"
            state["terminated"] = term
        elif self.proc is not None:
            state["running"] = {"startedAt": self.started_at}
        else:
            reason, message = self.waiting or ("PodInitializing" if not self.init
                                               else "ContainerCreating", "")
            state["waiting"] = {"reason": reason, **({"message": message} if message else {})}
        image = str(self.spec.get("image") or "localkube")
        st: JSON = {
            "name": self.name, "image": image, "imageID": f"localkube://{image}",
            "restartCount": 0, "state": state, "lastState": {},
            "ready": bool(self.running and (pod_ready or self.sidecar)),
            "started": self.running,
        }
        if self.proc is not None:
            st["containerID"] = f"localkube://{self.proc.pid}"
        return st


# ------------------------------------------------------------------------------ pod run
class _PodRun:
    """Runs one pod in its own thread, from volumes to the final status."""

    def __init__(self, executor: PodExecutor, pod: JSON) -> None:
        self.ex = executor
        self.pod = pod
        meta = pod["metadata"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.spec: JSON = pod.get("spec") or {}
        self.root = executor.workdir / "pods" / f"{self.namespace}_{self.name}_{self.uid}"
        self.started = time.monotonic()
        self.start_time = _now()
        self.containers: list[_Container] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._delete_requested = False
        self._gone = False  # the pod object no longer exists
        self._grace = 0.0
        self._closed = False
        self._cache: dict[tuple[str, str], JSON | None] = {}
        self._tokens: list[tuple[Path, list[str] | None, int, float]] = []
        self._kubeconfig_token_expiry = 0.0
        self._automount = True
        self.argv: dict[str, list[str]] = {}
        self.envs: dict[str, dict[str, str]] = {}
        self.cwds: dict[str, Path] = {}
        self.thread = threading.Thread(target=self._main, daemon=True,
                                       name=f"pod-{self.namespace}/{self.name}")

    # -- control from other threads
    def request_delete(self, grace: float, gone: bool = False) -> bool:
        """Ask the run to stop for a deletion; False if it already finished (caller deletes)."""
        with self._lock:
            if self._closed:
                return False
            if not self._delete_requested or grace < self._grace:
                self._grace = grace
            self._delete_requested = True
            self._gone = self._gone or gone
        self._wake.set()
        return True

    def signal(self, sig: int) -> bool:
        """Signal the process groups of all running containers."""
        hit = False
        for c in self.containers:
            if c.proc is not None and c.proc.poll() is None:
                signal_proc(c.proc, sig, group=True)
                hit = True
        self._wake.set()
        return hit

    def kill_now(self) -> None:
        """SIGKILL everything (executor shutdown)."""
        self.signal(signal.SIGKILL)

    @property
    def active(self) -> bool:
        return any(c.running for c in self.containers)

    # -- API helpers
    def _get(self, resource: str, name: str) -> JSON | None:
        key = (resource, name)
        if key not in self._cache:
            try:
                self._cache[key] = self.ex.client.get(ns_path(self.namespace, resource, name))
            except ApiError as e:
                if e.status != 404:
                    raise
                self._cache[key] = None
        return self._cache[key]

    def _patch_status(self, status: JSON, attempts: int = 8) -> None:
        path = ns_path(self.namespace, "pods", self.name, sub="status")
        body = {"metadata": {"uid": self.uid}, "status": status}
        for attempt in range(attempts):
            if self.ex.stopping.is_set() or self._gone:
                return
            try:
                self.ex.client.patch(path, body)
                return
            except ApiError as e:
                if e.status in (404, 409):  # gone, or replaced by a pod with another uid
                    self._gone = True
                    return
                log.warning("%s/%s: status update failed: %s", self.namespace, self.name, e)
            except OSError as e:
                log.warning("%s/%s: status update failed: %s", self.namespace, self.name, e)
            self.ex.stopping.wait(min(0.2 * 2**attempt, 3.0))

    def _request_token(self, audiences: list[str] | None, seconds: int) -> str:
        sa = self.spec.get("serviceAccountName") or "default"
        spec: JSON = {"expirationSeconds": seconds, "boundObjectRef": {
            "kind": "Pod", "apiVersion": "v1", "name": self.name, "uid": self.uid}}
        if audiences:
            spec["audiences"] = audiences
        try:
            res = self.ex.client.create(
                ns_path(self.namespace, "serviceaccounts", sa, sub="token"),
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
        except ApiError as e:
            raise PodConfigError("CreateContainerConfigError",
                                 f"cannot get a token for serviceaccount {sa!r}: {e}") from e
        return str(res["status"]["token"])

    # -- preparation
    def _value_from(self, vf: JSON, container: JSON) -> str | None:
        for kind, resource, decode in (("secretKeyRef", "secrets", True),
                                       ("configMapKeyRef", "configmaps", False)):
            if kind not in vf:
                continue
            ref = vf[kind]
            what = "secret" if decode else "configmap"
            obj = self._get(resource, ref.get("name", ""))
            if obj is None:
                if ref.get("optional"):
                    return None
                raise _MissingObject("CreateContainerConfigError",
                                     f'{what} "{ref.get("name")}" not found')
            data = obj.get("data") or {}
            if ref["key"] not in data:
                if ref.get("optional"):
                    return None
                raise _MissingObject("CreateContainerConfigError",
                                     f"couldn't find key {ref['key']} in {what} "
                                     f"{self.namespace}/{ref.get('name')}")
            raw = data[ref["key"]]
            return _b64(raw).decode(errors="replace") if decode else str(raw)
        if "fieldRef" in vf:
            return self._field(vf["fieldRef"]["fieldPath"])
        if "resourceFieldRef" in vf:
            return self._resource_field(vf["resourceFieldRef"], container.get("name", ""))
        raise PodConfigError("CreateContainerConfigError", f"unsupported valueFrom {vf}")

    def _field(self, path: str) -> str:
        meta = self.pod["metadata"]
        m = re.fullmatch(r"metadata\.(labels|annotations)\['(.*)'\]", path)
        if m:
            return str((meta.get(m.group(1)) or {}).get(m.group(2), ""))
        if path in ("metadata.labels", "metadata.annotations"):
            items = sorted((meta.get(path.split(".")[1]) or {}).items())
            return "\n".join(f"{k}={json.dumps(v)}" for k, v in items)
        values = {
            "metadata.name": self.name, "metadata.namespace": self.namespace,
            "metadata.uid": self.uid,
            "spec.nodeName": self.ex.node_name,
            "spec.serviceAccountName": self.spec.get("serviceAccountName") or "default",
            "status.podIP": POD_IP, "status.podIPs": POD_IP,
            "status.hostIP": POD_IP, "status.hostIPs": POD_IP,
        }
        if path not in values:
            raise PodConfigError("CreateContainerConfigError", f"unsupported fieldPath {path}")
        return values[path]

    def _resource_field(self, ref: JSON, default_container: str) -> str:
        cname = ref.get("containerName") or default_container
        container = next((c for c in self._all_specs() if c.get("name") == cname), {})
        kind, _, res = str(ref.get("resource", "")).partition(".")
        value = ((container.get("resources") or {}).get(kind) or {}).get(res)
        if value is None:
            value = self.ex.allocatable.get(res, "0") if kind == "limits" else "0"
        divisor = parse_quantity(ref.get("divisor") or "1")
        return str(math.ceil(parse_quantity(value) / divisor))

    def _all_specs(self) -> list[JSON]:
        return list(self.spec.get("initContainers") or []) + list(
            self.spec.get("containers") or [])

    def _write_items(self, target: Path, data: Mapping[str, bytes], items: list[JSON] | None,
                     mode: int | None, optional: bool, what: str) -> None:
        if items:
            for item in items:
                if item["key"] not in data:
                    if optional:
                        continue
                    raise _MissingObject("FailedMount", f"{what}: key {item['key']} not found")
                self._write_file(target / item["path"], data[item["key"]],
                                 item.get("mode", mode))
        else:
            for key, value in data.items():
                self._write_file(target / key, value, mode)

    @staticmethod
    def _write_file(path: Path, data: bytes, mode: int | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode if mode is not None else 0o644)

    def _object_data(self, resource: str, name: str, optional: bool) -> dict[str, bytes] | None:
        obj = self._get(resource, name)
        if obj is None:
            if optional:
                return None
            raise _MissingObject("FailedMount", f'{resource[:-1]} "{name}" not found')
        if resource == "secrets":
            return {k: _b64(v) for k, v in (obj.get("data") or {}).items()}
        data = {k: str(v).encode() for k, v in (obj.get("data") or {}).items()}
        data.update({k: _b64(v) for k, v in (obj.get("binaryData") or {}).items()})
        return data

    def _fill_source(self, target: Path, kind: str, src: JSON, mode: int | None) -> None:
        if kind == "secret" or kind == "configMap":
            resource = "secrets" if kind == "secret" else "configmaps"
            name = src.get("secretName") or src.get("name") or ""
            optional = bool(src.get("optional"))
            data = self._object_data(resource, name, optional)
            if data is not None:
                self._write_items(target, data, src.get("items"), src.get("defaultMode", mode),
                                  optional, f"{kind} {name}")
        elif kind == "downwardAPI":
            for item in src.get("items") or []:
                if "fieldRef" in item:
                    value = self._field(item["fieldRef"]["fieldPath"])
                else:
                    value = self._resource_field(item.get("resourceFieldRef") or {}, "")
                self._write_file(target / item["path"], value.encode(),
                                 item.get("mode", src.get("defaultMode", mode)))
        elif kind == "serviceAccountToken":
            seconds = int(src.get("expirationSeconds") or TOKEN_SECONDS)
            audiences = [src["audience"]] if src.get("audience") else None
            path = target / src["path"]
            self._write_file(path, self._request_token(audiences, seconds).encode(), mode)
            self._tokens.append((path, audiences, seconds, time.monotonic() + seconds * 0.8))
        else:
            log.warning("%s/%s: unsupported projected source %s ignored",
                        self.namespace, self.name, kind)

    def _volumes(self) -> dict[str, Path]:
        dirs: dict[str, Path] = {}
        for vol in self.spec.get("volumes") or []:
            name = vol["name"]
            target = self.root / "volumes" / name
            target.mkdir(parents=True, exist_ok=True)
            dirs[name] = target
            if "projected" in vol:
                proj = vol["projected"]
                for source in proj.get("sources") or []:
                    for kind, src in source.items():
                        self._fill_source(target, kind, src, proj.get("defaultMode"))
            elif "secret" in vol or "configMap" in vol or "downwardAPI" in vol:
                kind = next(k for k in ("secret", "configMap", "downwardAPI") if k in vol)
                self._fill_source(target, kind, vol[kind], None)
            elif "emptyDir" not in vol:
                kinds = [k for k in vol if k != "name"]
                log.warning("%s/%s: volume %s (%s) is an empty directory here",
                            self.namespace, self.name, name, ",".join(kinds))
        return dirs

    def _mounts(self, spec: JSON, volumes: Mapping[str, Path],
                env: Mapping[str, str]) -> list[tuple[str, Path]]:
        mounts: list[tuple[str, Path]] = []
        for m in spec.get("volumeMounts") or []:
            if m.get("name") not in volumes or m.get("mountPath", "/").rstrip("/") == "":
                continue
            local = volumes[m["name"]]
            sub = m.get("subPath") or (expand(m["subPathExpr"], env)
                                       if m.get("subPathExpr") else "")
            if sub:
                local = local / sub
                if not local.exists():
                    local.mkdir(parents=True, exist_ok=True)
            mounts.append((m["mountPath"], local))
        return sorted(mounts, key=lambda mp: len(mp[0]), reverse=True)

    def _env(self, spec: JSON, base: Mapping[str, str]) -> dict[str, str]:
        defined: dict[str, str] = {}
        for src in spec.get("envFrom") or []:
            prefix = src.get("prefix", "")
            for kind, resource in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
                if kind not in src:
                    continue
                ref = src[kind]
                obj = self._get(resource, ref.get("name", ""))
                if obj is None:
                    if ref.get("optional"):
                        continue
                    raise _MissingObject("CreateContainerConfigError",
                                         f'{resource[:-1]} "{ref.get("name")}" not found')
                for key, value in (obj.get("data") or {}).items():
                    if "=" not in key:
                        defined[prefix + key] = (_b64(value).decode(errors="replace")
                                                 if resource == "secrets" else str(value))
        for item in spec.get("env") or []:
            if "valueFrom" in item:
                value = self._value_from(item["valueFrom"], spec)
                if value is None:
                    continue
            else:
                value = expand(str(item.get("value", "")), {**base, **defined})
            defined[item["name"]] = value
        return {**base, **defined}

    def _write_kubeconfig(self) -> None:
        user: JSON = {}
        if self._automount:
            user = {"token": self._request_token(None, TOKEN_SECONDS)}
            self._kubeconfig_token_expiry = time.monotonic() + TOKEN_SECONDS * 0.8
        cfg = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "localkube", "cluster": {
                "server": self.ex.creds.server,
                "certificate-authority": str(self.root / "ca.crt")}}],
            "users": [{"name": "pod", "user": user}],
            "contexts": [{"name": "localkube", "context": {
                "cluster": "localkube", "user": "pod", "namespace": self.namespace}}],
            "current-context": "localkube",
        }
        tmp = self.root / "kubeconfig.tmp"
        tmp.write_text(yaml.safe_dump(cfg, sort_keys=False))
        tmp.chmod(0o600)
        tmp.replace(self.root / "kubeconfig")

    def _refresh_tokens(self) -> None:
        now = time.monotonic()
        if self._automount and now > self._kubeconfig_token_expiry:
            self._write_kubeconfig()
        for i, (path, auds, seconds, due) in enumerate(self._tokens):
            if now > due:
                self._write_file(path, self._request_token(auds, seconds).encode(), None)
                self._tokens[i] = (path, auds, seconds, now + seconds * 0.8)

    def _prepare(self) -> None:
        """Directories, credentials, volumes and per-container argv/env/cwd."""
        for sub in ("logs", "volumes", "home", "rootfs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "pod.json").write_text(json.dumps(self.pod, indent=1))
        if self.ex.creds.ca_file:
            shutil.copyfile(self.ex.creds.ca_file, self.root / "ca.crt")
        sa_name = self.spec.get("serviceAccountName") or "default"
        automount = self.spec.get("automountServiceAccountToken")
        if automount is None:
            sa = self._get("serviceaccounts", sa_name) or {}
            automount = sa.get("automountServiceAccountToken")
        self._automount = automount is not False
        self._write_kubeconfig()

        deadline = time.monotonic() + self.ex.volume_wait
        while True:  # like kubelet, wait a little for referenced objects to appear
            try:
                volumes = self._volumes()
                break
            except _MissingObject:
                if time.monotonic() > deadline or self._delete_requested:
                    raise
                self._cache.clear()
                self.ex.stopping.wait(0.5)

        init = [(c, True) for c in self.spec.get("initContainers") or []]
        main = [(c, False) for c in self.spec.get("containers") or []]
        for spec, is_init in init + main:
            c = _Container(name=spec["name"], spec=spec, init=is_init,
                           sidecar=is_init and spec.get("restartPolicy") == "Always",
                           log=self.root / "logs" / f"{spec['name']}.log")
            self.containers.append(c)

        for c in self.containers:
            base = self.ex.base_env(self)
            env0 = self._env(c.spec, base)
            mounts = self._mounts(c.spec, volumes, env0)
            # Only the container's own values name container paths; the executor's (HOME,
            # KUBECONFIG, PATH, ...) are host paths, which may happen to share a prefix.
            env = {k: v if k in base and base[k] == v else rewrite_path(v, mounts)
                   for k, v in env0.items()}
            env["LOCALKUBE_MOUNTS"] = json.dumps({mp: str(p) for mp, p in mounts})
            command = [str(x) for x in c.spec.get("command") or []]
            if not command:
                raise PodConfigError(
                    "CreateContainerError",
                    f"container {c.name!r} has no command: localkube cannot run the image "
                    f"entrypoint of {c.spec.get('image')!r}; set command explicitly")
            argv = [rewrite_path(expand(a, env), mounts)
                    for a in command + [str(x) for x in c.spec.get("args") or []]]
            working = c.spec.get("workingDir")
            if working:
                mapped = rewrite_path(working, mounts)
                if mapped == working:  # not under a volume: a directory in the pod's "rootfs"
                    mapped = str(self.root / "rootfs" / working.lstrip("/"))
                cwd = Path(mapped)
                cwd.mkdir(parents=True, exist_ok=True)
            else:
                cwd = self.root
            self.argv[c.name], self.envs[c.name], self.cwds[c.name] = argv, env, cwd

    # -- running
    def _status(self, phase: str, reason: str | None = None, message: str | None = None,
                initialized: bool = True) -> JSON:
        ready = phase == "Running" and all(
            c.running for c in self.containers if not c.init)
        t = _now()

        def cond(kind: str, ok: bool, why: str | None = None) -> JSON:
            # reason is always sent: a strategic merge would otherwise keep a stale one
            return {"type": kind, "status": "True" if ok else "False", "reason": why,
                    "lastProbeTime": None, "lastTransitionTime": t}

        not_ready = "PodCompleted" if phase in TERMINAL_PHASES else "ContainersNotReady"
        status: JSON = {
            "phase": phase, "hostIP": POD_IP, "hostIPs": [{"ip": POD_IP}],
            "podIP": POD_IP, "podIPs": [{"ip": POD_IP}], "startTime": self.start_time,
            "conditions": [
                cond("PodReadyToStartContainers", phase not in TERMINAL_PHASES),
                cond("Initialized", initialized,
                     None if initialized else "ContainersNotInitialized"),
                cond("ContainersReady", ready, None if ready else not_ready),
                cond("Ready", ready, None if ready else not_ready),
                cond("PodScheduled", True),
            ],
            "containerStatuses": [c.status(ready) for c in self.containers if not c.init],
            "initContainerStatuses": [c.status(ready) for c in self.containers if c.init],
            "reason": reason, "message": message,
        }
        if not status["initContainerStatuses"]:
            del status["initContainerStatuses"]
        return status

    def _launch(self, c: _Container) -> bool:
        argv = self.argv[c.name]
        env = self.envs[c.name]
        exe: str | None = argv[0]
        if exe and "/" in exe and not os.access(exe, os.X_OK):
            exe = os.path.basename(exe)  # container path: look the tool up locally
        if exe and "/" not in exe:
            exe = shutil.which(exe, path=env.get("PATH", ""))
        c.started_at = _now()
        if not exe:
            c.log.write_text(f'exec: "{argv[0]}": executable file not found in $PATH\n')
            c.finish(128, "StartError",
                     f'exec: "{argv[0]}": executable file not found in $PATH (localkube runs '
                     "commands on the host PATH)")
            return False
        try:
            c.proc = spawn([exe, *argv[1:]], log=c.log, cwd=self.cwds[c.name], env=env,
                           new_session=True)
        except OSError as e:
            c.finish(128, "StartError", f"cannot start {argv[0]}: {e}")
            return False
        log.info("%s/%s: started %s (pid %d)", self.namespace, self.name, c.name, c.proc.pid)
        return True

    def _terminate(self, grace: float) -> None:
        """SIGTERM all running containers, SIGKILL whatever is left after grace seconds."""
        live = [c for c in self.containers if c.running]
        for c in live:
            assert c.proc is not None
            signal_proc(c.proc, signal.SIGTERM, group=True)
        deadline = time.monotonic() + grace
        for c in live:
            assert c.proc is not None
            with contextlib.suppress(Exception):
                c.proc.wait(max(0.0, deadline - time.monotonic()))
        for c in live:
            assert c.proc is not None
            signal_proc(c.proc, signal.SIGKILL, group=True)
            c.proc.wait()
            c.poll()

    def _wait_containers(self, containers: list[_Container]) -> str | None:
        """Wait for containers to exit; return 'deleted'/'deadline' if interrupted."""
        deadline_s = self.spec.get("activeDeadlineSeconds")
        while True:
            if all(c.poll() for c in containers):
                return None
            if self._delete_requested or self.ex.stopping.is_set():
                return "deleted"
            if deadline_s is not None and time.monotonic() - self.started > float(deadline_s):
                return "deadline"
            try:
                self._refresh_tokens()
            except Exception as e:
                log.warning("%s/%s: token refresh failed: %s", self.namespace, self.name, e)
            self._wake.wait(0.1)
            self._wake.clear()

    def _main(self) -> None:
        try:
            self._run()
        except Exception:
            log.exception("%s/%s: executor error", self.namespace, self.name)
            with contextlib.suppress(Exception):
                self._terminate(0)
                self._patch_status(self._status("Failed", "ExecutorError",
                                                "localkube executor error, see its log"))
        finally:
            with self._lock:
                self._closed = True
            if self._delete_requested and not self._gone and not self.ex.stopping.is_set():
                self.ex.delete_now(self.namespace, self.name, self.uid)

    def _run(self) -> None:
        try:
            self._prepare()
        except PodConfigError as e:
            log.warning("%s/%s: %s: %s", self.namespace, self.name, e.reason, e.message)
            for c in self.containers:
                c.waiting = (e.reason, e.message)
            self._patch_status(self._status("Failed", e.reason, e.message, initialized=False))
            return
        self._patch_status(self._status("Pending", initialized=not any(
            c.init for c in self.containers)))

        outcome: str | None = None
        failed: _Container | None = None
        for c in [c for c in self.containers if c.init]:
            if self._delete_requested or self.ex.stopping.is_set():
                outcome = "deleted"
                break
            if not self._launch(c):
                failed = c
                break
            self._patch_status(self._status("Pending", initialized=False))
            if c.sidecar:
                continue
            outcome = self._wait_containers([c])
            if outcome or c.exit_code != 0:
                failed = None if outcome else c
                break

        mains = [c for c in self.containers if not c.init]
        if outcome is None and failed is None and (
                self._delete_requested or self.ex.stopping.is_set()):
            outcome = "deleted"
        if outcome is None and failed is None:
            for c in mains:
                self._launch(c)
            self._patch_status(self._status("Running"))
            outcome = self._wait_containers(mains)

        reason = message = None
        if outcome == "deadline":
            reason = "DeadlineExceeded"
            message = "Pod was active on the node longer than the specified deadline"
            self._terminate(self.ex.max_grace)
        elif outcome == "deleted":
            self._terminate(0 if self.ex.stopping.is_set() else self._grace)
        self._terminate(self.ex.max_grace if outcome is None else 0)  # sidecars
        for c in mains:
            c.poll()
        ok = failed is None and outcome != "deadline" and bool(mains) and all(
            c.exit_code == 0 for c in mains)
        phase = "Succeeded" if ok else "Failed"
        if failed is not None and failed.init:
            message = message or f"init container {failed.name} failed"
        log.info("%s/%s: %s%s", self.namespace, self.name, phase, f" ({reason})" if reason else "")
        self._patch_status(self._status(phase, reason, message))


# ----------------------------------------------------------------------------- executor
@dataclass
class _Stats:
    bound: int = 0
    started: int = 0
    deleted: int = 0


class PodExecutor:
    """Schedules pods onto one local Node and runs them as processes (see module doc)."""

    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        *,
        node_name: str = "localkube",
        resync_seconds: int = 10,
        max_grace: float = 5.0,
        volume_wait: float = 15.0,
    ) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.workdir = Path(workdir).resolve()
        self.node_name = node_name
        self.resync_seconds = resync_seconds
        self.max_grace = max_grace
        self.volume_wait = volume_wait
        self.creds = Credentials.from_kubeconfig(self.kubeconfig)
        self.client = KubeClient(self.creds)
        self.stopping = threading.Event()
        self.stats = _Stats()
        cpus = os.cpu_count() or 1
        self.allocatable = {
            "cpu": str(cpus), "memory": f"{_node_memory_kib()}Ki", "pods": "110",
            "ephemeral-storage": str(shutil.disk_usage(_existing(self.workdir)).total),
        }
        self._runs: dict[str, _PodRun] = {}
        self._by_name: dict[tuple[str, str], str] = {}
        self._inflight: set[str] = set()
        self._deleted: set[str] = set()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._threads: list[threading.Thread] = []
        self._watch: Watch | None = None
        scripts = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
        path = [p for p in dict.fromkeys(scripts) if p] + os.environ.get(
            "PATH", os.defpath).split(os.pathsep)
        self._host_env = {"PATH": os.pathsep.join(dict.fromkeys(path)),
                          "LANG": os.environ.get("LANG", "C.UTF-8")}
        if os.environ.get("PYTHONPATH"):
            self._host_env["PYTHONPATH"] = os.environ["PYTHONPATH"]

    def __enter__(self) -> PodExecutor:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def base_env(self, run: _PodRun) -> dict[str, str]:
        """Environment every container starts from (before its own env)."""
        return {**self._host_env, "HOME": str(run.root / "home"), "HOSTNAME": run.name,
                "KUBECONFIG": str(run.root / "kubeconfig"), "LOCALKUBE_ROOT": str(run.root)}

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Register the node and start watching pods in background threads."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.stopping.clear()
        self._register_node()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="localkube-exec")
        for target, name in ((self._watch_loop, "localkube-watch"),
                             (self._heartbeat_loop, "localkube-heartbeat")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        log.info("executor running node %s (workdir %s)", self.node_name, self.workdir)

    def stop(self) -> None:
        """Stop watching and SIGKILL every running pod process (no status updates)."""
        self.stopping.set()
        if self._watch is not None:
            self._watch.close()  # an open watch would delay the apiserver's shutdown
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.kill_now()
        for run in runs:
            run.thread.join(timeout=10)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        for t in self._threads:
            t.join(timeout=1)
        self._threads.clear()

    # ------------------------------------------------------------------ helpers
    def _run_for(self, namespace: str, name: str) -> _PodRun | None:
        with self._lock:
            uid = self._by_name.get((namespace, name))
            return self._runs.get(uid) if uid else None

    def pod_root(self, namespace: str, name: str) -> Path | None:
        """Local root dir of the most recent run of a pod (None if never run here)."""
        run = self._run_for(namespace, name)
        if run is not None:
            return run.root
        found = sorted((self.workdir / "pods").glob(f"{namespace}_{name}_*"),
                       key=lambda p: p.stat().st_mtime)
        return found[-1] if found else None

    def log_path(self, namespace: str, name: str, container: str | None = None) -> Path | None:
        """Log file of a container (the only/first main container by default)."""
        root = self.pod_root(namespace, name)
        if root is None:
            return None
        if container is None:
            run = self._run_for(namespace, name)
            mains = [c.name for c in run.containers if not c.init] if run else []
            if mains:
                container = mains[0]
            else:
                files = sorted((root / "logs").glob("*.log"), key=lambda p: p.stat().st_mtime)
                return files[-1] if files else None
        return root / "logs" / f"{container}.log"

    def logs(self, namespace: str, name: str, container: str | None = None) -> str:
        """Output of a pod: one container's, or all containers' with headers if several."""
        root = self.pod_root(namespace, name)
        if root is None:
            return ""
        if container is not None:
            path = root / "logs" / f"{container}.log"
            return path.read_text(errors="replace") if path.exists() else ""
        files = sorted((root / "logs").glob("*.log"), key=lambda p: p.stat().st_mtime)
        if len(files) == 1:
            return files[0].read_text(errors="replace")
        return "".join(f"==> {p.stem} <==\n{p.read_text(errors='replace')}" for p in files)

    def kill(self, namespace: str, name: str, sig: int = signal.SIGKILL) -> bool:
        """Send sig to the running processes of a pod; True if any was signalled."""
        run = self._run_for(namespace, name)
        return run.signal(sig) if run is not None else False

    def is_running(self, namespace: str, name: str) -> bool:
        """True while a process of the pod is alive."""
        run = self._run_for(namespace, name)
        return bool(run and run.active)

    def running_pods(self) -> list[tuple[str, str]]:
        """(namespace, name) of pods with live processes."""
        with self._lock:
            runs = list(self._runs.values())
        return [(r.namespace, r.name) for r in runs if r.active]

    # --------------------------------------------------------------------- node
    def _node_status(self) -> JSON:
        t = _now()

        def cond(kind: str, ok: bool, reason: str) -> JSON:
            return {"type": kind, "status": "True" if ok else "False", "reason": reason,
                    "message": "localkube executor", "lastHeartbeatTime": t,
                    "lastTransitionTime": t}

        return {
            "capacity": self.allocatable, "allocatable": self.allocatable,
            "conditions": [
                cond("Ready", True, "KubeletReady"),
                cond("MemoryPressure", False, "KubeletHasSufficientMemory"),
                cond("DiskPressure", False, "KubeletHasNoDiskPressure"),
                cond("PIDPressure", False, "KubeletHasSufficientPID"),
            ],
            "addresses": [{"type": "InternalIP", "address": POD_IP},
                          {"type": "Hostname", "address": self.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": "localkube", "systemUUID": "localkube", "bootID": "localkube",
                "kernelVersion": os.uname().release, "osImage": "localkube",
                "containerRuntimeVersion": "localkube://0", "kubeletVersion": "v0.0.0-localkube",
                "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                    os.uname().machine, os.uname().machine),
            },
        }

    def _register_node(self) -> None:
        labels = {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux",
                  "node.kubernetes.io/instance-type": "localkube"}
        body = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node_name, "labels": labels},
                "spec": {}, "status": self._node_status()}
        try:
            self.client.create("/api/v1/nodes", body)
        except ApiError as e:
            if e.status != 409:
                raise
        node = self.client.get(f"/api/v1/nodes/{self.node_name}")
        if (node.get("spec") or {}).get("taints"):
            self.client.patch(f"/api/v1/nodes/{self.node_name}",
                              {"spec": {"taints": None, "unschedulable": None}}, "merge")
        self.client.patch(f"/api/v1/nodes/{self.node_name}/status",
                          {"status": self._node_status()})

    def _heartbeat_loop(self) -> None:
        while not self.stopping.wait(20):
            try:
                self.client.patch(f"/api/v1/nodes/{self.node_name}/status",
                                  {"status": self._node_status()})
            except ApiError as e:
                if e.status == 404:
                    with contextlib.suppress(Exception):
                        self._register_node()
                else:
                    log.warning("node heartbeat failed: %s", e)
            except Exception as e:
                log.warning("node heartbeat failed: %s", e)

    # -------------------------------------------------------------------- pods
    def _watch_loop(self) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                lst = self.client.get("/api/v1/pods")
                rv = str(lst["metadata"]["resourceVersion"])
                items = lst.get("items") or []
                self._forget_missing({p["metadata"]["uid"] for p in items})
                for pod in items:
                    self._safe_handle("SYNC", pod)
                watch = self._watch = self.client.watch(
                    "/api/v1/pods", rv, timeout_seconds=self.resync_seconds)
                if self.stopping.is_set():
                    return
                for kind, pod in watch:
                    if self.stopping.is_set():
                        return
                    if kind != "BOOKMARK":
                        self._safe_handle(kind, pod)
                backoff = 0.5
            except ApiError as e:
                if e.status != 410:
                    log.warning("pod watch failed: %s", e)
                    self.stopping.wait(backoff)
                    backoff = min(backoff * 2, 5.0)
            except Exception as e:
                if not self.stopping.is_set():
                    log.warning("pod watch failed: %s: %s", type(e).__name__, e)
                    self.stopping.wait(backoff)
                    backoff = min(backoff * 2, 5.0)

    def _forget_missing(self, present: set[str]) -> None:
        """Kill runs whose pods vanished unseen (force-deleted); forget finished ones."""
        with self._lock:
            missing = [r for uid, r in self._runs.items() if uid not in present]
            for run in missing:
                if not run.thread.is_alive():
                    del self._runs[run.uid]
            self._deleted &= present
            self._by_name = {k: uid for k, uid in self._by_name.items() if uid in self._runs}
        for run in missing:
            if run.thread.is_alive():
                run.request_delete(0, gone=True)

    def _safe_handle(self, kind: str, pod: JSON) -> None:
        try:
            self._handle(kind, pod)
        except Exception:
            meta = pod.get("metadata") or {}
            log.exception("error handling pod %s/%s", meta.get("namespace"), meta.get("name"))

    def _submit(self, uid: str, fn: Callable[..., None], *args: Any) -> None:
        """Run fn(*args) on the worker pool unless an action for uid is in flight."""
        with self._lock:
            if uid in self._inflight or self._pool is None:
                return
            self._inflight.add(uid)

        def task() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("pod action failed")
            finally:
                with self._lock:
                    self._inflight.discard(uid)

        try:
            self._pool.submit(task)
        except RuntimeError:  # pool shut down
            with self._lock:
                self._inflight.discard(uid)

    def _handle(self, kind: str, pod: JSON) -> None:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        uid = meta.get("uid", "")
        phase = status.get("phase", "Pending")
        with self._lock:
            run = self._runs.get(uid)
        if kind == "DELETED":
            if run is not None:
                run.request_delete(0, gone=True)
            return
        node = spec.get("nodeName")
        deleting = meta.get("deletionTimestamp") is not None
        if not node:
            if not deleting and phase not in TERMINAL_PHASES and not spec.get("schedulingGates"):
                self._submit(uid, self._bind, meta["namespace"], meta["name"], uid)
            return
        if node != self.node_name:
            return
        if deleting:
            grace = float(meta.get("deletionGracePeriodSeconds")
                          or spec.get("terminationGracePeriodSeconds") or 0)
            grace = min(grace, self.max_grace)
            if run is not None and run.active:
                log.info("%s/%s: deleted, stopping (grace %.0fs)", meta["namespace"],
                         meta["name"], grace)
            if run is not None and run.request_delete(grace):
                return
            with self._lock:
                if uid in self._deleted:
                    return
            self._submit(uid, self._finalize_deleted, pod)
            return
        if run is not None:
            return
        if phase == "Pending":
            self._start_run(pod)
        elif phase == "Running":
            self._submit(uid, self._mark_lost, pod)

    def _bind(self, namespace: str, name: str, uid: str) -> None:
        body = {"apiVersion": "v1", "kind": "Binding",
                "metadata": {"name": name, "namespace": namespace, "uid": uid},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name}}
        try:
            self.client.create(ns_path(namespace, "pods", name, sub="binding"), body)
            self.stats.bound += 1
        except ApiError as e:
            if e.status not in (404, 409):
                raise

    def _start_run(self, pod: JSON) -> None:
        run = _PodRun(self, pod)
        with self._lock:
            if run.uid in self._runs or self.stopping.is_set():
                return
            self._runs[run.uid] = run
            self._by_name[(run.namespace, run.name)] = run.uid
        self.stats.started += 1
        run.thread.start()

    def delete_now(self, namespace: str, name: str, uid: str) -> None:
        """Delete a pod with grace period 0 (what kubelet does once containers are gone)."""
        try:
            self.client.delete(ns_path(namespace, "pods", name), {
                "apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": uid}})
        except ApiError as e:
            if e.status not in (404, 409):
                log.warning("%s/%s: delete failed: %s", namespace, name, e)
                return
        with self._lock:
            self._deleted.add(uid)
        self.stats.deleted += 1

    def _finalize_deleted(self, pod: JSON) -> None:
        """A deleted pod with nothing running: make its phase terminal, then delete it."""
        meta = pod["metadata"]
        phase = (pod.get("status") or {}).get("phase")
        if phase not in TERMINAL_PHASES:
            with contextlib.suppress(ApiError):
                self.client.patch(ns_path(meta["namespace"], "pods", meta["name"], sub="status"),
                                  {"metadata": {"uid": meta["uid"]}, "status": {
                                      "phase": "Failed", "reason": "Terminated",
                                      "message": "pod deleted before it ran"}})
        self.delete_now(meta["namespace"], meta["name"], meta["uid"])

    def _mark_lost(self, pod: JSON) -> None:
        """A Running pod this executor never started (executor restarted): fail it."""
        meta = pod["metadata"]
        log.warning("%s/%s: running pod unknown to this executor, marking Failed",
                    meta["namespace"], meta["name"])
        with contextlib.suppress(ApiError):
            self.client.patch(ns_path(meta["namespace"], "pods", meta["name"], sub="status"),
                              {"metadata": {"uid": meta["uid"]}, "status": {
                                  "phase": "Failed", "reason": "ExecutorRestarted",
                                  "message": "the localkube executor lost this pod's process"}})

    def uids(self) -> Iterable[str]:
        """UIDs of all pods this executor has run."""
        with self._lock:
            return list(self._runs)


def main(argv: list[str] | None = None) -> int:
    """``python -m localkube.executor --kubeconfig K --workdir W``."""
    parser = argparse.ArgumentParser(prog="python -m localkube.executor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--node-name", default="localkube")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    executor = PodExecutor(args.kubeconfig, args.workdir, node_name=args.node_name)
    executor.start()
    try:
        done.wait()
    finally:
        executor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
