"""A real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager).

Binaries come from ``tests/controlplane/build.sh`` (built from Go modules, cached).
Everything listens on 127.0.0.1 only, with a fresh PKI and a fresh etcd data dir on
every ``start()``; nothing is persisted between runs.

For a real node (``localkube.node.Node``) pass ``node_ip``: the address of the harness's
network namespace (``localkube.netns``). The API server then listens and advertises there
(a kubelet refuses a loopback node, EndpointSlices cannot point at loopback), keeps the
``kubernetes`` Service's endpoints with the lease reconciler, reaches kubelets by InternalIP
with a client certificate (for logs and exec), and authorizes kubelets with the Node
authorizer + NodeRestriction as real clusters do.

Admission: the defaults of kube-apiserver stay on (NamespaceLifecycle, ServiceAccount,
LimitRanger, ResourceQuota, PodSecurity, ...) except ``TaintNodesByCondition``, which
would taint the node ``not-ready`` forever because the node-lifecycle
controller (which lifts that taint) is not run.

Audit (opt-in, ``ControlPlane(workdir, audit=True)``): the API server logs one JSON line per
write request (create, update, patch, delete, deletecollection) at Metadata level (who, verb,
resource, response code; no bodies) to ``workdir/audit.log`` (``cp.audit_log``), for counting
API writes by a client. Off by default: no policy, no log.

Faults: ``with cp.down("kube-apiserver"): ...`` SIGKILLs components (``"etcd"`` too) and starts
them again in place afterwards: same flags, ports, certificates and etcd data dir; it returns
once they are ready again. ``cp.restart(name)`` is the same with nothing in between.

Usage::

    with ControlPlane(tmp_path) as cp:
        client = cp.client()          # localkube.kube.KubeClient as bulletin-admin
        print(cp.kubeconfig, cp.server, cp.start_seconds)
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from ._proc import free_ports, signal_proc
from .builds import build_binaries
from .components import (
    AUDIT_POLICY,
    DEFAULT_CONTROLLERS,
    DISABLED_ADMISSION,
    ENABLED_ADMISSION,
    apiserver_ready,
    etcd_healthy,
    node_args,
    write_kubeconfig,
)
from .kube import Credentials, KubeClient
from .pki import Pki, client_cert, generate_pki
from .supervise import Supervisor

log = logging.getLogger("localkube.controlplane")
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")

class ControlPlaneError(RuntimeError):
    """The control plane failed to start; the message carries the relevant log tail."""


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager, started as children of this process."""

    def __init__(
        self,
        workdir: Path,
        *,
        bin_dir: Path | None = None,
        controllers: Sequence[str] = DEFAULT_CONTROLLERS,
        timeout: float = 120.0,
        verbosity: int = 1,
        audit: bool = False,
        node_ip: str | None = None,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.kubeconfig = self.workdir / "kubeconfig"
        self.server = ""
        self.controllers = tuple(controllers)
        self.timeout = timeout
        self.verbosity = verbosity
        #: The API server's audit log of write requests (``audit=True``), else None.
        self.audit_log: Path | None = self.workdir / "audit.log" if audit else None
        #: Where the API server listens for nodes and pods (None: loopback only, no node).
        self.node_ip = node_ip
        #: Seconds from launching etcd until the controller manager works (no build).
        self.start_seconds: float | None = None
        self.pki: Pki | None = None
        self._bin_dir = bin_dir
        self._sup = Supervisor(self.workdir, timeout, ControlPlaneError)
        #: How each component was started: its command line and readiness check.
        self._launch: dict[str, tuple[list[str], Callable[[], bool]]] = {}
        #: Per-phase durations in seconds (build, pki, etcd, kube-apiserver, ...).
        self.timings = self._sup.timings

    @property
    def bin_dir(self) -> Path:
        """Directory holding etcd, kube-apiserver, kube-controller-manager, kubectl."""
        if self._bin_dir is None:
            self._bin_dir = build_binaries()
        return self._bin_dir

    def log_path(self, component: str) -> Path:
        """Log file of a component, e.g. ``log_path("kube-apiserver")``."""
        return self._sup.log_path(component)

    def client(self, timeout: float = 30.0) -> KubeClient:
        """An admin (system:masters) client."""
        return KubeClient.from_kubeconfig(self.kubeconfig, timeout=timeout)

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Start all components and wait until they work; raise ControlPlaneError if not."""
        if self._sup.procs:
            raise ControlPlaneError("already started")
        t0 = time.monotonic()
        bins = self.bin_dir
        self.timings["build"] = time.monotonic() - t0
        try:
            self._start(bins)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0 - self.timings["build"]
        log.info("control plane up in %.1fs at %s", self.start_seconds, self.server)

    def _start(self, bins: Path) -> None:
        wd = self.workdir
        wd.mkdir(parents=True, exist_ok=True)
        for stale in ("etcd", "pki", "apiserver-certs"):
            shutil.rmtree(wd / stale, ignore_errors=True)
        for component in ("etcd", "kube-apiserver", "kube-controller-manager"):
            self.log_path(component).unlink(missing_ok=True)
        audit_args: list[str] = []
        if self.audit_log is not None:
            self.audit_log.unlink(missing_ok=True)
            policy = wd / "audit-policy.yaml"
            policy.write_text(AUDIT_POLICY)
            audit_args = [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}",
                          "--audit-log-format=json", "--audit-log-mode=blocking"]

        t = time.monotonic()
        pki = self.pki = generate_pki(wd / "pki", [self.node_ip] if self.node_ip else [])
        node_args = self._node_args() if self.node_ip else [
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none", "--authorization-mode=RBAC",
            f"--enable-admission-plugins={ENABLED_ADMISSION}"]
        self.timings["pki"] = time.monotonic() - t
        etcd_client, etcd_peer, api_port = free_ports(3)
        self.server = f"https://{self.node_ip or '127.0.0.1'}:{api_port}"

        def etcd() -> None:
            url = f"http://127.0.0.1:{etcd_client}"
            peer = f"http://127.0.0.1:{etcd_peer}"
            self._run("etcd", [
                str(bins / "etcd"), "--name=localkube", f"--data-dir={wd / 'etcd'}",
                f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
                f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=localkube={peer}", "--initial-cluster-state=new",
                "--unsafe-no-fsync", f"--quota-backend-bytes={512 * 1024 * 1024}",
                "--log-level=warn",
            ], lambda: etcd_healthy(etcd_client))

        def apiserver() -> None:
            self.write_kubeconfig(self.kubeconfig, pki.admin_cert, pki.admin_key,
                                  "bulletin-admin")
            creds = Credentials(self.server, pki.ca_cert, pki.admin_cert, pki.admin_key)
            self._run("kube-apiserver", [
                str(bins / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_client}",
                f"--secure-port={api_port}", *node_args,
                f"--cert-dir={wd / 'apiserver-certs'}",
                f"--tls-cert-file={pki.apiserver_cert}",
                f"--tls-private-key-file={pki.apiserver_key}",
                f"--client-ca-file={pki.ca_cert}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--disable-admission-plugins={DISABLED_ADMISSION}",
                "--allow-privileged=true", "--enable-priority-and-fairness=false",
                "--profiling=false", f"--v={self.verbosity}", *audit_args,
            ], lambda: apiserver_ready(creds))

        def controller_manager() -> None:
            kcm_kubeconfig = wd / "kube-controller-manager.kubeconfig"
            self.write_kubeconfig(kcm_kubeconfig, pki.kcm_cert, pki.kcm_key,
                                  "system:kube-controller-manager")
            client = self.client(timeout=5.0)
            checks = ["/api/v1/namespaces/default/serviceaccounts/default"]
            if any("root-ca" in c for c in self.controllers):
                checks.append("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
            self._run("kube-controller-manager", [
                str(bins / "kube-controller-manager"),
                f"--kubeconfig={kcm_kubeconfig}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                "--leader-elect=false", "--secure-port=0",
                f"--controllers={','.join(self.controllers)}",
                f"--v={self.verbosity}",
            ], lambda: all(client.exists(path) for path in checks))

        self._sup.phase("etcd", etcd)
        self._sup.phase("kube-apiserver", apiserver)
        self._sup.phase("kube-controller-manager", controller_manager)

    def _run(self, name: str, args: list[str], ready: Callable[[], bool]) -> None:
        """Start a component (again, with the same command line) and wait until it is ready."""
        self._launch[name] = (args, ready)
        self._sup.spawn(name, args)
        self._sup.procs.sort(key=lambda p: COMPONENTS.index(p[0]))  # stop order stays reversed
        self._sup.wait(name, ready)

    def pids(self) -> dict[str, int]:
        """The process ID of each running component, by name (e.g. "kube-apiserver")."""
        return {name: proc.pid for name, proc in self._sup.procs if proc.poll() is None}

    @contextlib.contextmanager
    def down(self, *components: str) -> Iterator[None]:
        """SIGKILL ``components`` (e.g. "kube-apiserver", "etcd"), run the body, then start
        them again in place (same flags, ports, certificates, etcd data) and wait until ready."""
        for name, proc in reversed(list(self._sup.procs)):
            if name in components:
                signal_proc(proc, signal.SIGKILL)
        self._sup.stop(components)
        log.info("%s down", ", ".join(components))
        try:
            yield
        finally:
            for name in sorted(components, key=COMPONENTS.index):
                self._run(name, *self._launch[name])
            log.info("%s up again", ", ".join(components))

    def restart(self, *components: str) -> None:
        """SIGKILL ``components`` and start them again in place."""
        with self.down(*components):
            pass

    def _node_args(self) -> list[str]:
        """API server flags for serving a real node at self.node_ip."""
        assert self.pki is not None and self.node_ip
        cert, key = client_cert(self.pki, self.workdir / "pki", "apiserver-kubelet-client",
                                "kube-apiserver-kubelet-client", "system:masters")
        return node_args(self.node_ip, cert, key)

    def write_kubeconfig(self, path: Path, cert: Path, key: Path, user: str) -> None:
        """Write a kubeconfig for this API server authenticating with a client certificate."""
        assert self.pki is not None
        write_kubeconfig(path, self.server, self.pki.ca_cert, cert, key, user)

    # ------------------------------------------------------------------- stop
    def stop(self, timeout: float = 10.0) -> None:
        """Stop the components in reverse start order (SIGTERM, then SIGKILL). Idempotent."""
        self._sup.stop(timeout=timeout)

    @property
    def running(self) -> bool:
        """True while every started component is alive."""
        return self._sup.running
