"""Serving the console: `kubectl bulletin console` (loopback, the user's kubeconfig, a random
token in the URL) and `bulletin-console` in the cluster (token or header auth)."""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
from typing import Any

from bulletin.console.access import Access
from bulletin.console.core import Console
from bulletin.plugin.kube import KubeSession


def local_url(port: int, token: str) -> str:
    """The URL the user opens: loopback, the port, the token (as Jupyter prints it)."""
    return f"http://127.0.0.1:{port}/?token={token}"


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(app: Any, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                server_header=False, proxy_headers=False)


def archive_as_user(kube: KubeSession, secret: str | None) -> tuple[Any, str]:
    """The run archive, its URL read from the platform team's Secret with the user's own
    kubeconfig; or None and why not (for stderr and the history pages)."""
    from bulletin.archive.config import Unreachable, secret_ref, url_from_secret
    from bulletin.archive.store import Archive

    try:
        return Archive(url_from_secret(kube.core, secret_ref(secret))), ""
    except (Unreachable, ValueError) as exc:
        return None, f"History is the status window: {exc}."


def hosted_archive() -> Any:
    """The run archive of the chart's archive.enabled (its URL mounted from the Secret)."""
    from bulletin.archive.config import mounted_url
    from bulletin.archive.store import Archive

    url = mounted_url()
    return Archive(url) if url else None


def local(kube: KubeSession, port: int | None, open_browser: bool, namespaces: list[str],
          archive_secret: str | None = None) -> None:
    """`kubectl bulletin console`: serve on loopback as the kubeconfig's user."""
    from bulletin.console.app import build

    kube.api  # noqa: B018 - one client for every request, made before the first
    token = secrets.token_urlsafe(24)
    port = port or free_port()
    # A browser sends 127.0.0.1's cookies to every port: one name per console, so that two
    # consoles (say, two contexts) do not sign each other out.
    archive, note = archive_as_user(kube, archive_secret)
    console = Console(Access("local", kube.namespace, local=kube, local_token=token,
                             local_cookie=f"bulletin_console_{port}"), namespaces=namespaces,
                      archive=archive, archive_note=note)
    url = local_url(port, token)
    print(f"Bulletin console: {url}\n(only who has this URL may use it; ^C stops it)",
          flush=True)
    if note:  # after the URL: scripts read that first
        print(note, file=sys.stderr, flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    _serve(build(console), "127.0.0.1", port)


def parser() -> argparse.ArgumentParser:
    """`bulletin-console`: the in-cluster console's arguments."""
    top = argparse.ArgumentParser(prog="bulletin-console",
                                  description="Serve the Bulletin console in the cluster.")
    top.add_argument("--auth", choices=["token", "header"], required=True,
                     help="token: the user's bearer token; header: a trusted proxy's headers,"
                     " impersonated by this pod's ServiceAccount")
    top.add_argument("--host", default="0.0.0.0")
    top.add_argument("--port", type=int, default=8080)
    top.add_argument("--namespaces", default="", help="comma-separated namespaces to list"
                     " when a user may not list cluster-wide")
    top.add_argument("--owner-label", default="owner")
    top.add_argument("--user-header", default="X-Forwarded-User")
    top.add_argument("--groups-header", default="X-Forwarded-Groups")
    top.add_argument("--email-header", default="X-Forwarded-Email",
                     help="header with the user's address, for a test send to oneself")
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of `bulletin-console`."""
    from bulletin.api.gateway import in_cluster_configuration
    from bulletin.console.app import build

    args = parser().parse_args(argv)
    namespaces = [n.strip() for n in args.namespaces.split(",") if n.strip()]
    access = Access(args.auth, namespaces[0] if namespaces else "default",
                    configuration=in_cluster_configuration(args.auth == "header"),
                    user_header=args.user_header,
                    groups_header=args.groups_header, email_header=args.email_header)
    console = Console(access, namespaces=namespaces, owner_label=args.owner_label,
                      archive=hosted_archive())
    print(f"Bulletin console: {args.auth} auth on port {args.port}", file=sys.stderr,
          flush=True)
    _serve(build(console), args.host, args.port)
    return 0
