"""``report.html``: one self-contained page (figures embedded) a biologist can send on.

This module only renders; :mod:`imaging.summary` decides what goes in.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from imaging.atomic import write_text_atomic

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222;
       line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
.headline { background: #f3f6fa; border-left: 5px solid #3b6ea5; padding: .6em 1.2em; }
.headline li { margin: .3em 0; }
.warning { background: #fff6e0; border-left: 5px solid #d99a00; padding: .4em 1em; }
.error { background: #fdecec; border-left: 5px solid #c0392b; padding: .4em 1em; }
table { border-collapse: collapse; font-size: 0.86em; margin: .8em 0; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: right; }
th { background: #eee; }
td.text, th.text { text-align: left; }
figure { display: inline-block; margin: .5em; vertical-align: top; }
figure img { max-width: 520px; border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #555; max-width: 520px; }
.small { font-size: .85em; color: #555; }
"""


@dataclass
class Section:
    """A titled block of the report: paragraphs, notes, tables and figures, in that order."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[Path, str]] = field(default_factory=list)


def table_html(table: pd.DataFrame, max_rows: int = 200, digits: int = 3) -> str:
    """An HTML table with numbers rounded to ``digits`` significant figures."""
    if table.empty:
        return '<p class="small">(none)</p>'
    shown = table.head(max_rows)
    header = "".join(f'<th class="{_css(shown[c])}">{html.escape(str(c))}</th>'
                     for c in shown.columns)
    rows = []
    for _, row in shown.iterrows():
        cells = "".join(f'<td class="{_css(shown[c])}">{html.escape(_fmt(row[c], digits))}</td>'
                        for c in shown.columns)
        rows.append(f"<tr>{cells}</tr>")
    more = (f'<p class="small">{len(table) - max_rows} more rows in the CSV files.</p>'
            if len(table) > max_rows else "")
    return f"<table><tr>{header}</tr>{''.join(rows)}</table>{more}"


def _css(column: pd.Series) -> str:
    return "" if pd.api.types.is_numeric_dtype(column) else "text"


def _fmt(value, digits: int) -> str:
    if isinstance(value, float):
        if pd.isna(value):
            return "–"
        return f"{value:.{digits}g}"
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    return str(value)


def figure_html(png: Path, caption: str) -> str:
    """A figure with the PNG embedded as base64 (the report stays one file)."""
    data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def section_html(section: Section) -> str:
    """HTML of one :class:`Section` (paragraphs are trusted HTML built by spmito)."""
    parts = [f"<h2>{html.escape(section.title)}</h2>"]
    parts += [f"<p>{p}</p>" for p in section.paragraphs]
    parts += [f'<p class="warning">{html.escape(w)}</p>' for w in section.warnings]
    for caption, table in section.tables:
        if caption:
            parts.append(f"<h3>{html.escape(caption)}</h3>")
        parts.append(table_html(table))
    parts += [figure_html(png, caption) for png, caption in section.figures
              if Path(png).is_file()]
    return "\n".join(parts)


def render_report(title: str, headline: Sequence[str], sections: Sequence[Section],
                  footer: str = "") -> str:
    """The whole page.

    Parameters
    ----------
    title : str
        Page title.
    headline : sequence of str
        The few numbers that matter, as HTML list items (trusted, built by spmito).
    sections : sequence of Section
        The report body.
    footer : str
        Small print (software, time).
    """
    items = "".join(f"<li>{h}</li>" for h in headline)
    body = "\n".join(section_html(s) for s in sections)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><ul class='headline'>{items}</ul>{body}"
            f"<p class='small'>{html.escape(footer)}</p></body></html>\n")


def write_report(path: str | Path, title: str, headline: Sequence[str],
                 sections: Sequence[Section], footer: str = "") -> None:
    """Write :func:`render_report` atomically."""
    write_text_atomic(path, render_report(title, headline, sections, footer))
