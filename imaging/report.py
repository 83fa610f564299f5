"""``report.html``: one self-contained page (figures embedded) a biologist can send on.

Laid out for reading in a browser window and on paper: the answer first (a row of cards),
then sections with a navigation bar. Tables never widen the page: cells do not wrap, long
texts are cut with the whole text in a tooltip, and a wide table scrolls inside its own box.
The per-image gallery is a table that sorts by any column and filters to flagged images with
a few lines of inline JavaScript. This module only renders; :mod:`spmito.imaging.report_content`
decides what goes in.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from spmito.imaging.atomic import write_text_atomic

#: Longest text shown in a table cell; longer texts are cut and shown whole in a tooltip.
MAX_CELL_CHARS = 36

_STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; max-width: 1180px; margin: 0 auto; color: #222;
       line-height: 1.4; padding: 0 1em 2em; }
h1 { font-size: 1.5em; margin: .6em 0 .2em; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #bbb; font-size: 1.25em; }
h3 { font-size: 1em; margin: 1em 0 .3em; }
nav { position: sticky; top: 0; background: #fff; padding: .3em 0; border-bottom: 1px solid #ddd;
      font-size: .9em; z-index: 2; }
nav a { margin-right: 1em; color: #3b6ea5; text-decoration: none; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr));
         gap: .6em; margin: .6em 0; }
.card { background: #f3f6fa; border-left: 5px solid #3b6ea5; padding: .4em .8em; }
.card.warn { background: #fff6e0; border-left-color: #d99a00; }
.card.ok { background: #eef8ee; border-left-color: #2e8b57; }
.card .label { font-size: .8em; color: #555; text-transform: uppercase; letter-spacing: .03em; }
.card .value { font-size: 1.6em; font-weight: 600; }
.card .detail { font-size: .82em; color: #444; }
.lead { margin: .3em 0; }
.warning { background: #fff6e0; border-left: 5px solid #d99a00; padding: .3em 1em; margin: .3em 0; }
.scroll { overflow-x: auto; max-width: 100%; margin: .5em 0; }
.scroll.tall { max-height: 70vh; overflow-y: auto; }
table { border-collapse: collapse; font-size: .84em; }
th, td { border: 1px solid #ccc; padding: .2em .5em; text-align: right; white-space: nowrap; }
th { background: #eee; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
td[title] { text-decoration: underline dotted #999; cursor: help; }
tr.warn td { background: #fff6e0; }
td.flags { white-space: normal; min-width: 12em; }
table.sortable th { cursor: pointer; white-space: normal; vertical-align: bottom; }
table.sortable th:not(.nosort)::after { content: " \\2195"; color: #aaa; font-size: .8em; }
.figures { display: flex; flex-wrap: wrap; gap: .8em; }
figure { margin: .3em 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; max-height: 520px; border: 1px solid #ddd; }
figure.wide img { max-height: none; }
figcaption { font-size: .82em; color: #555; max-width: 560px; }
img.thumb { width: 72px; height: 72px; object-fit: cover; object-position: left;
            cursor: zoom-in; border: 1px solid #ccc; display: block; }
#lightbox { display: none; position: fixed; inset: 0; background: rgba(0,0,0,.85); z-index: 9;
            align-items: center; justify-content: center; cursor: zoom-out;
            flex-direction: column; }
#lightbox img { width: 96vw; max-height: 88vh; object-fit: contain; }
#lightbox p { color: #eee; font-size: .9em; }
.controls { font-size: .9em; margin: .4em 0; }
.small { font-size: .85em; color: #555; }
ul.notes { font-size: .88em; color: #444; padding-left: 1.2em; }
details { margin: .4em 0; }
summary { cursor: pointer; color: #3b6ea5; }
@media print {
  nav, .controls, #lightbox { display: none !important; }
  body { max-width: none; font-size: 10pt; }
  .scroll, .scroll.tall { overflow: visible; max-height: none; }
  th { position: static; }
  figure, table, .card { break-inside: avoid; }
  h2 { break-after: avoid; }
  img.thumb { width: 72px; height: 72px; }
}
"""

