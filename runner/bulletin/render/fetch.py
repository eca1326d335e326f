"""What a template may make WeasyPrint load: ``data:`` URIs and files inside the template
directories, nothing else (no network, no /proc, no symlinks out). Anything else stops the
render with a message naming the URL's scheme and host."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from bulletin.api.errors import RenderError


class RefusedURL(RenderError):
    """A template referenced a URL the renderer may not load."""


def _describe(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "no host"
    return f"{parts.scheme or 'no scheme'} URL (host {host})"


def allowed_file(url: str, roots: Sequence[Path]) -> Path:
    """The file ``url`` names if it lies inside one of ``roots`` after resolving every
    symlink; RefusedURL otherwise."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise RefusedURL(f"{_describe(url)}: only data: URIs and files of the template"
                         " directory may be loaded")
    raw = url2pathname(unquote(parts.path))
    if ".." in Path(raw).parts:
        raise RefusedURL("file URL (host no host) with '..': not loaded")
    resolved = Path(raw).resolve()
    for root in roots:
        if resolved.is_relative_to(root.resolve()) and resolved.is_file():
            return resolved
    raise RefusedURL("file URL (host no host) outside the template directory (or missing):"
                     " only data: URIs and files of the template directory may be loaded")


def check_url(url: str, roots: Sequence[Path]) -> None:
    """Raise RefusedURL unless ``url`` is a data: URI or a file inside ``roots``."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "data":
        return
    if scheme == "file":
        allowed_file(url, roots)
        return
    raise RefusedURL(f"template references a {_describe(url)}: only data: URIs and files of"
                     " the template directory may be loaded")


def template_fetcher(roots: Sequence[Path]) -> Any:
    """A WeasyPrint URL fetcher confined to ``roots``; a refusal stops the render with a
    FatalURLFetchingError whose message is RefusedURL's."""
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    class _Confined(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            try:
                check_url(url, roots)
                if urlsplit(url).scheme.lower() == "file":  # open the checked, resolved path
                    url = allowed_file(url, roots).as_uri()
            except RefusedURL as exc:
                raise FatalURLFetchingError(str(exc)) from None
            return super().fetch(url, headers)

    return _Confined(allowed_protocols=("data", "file"), allow_redirects=False)
