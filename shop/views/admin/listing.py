"""What the admin's list pages share: rendering a page with its filters, and CSV downloads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import render_template, stream_with_context
from werkzeug.wrappers import Response

from shop.admin_lists import MAX_PAGE, PAGE_SIZE, Page


def render_list(template: str, filters: Any, page: Page[Any], **context: Any) -> str:
    """A list page: its rows, the filters as typed, and the query string that keeps them
    (for page links and the CSV link)."""
    return render_template(
        template,
        filters=filters,
        page=page,
        list_args=filters.args(),
        page_size=PAGE_SIZE,
        max_page=MAX_PAGE,
        **context,
    )


def csv_download(filename: str, lines: Iterator[str]) -> Response:
    """A CSV file streamed as it is written (every matching row, never held whole)."""
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