_SCRIPT = """
function sortTable(th) {
  const table = th.closest('table'), body = table.tBodies[0];
  const index = Array.from(th.parentNode.children).indexOf(th);
  const up = th.dataset.dir !== 'up'; th.dataset.dir = up ? 'up' : 'down';
  const key = row => { const cell = row.children[index];
    const text = cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent;
    const number = parseFloat(text); return isNaN(number) ? text : number; };
  Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b);
    const order = (typeof x === 'number' && typeof y === 'number') ? x - y
      : String(x).localeCompare(String(y));
    return up ? order : -order; }).forEach(row => body.appendChild(row));
}
function filterFlagged(box) {
  document.querySelectorAll('#gallery tbody tr').forEach(row => {
    row.style.display = (box.checked && !row.dataset.flags) ? 'none' : ''; });
}
window.addEventListener('beforeprint', () => {  // print the collapsed tables too
  document.querySelectorAll('details').forEach(d => { d.open = true; }); });
function showImage(img) {
  const box = document.getElementById('lightbox');
  box.querySelector('img').src = img.src; box.querySelector('p').textContent = img.alt;
  box.style.display = 'flex';
}
"""


@dataclass
class Section:
    """A titled block of the report.

    Rendered in this order: paragraphs, warnings, raw HTML blocks (trusted, built by
    spmito), tables, figures, then collapsed tables (``details``).
    """

    title: str
    paragraphs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[Path, str]] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    details: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    anchor: str = ""


@dataclass
class Card:
    """One headline number: a label, the value, and a line of detail (trusted HTML)."""

    label: str
    value: str
    detail: str = ""
    tone: str = ""  # "", "ok" or "warn"


def _cell_html(value, numeric: bool, digits: int, tag: str = "td") -> str:
    text = format_value(value, digits)
    css = "" if numeric else ' class="text"'
    if len(text) > MAX_CELL_CHARS:
        return (f'<{tag}{css} title="{html.escape(text)}">'
                f"{html.escape(text[:MAX_CELL_CHARS - 1])}…</{tag}>")
    return f"<{tag}{css}>{html.escape(text)}</{tag}>"


def table_html(table: pd.DataFrame, max_rows: int = 200, digits: int = 3,
               row_class: pd.Series | None = None) -> str:
    """An HTML table in a horizontally scrolling box.

    Numbers are rounded to ``digits`` significant figures; texts longer than
    :data:`MAX_CELL_CHARS` are cut, with the whole text in a tooltip.

    Parameters
    ----------
    table : DataFrame
        The rows to show.
    max_rows : int
        Rows shown; a line under the table says how many more are in the CSV files.
    digits : int
        Significant figures of floats.
    row_class : Series of str, optional
        A CSS class per row (``"warn"`` highlights it), aligned with ``table``.
    """
    if table.empty:
        return '<p class="small">(none)</p>'
    shown = table.head(max_rows)
    numeric = {c: pd.api.types.is_numeric_dtype(shown[c]) for c in shown.columns}
    header = "".join(f'<th{"" if numeric[c] else " class=text"}>{html.escape(str(c))}</th>'
                     for c in shown.columns)
    rows = []
    for position, (_, row) in enumerate(shown.iterrows()):
        css = "" if row_class is None else f' class="{row_class.iloc[position]}"'
        cells = "".join(_cell_html(row[c], numeric[c], digits) for c in shown.columns)
        rows.append(f"<tr{css}>{cells}</tr>")
    more = (f'<p class="small">{len(table) - max_rows} more rows in the CSV files.</p>'
            if len(table) > max_rows else "")
    tall = " tall" if len(shown) > 15 else ""
    return (f'<div class="scroll{tall}"><table><thead><tr>{header}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>{more}")


def format_value(value, digits: int = 3) -> str:
    """A table value as text.

    ``–`` for a missing value, whole floats as integers, other floats to ``digits``
    significant figures.
    """
    if isinstance(value, float):
        if pd.isna(value):
            return "–"
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.{digits}g}"
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    return str(value)


def data_uri(path: Path) -> str:
    """The file as a ``data:`` URI (PNG or JPEG), so the report stays one file."""
    kind = "png" if Path(path).suffix.lower() == ".png" else "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(Path(path).read_bytes()).decode()}"


def figure_html(png: Path, caption: str) -> str:
    """A figure with the image embedded; wide figures (SuperPlots) get the whole width."""
    from PIL import Image

    with Image.open(png) as image:
        wide = image.width > 1.8 * image.height
    return (f'<figure{" class=wide" if wide else ""}><img alt="{html.escape(caption)}" '
            f'src="{data_uri(png)}"><figcaption>{html.escape(caption)}</figcaption></figure>')


