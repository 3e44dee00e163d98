"""Names and text that leave the suite for places that read them as paths or as
markup.  asv files a machine's results under ``results/<machine>/`` and shows its name
and description in the dashboard, whose tooltips render HTML; Markdown renders inline
HTML too.  So a machine name is a plain slug, and any other text from results is
shown with its markup characters as entities."""

from __future__ import annotations

import html
import re

MACHINE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_machine_name(name, where: str) -> str:
    """``name`` if it is a safe machine name, else a ValueError naming it and ``where``
    it comes from."""
    if not isinstance(name, str) or not MACHINE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{where}: machine name {name!r} is not allowed: use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, without '..' (asv makes it a folder and dashboard text)"
        )
    return name


def neutral(text, quotes: bool = True) -> str:
    """``text`` with ``&``, ``<`` and ``>`` (and quotes, unless not ``quotes``) as HTML
    entities: shown as written by a browser or a Markdown viewer, never run.  Outside
    a tag, as in Markdown, quotes need no escaping."""
    return html.escape(str(text), quote=quotes)
