"""Turning report sections into a page: self-contained HTML and Markdown (+ PNG files).

Both renderers read the same :class:`Section` objects, so the two files always say the same.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from genbalance.evaluation.report_metrics import clean

__all__ = [
    "CSS",
    "Figure",
    "Section",
    "format_cell",
    "html_table",
    "md_escape",
    "md_table",
    "render_html",
    "render_markdown",
]


@dataclass
class Figure:
    """A PNG of the report: written beside report.md as ``name``, inlined into the HTML."""

    name: str
    caption: str
    png: bytes


@dataclass
class Section:
    """What one section says; its heading comes from the registry (``SECTION_BUILDERS``)."""

    title: str = ""
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # (caption, table)
    figures: list[Figure] = field(default_factory=list)


def format_cell(value: Any) -> str:
    """One table cell as text: 4 significant digits, a dash for missing numbers."""
    value = clean(value)
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")


def md_escape(text: Any) -> str:
    """Text (labels, column names, notes) shown literally in Markdown, on one line.

    Labels and column names come from the user's data: a ``|`` would split a table cell, a
    ``*`` or ``_`` start emphasis, ``<b>`` pass through as HTML, ``[x](y)`` become a link.
    """
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


def md_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table, every header and cell escaped."""
    head = "| " + " | ".join(md_escape(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = [
        "| " + " | ".join(md_escape(format_cell(v)) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def html_table(frame: pd.DataFrame) -> str:
    """An HTML table, every cell escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(format_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #446;padding-bottom:.2em}
h2{margin-top:1.8em;color:#335;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #ccd;padding:.25em .6em;text-align:right}
th{background:#eef}
td:first-child,th:first-child{text-align:left}
figure{margin:.8em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.note{color:#555;font-style:italic}
"""


def _html_section(sec: Section) -> list[str]:
    slug = sec.title.lower().replace(" ", "-")
    parts = [f'<section id="{html.escape(slug)}"><h2>{html.escape(sec.title)}</h2>']
    parts += [f'<p class="note">{html.escape(p)}</p>' for p in sec.paragraphs]
    for caption, table in sec.tables:
        if caption:
            parts.append(f"<h3>{html.escape(caption)}</h3>")
        parts.append(html_table(table))
    for fig in sec.figures:
        data = base64.b64encode(fig.png).decode("ascii")
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(fig.caption)}">'
            f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>"
        )
    parts.append("</section>")
    return parts


def render_html(title: str, intro: list[str], sections: list[Section]) -> str:
    """One HTML file with every figure inlined (it can be mailed or attached alone)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p>{html.escape(p)}</p>" for p in intro]
    for sec in sections:
        parts += _html_section(sec)
    parts.append("</body></html>")
    return "\n".join(parts)


def render_markdown(title: str, intro: list[str], sections: list[Section]) -> str:
    """Markdown that links the PNG files written beside it; all text is escaped."""
    out = [f"# {md_escape(title)}", ""]
    out += [md_escape(p) + "\n" for p in intro]
    for sec in sections:
        out += [f"## {md_escape(sec.title)}", ""]
        out += [f"_{md_escape(p)}_\n" for p in sec.paragraphs]
        for caption, table in sec.tables:
            if caption:
                out += [f"### {md_escape(caption)}", ""]
            out += [md_table(table), ""]
        for fig in sec.figures:  # names are file-name safe (report_output.safe_file_part)
            out += [f"![{md_escape(fig.caption)}]({fig.name})", ""]
    return "\n".join(out)