def gallery_html(images: pd.DataFrame, out_dir: Path, columns: Mapping[str, str],
                 digits: int = 3) -> str:
    """The per-image table: a thumbnail that opens full size, numbers, flags.

    Sortable by any column (click its header), filterable to flagged images.

    Parameters
    ----------
    images : DataFrame
        ``images.csv`` rows; ``overlay`` is a path relative to ``out_dir``, ``flags`` the
        warned checks.
    out_dir : Path
        The output folder.
    columns : mapping of str to str
        The columns to show after the thumbnail, to their header labels (the column name
        is the header's tooltip).
    digits : int
        Significant figures of floats.
    """
    if images.empty:
        return '<p class="small">(no image finished)</p>'
    header = "<th class=nosort>overlay</th>" + "".join(
        f'<th{"" if pd.api.types.is_numeric_dtype(images[c]) else " class=text"} '
        f'title="{html.escape(c)}" onclick="sortTable(this)">{html.escape(label)}</th>'
        for c, label in columns.items())
    rows = []
    for _, row in images.iterrows():
        overlay = out_dir / str(row.get("overlay") or "")
        caption = f"{row['image_id']}: {row.get('flags') or 'no QC flags'}"
        thumb = (f'<img class="thumb" alt="{html.escape(caption)}"'
                 f' src="{data_uri(overlay)}" onclick="showImage(this)">'
                 if row.get("overlay") and overlay.is_file() else "–")
        numeric = {c: pd.api.types.is_numeric_dtype(images[c]) for c in columns}
        flags = html.escape(str(row.get("flags") or ""))
        # the flag codes wrap instead of being cut: they are the point of the table
        cells = "".join(f'<td class="text flags">{flags.replace(";", "; ")}</td>'
                        if c == "flags" else _cell_html(row[c], numeric[c], digits)
                        for c in columns)
        css = ' class="warn"' if flags else ""
        rows.append(f'<tr data-flags="{flags}"{css}><td>{thumb}</td>{cells}</tr>')
    return (
        '<p class="controls"><label><input type="checkbox" onchange="filterFlagged(this)"> '
        "only flagged images</label> · click a column header to sort, a thumbnail to open "
        "the overlay</p>"
        f'<div class="scroll tall"><table id="gallery" class="sortable"><thead><tr>{header}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def _anchor(section: Section) -> str:
    return section.anchor or section.title.lower().replace(" ", "-")


def section_html(section: Section) -> str:
    """HTML of one :class:`Section` (paragraphs and blocks are trusted HTML)."""
    parts = [f'<section id="{_anchor(section)}"><h2>{html.escape(section.title)}</h2>']
    parts += [f'<p class="lead">{p}</p>' for p in section.paragraphs]
    parts += [f'<p class="warning">{html.escape(w)}</p>' for w in section.warnings]
    parts += section.blocks
    for caption, table in section.tables:
        if caption:
            parts.append(f"<h3>{html.escape(caption)}</h3>")
        parts.append(table_html(table))
    shown = [figure_html(png, caption) for png, caption in section.figures
             if Path(png).is_file()]
    if shown:
        parts.append(f'<div class="figures">{"".join(shown)}</div>')
    for caption, table in section.details:
        parts.append(f"<details><summary>{html.escape(caption)} ({len(table)} rows)</summary>"
                     f"{table_html(table)}</details>")
    parts.append("</section>")
    return "\n".join(parts)


def cards_html(cards: Sequence[Card]) -> str:
    """The row of headline cards."""
    return '<div class="cards" id="headline">' + "".join(
        f'<div class="card {c.tone}"><div class="label">{html.escape(c.label)}</div>'
        f'<div class="value">{c.value}</div><div class="detail">{c.detail}</div></div>'
        for c in cards) + "</div>"


def render_report(title: str, cards: Sequence[Card], sections: Sequence[Section],
                  footer: str = "", lead: str = "") -> str:
    """The whole page.

    Parameters
    ----------
    title : str
        Page title.
    cards : sequence of Card
        The few numbers that matter, shown first.
    sections : sequence of Section
        The report body, in reading order; the navigation bar links to each.
    footer : str
        Small print (software, time).
    lead : str
        One line under the cards (trusted HTML), e.g. the reading of the fold changes.
    """
    nav = "".join(f'<a href="#{_anchor(s)}">{html.escape(s.title)}</a>' for s in sections)
    body = "\n".join(section_html(s) for s in sections)
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style>"
            f"<script>{_SCRIPT}</script></head><body>"
            f"<h1>{html.escape(title)}</h1>{cards_html(cards)}{lead_html}<nav>{nav}</nav>"
            f"{body}<p class='small'>{html.escape(footer)}</p>"
            "<div id='lightbox' onclick=\"this.style.display='none'\"><img alt=''><p></p>"
            "</div></body></html>\n")


def write_report(path: str | Path, title: str, cards: Sequence[Card],
                 sections: Sequence[Section], footer: str = "", lead: str = "") -> None:
    """Write :func:`render_report` atomically."""
    write_text_atomic(path, render_report(title, cards, sections, footer, lead))
