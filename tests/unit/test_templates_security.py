"""Custom templates run in Jinja2's sandbox: known server-side template injection payloads fail
the run with the template's name and line, and values are HTML-escaped."""

from __future__ import annotations

from pathlib import Path

import pytest
from bulletin.render.templates import TemplateFailure
from bulletin.report import BuiltReport
from report_support import build, make_spec

PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ config.items() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ request.application.__globals__ }}",
    "{{ title.__class__.__base__.__subclasses__() }}",
    "{{ title|attr('__class__') }}",
    "{{ kpis[0]._kpi }}",
    "{{ '{0.__class__.__mro__}'.format(title) }}",
    "{{ '{x.__class__}'.format_map({'x': title}) }}",
    "{{ 'x' * 100000000 }}",
    "{{ 2 ** 100000000 }}",
    "{% for i in range(10 ** 9) %}{% endfor %}",
    "{% include '../../../../etc/passwd' %}",
    "{{ namespace.__init__.__globals__ }}",
]


def render_custom(tmp_path: Path, name: str, source: str, formats: list[str] | None = None,
                  **report: object) -> BuiltReport:
    templates = tmp_path / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (templates / name).write_text(source)
    spec = make_spec(formats=formats or ["html"], report=report)
    return build(tmp_path / "out", spec, templates_dir=templates)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_injection_payloads_fail_the_run(tmp_path: Path, payload: str) -> None:
    with pytest.raises(TemplateFailure, match=r"^template subject\.txt(, line 2)?: ") as caught:
        render_custom(tmp_path, "subject.txt", f"hello\n{payload}\n", formats=["csv"])
    assert "root:" not in str(caught.value) and "uid=" not in str(caught.value)


def test_the_html_body_is_sandboxed_too(tmp_path: Path) -> None:
    with pytest.raises(TemplateFailure, match=r"^template body\.html, line 2: .*unsafe"):
        render_custom(tmp_path, "body.html", "<p>\n{{ ''.__class__.__mro__ }}</p>")


def test_errors_name_the_template_and_line(tmp_path: Path) -> None:
    with pytest.raises(TemplateFailure, match=r"^template subject\.txt, line 2: unexpected '}'"):
        render_custom(tmp_path / "a", "subject.txt", "ok\n{{ title }\n")
    with pytest.raises(TemplateFailure,
                       match=r"^template body\.html, line 3: 'no_such_thing' is undefined"):
        render_custom(tmp_path / "b", "body.html", "<p>\n{{ title }}\n{{ no_such_thing }}</p>")


def test_report_template_errors_fail_before_rendering_the_pdf(tmp_path: Path) -> None:
    with pytest.raises(TemplateFailure, match=r"^template report\.html, line 1: .*unsafe"):
        render_custom(tmp_path, "report.html", "{{ title.__class__ }}", formats=["pdf"])


def test_values_are_html_escaped_and_missing_keys_use_the_builtins(tmp_path: Path) -> None:
    built = render_custom(tmp_path, "body.html",
                          '<html lang="{{ language }}"><p>{{ title }}</p></html>',
                          title="<script>alert(1)</script>")
    assert built.email.html == '<html lang="en"><p>&lt;script&gt;alert(1)&lt;/script&gt;</p></html>'
    assert built.email.subject == "<script>alert(1)</script>: 2026-01-05 \u2013 2026-01-11"
