"""How each control-plane component is configured: controllers, admission plugins, the audit
policy, the API server's flags for a real node, kubeconfigs, and the readiness checks."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import yaml

from .kube import Credentials

#: Controllers run by kube-controller-manager (1.34 names).
DEFAULT_CONTROLLERS: tuple[str, ...] = (
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "endpointslice-controller",
    "deployment-controller",  # the chart's operator Deployment
    "replicaset-controller",
)

ENABLED_ADMISSION = (
    "NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,"
    "DefaultStorageClass,Priority,PodSecurity,MutatingAdmissionWebhook,"
    "ValidatingAdmissionPolicy,ValidatingAdmissionWebhook,ResourceQuota"
)
DISABLED_ADMISSION = "TaintNodesByCondition"

#: Audit policy for ``audit=True``: write verbs only, Metadata level, one event per request.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
"""



def node_args(node_ip: str, kubelet_cert: Path, kubelet_key: Path) -> list[str]:
    """API server flags for serving a real node at ``node_ip``."""
    return [
        f"--bind-address={node_ip}", f"--advertise-address={node_ip}",
        "--endpoint-reconciler-type=lease",
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-client-certificate={kubelet_cert}", f"--kubelet-client-key={kubelet_key}",
        "--authorization-mode=Node,RBAC",
        f"--enable-admission-plugins={ENABLED_ADMISSION},NodeRestriction",
    ]


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path,
                     user: str) -> None:
    """A kubeconfig for ``server`` authenticating with a client certificate (mode 0600)."""
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "localkube", "cluster": {
            "server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {
            "client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "localkube", "context": {
            "cluster": "localkube", "user": user, "namespace": "default"}}],
        "current-context": "localkube",
    }
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path.chmod(0o600)


def etcd_healthy(port: int) -> bool:
    """etcd answers /health with health true."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        body = resp.read()
        return resp.status == 200 and json.loads(body).get("health") == "true"
    finally:
        conn.close()


def apiserver_ready(creds: Credentials) -> bool:
    """kube-apiserver answers /readyz with 200."""
    host_port = creds.server.removeprefix("https://")
    host, port = host_port.rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=creds.ssl_context(), timeout=5)
    try:
        conn.request("GET", "/readyz")
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    finally:
        conn.close()
