"""The HTML pieces the report's page and its analyses are built of: headings, figures and
images embedded as PNG data URIs, tables."""

import base64
import html

from fidle_runs.report.tables import Table


def heading(title: str, anchor: str | None) -> str:
    """A section title; `anchor` is the id the page's links point to (first section only)."""
    return (f"<h2 id=\"{anchor}\">" if anchor else "<h2>") + f"{html.escape(title)}</h2>\n"


def data_uri(png: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(png).decode()}"


def figure(png: bytes, alt: str, caption: str) -> str:
    return (f"<figure><img alt=\"{html.escape(alt)}\" src=\"{data_uri(png)}\"><figcaption>"
            f"{html.escape(caption)}</figcaption></figure>")


def table(content: Table, raw: bool = False) -> str:
    """An HTML table; `raw` cells are HTML already (escaped by the caller)."""
    header, body = content
    cell = (lambda c: c) if raw else html.escape
    lines = ["<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"]
    lines += ["<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in body]
    return "<div class=\"wide\"><table>" + "\n".join(lines) + "</table></div>"
