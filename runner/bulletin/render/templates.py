"""Jinja2 templates: the built-in ones, optionally overridden from a directory (a mounted
ConfigMap), rendered in a sandbox with HTML autoescaping."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from bulletin.api.errors import RenderError

MAX_STRING = 10_000_000  # longest string a template may build with * or **
CUSTOM_KEYS = ("report.html", "subject.txt", "body.html")


class TemplateFailure(RenderError):
    """A template could not be rendered; the message names the template and line."""


def builtin_dir() -> Path:
    """The built-in templates: the repository's templates/, or the installed copy."""
    candidates = [
        Path(__file__).resolve().parents[3] / "templates",  # a checkout or editable install
        Path(sys.prefix) / "share" / "bulletin" / "templates",  # pip install (data-files)
    ]
    for candidate in candidates:
        if (candidate / "report.html").is_file():
            return candidate
    raise TemplateFailure("built-in templates not found (looked in "
                          + ", ".join(str(c) for c in candidates) + ")")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, also refusing huge string and number products."""

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**" and (abs(right) if isinstance(right, int | float) else 0) > 100:
            raise SecurityError("exponent too large")
        if operator_ == "*":  # refuse before building: 'x' * 10**9 must not allocate 1 GB
            for seq, times in ((left, right), (right, left)):
                if (isinstance(seq, str | list | tuple) and isinstance(times, int)
                        and len(seq) * times > MAX_STRING):
                    raise SecurityError("result too long")
        result = self.binop_table[operator_](left, right)
        if isinstance(result, str | list | tuple) and len(result) > MAX_STRING:
            raise SecurityError("result too long")
        return result


class _ConfinedLoader(FileSystemLoader):
    """Loads only files whose real path stays inside the directory (no symlinks out)."""

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root.resolve()

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if not Path(filename).resolve().is_relative_to(self.root):
            raise SecurityError(f"{template} resolves outside the template directory")
        return source, filename, uptodate


def _environment(custom: Path | None) -> _Sandbox:
    loaders: list[FileSystemLoader] = [_ConfinedLoader(custom)] if custom else []
    loaders.append(FileSystemLoader(str(builtin_dir())))
    env = _Sandbox(
        loader=ChoiceLoader(loaders),
        autoescape=select_autoescape(enabled_extensions=("html", "htm", "xml"),
                                     default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.intercepted_binops = frozenset({"*", "**"})
    for name in ("lipsum", "cycler", "joiner"):
        env.globals.pop(name, None)
    return env


def render_string(source: str, variables: Mapping[str, Any], where: str) -> str:
    """Render a template given as text (e.g. spec.delivery.email.subject) in the same sandbox
    as the files, without autoescaping; TemplateFailure names ``where``."""
    env = _environment(None)
    env.autoescape = False
    env.loader = None
    try:
        return env.from_string(source).render(**variables)
    except Exception as exc:
        message = str(exc) if isinstance(exc, TemplateError | SecurityError) else (
            f"{type(exc).__name__}: {exc}")
        raise TemplateFailure(f"{where}: {message}") from exc


class Templates:
    """Renders named templates; a custom directory's files take precedence."""

    def __init__(self, custom: Path | None = None) -> None:
        self.custom = custom if custom is not None and custom.is_dir() else None
        self.env = _environment(self.custom)

    def is_custom(self, name: str) -> bool:
        return self.custom is not None and (self.custom / name).is_file()

    def check(self, name: str) -> None:
        """Compile ``name``: TemplateFailure on a syntax error, before any data is queried."""
        try:
            self.env.get_template(name)
        except Exception as exc:
            raise _failure(exc, name) from exc

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render ``name``; TemplateFailure on any template error."""
        return "".join(self.stream(name, context))

    def stream(self, name: str, context: Mapping[str, Any]) -> Iterator[str]:
        """Render ``name`` piece by piece (templates that loop over many rows stream)."""
        try:
            template = self.env.get_template(name)
            yield from template.generate(context)
        except TemplateFailure:
            raise
        except Exception as exc:
            raise _failure(exc, name) from exc


@functools.lru_cache(maxsize=8)
def templates_for(custom: Path | None) -> Templates:
    """One Templates per directory and process: a burst builds thousands of reports, and each
    new environment compiled every template again (a third of a CSV recipient's time)."""
    return Templates(custom)


def _failure(exc: BaseException, name: str) -> TemplateFailure:
    """Template name, line and error of ``exc``."""
    where, line = name, None
    if isinstance(exc, TemplateSyntaxError):
        where, line = exc.name or name, exc.lineno
        message = exc.message or str(exc)
    else:
        message = str(exc) if isinstance(exc, TemplateError | SecurityError) else (
            f"{type(exc).__name__}: {exc}")
        for frame in traceback.extract_tb(exc.__traceback__):
            filename = frame.filename
            if filename.endswith((".html", ".txt", ".css")):
                where, line = Path(filename).name, frame.lineno
    at = f", line {line}" if line else ""
    return TemplateFailure(f"template {where}{at}: {message}")
