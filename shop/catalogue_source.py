"""The running app's catalogue: read on first use, then kept for the app's life.

Building the app never reads `products.yaml`, so a broken file cannot stop a command
that does not sell anything (`flask db upgrade`, `flask users create-admin`) or a
worker from starting. The first page that needs the catalogue reads it; a broken one is
logged once, kept as its `CatalogueError`, and every page that needs it answers 503 at
once. `flask catalog check` and `catalog sync` read the file afresh and list every
problem. Fixing the file takes effect when the app restarts (a deploy does).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import ClassVar
from weakref import WeakKeyDictionary

from flask import Flask

from shop.catalogue import DEFAULT_STATIC_DIR, Catalogue, CatalogueError, load_catalogue

log = logging.getLogger(__name__)


class CatalogueSource:
    """Where an app's catalogue comes from, and what reading it gave (read once).

    One per app, registered by `create_app` and found with `CatalogueSource.of(app)`.
    """

    _by_app: ClassVar[WeakKeyDictionary[Flask, CatalogueSource]] = WeakKeyDictionary()

    def __init__(self, path: Path, ebook_dir: Path, static_dir: Path = DEFAULT_STATIC_DIR):
        self.path = path
        self.ebook_dir = ebook_dir
        self.static_dir = static_dir
        self._lock = threading.Lock()
        self._read = False
        self._catalogue: Catalogue | None = None
        self._error: CatalogueError | None = None

    @classmethod
    def init_app(cls, app: Flask) -> CatalogueSource:
        """Give `app` its source, from `CATALOGUE_PATH` and `EBOOK_DIR` (nothing is read)."""
        source = cls._by_app[app] = cls(
            Path(app.config["CATALOGUE_PATH"]),
            Path(app.config["EBOOK_DIR"]),
            Path(app.static_folder or DEFAULT_STATIC_DIR),
        )
        return source

    @classmethod
    def of(cls, app: Flask) -> CatalogueSource:
        return cls._by_app[app]

    def catalogue(self) -> Catalogue | None:
        """The catalogue, read on the first call; None while the file is broken."""
        self._read_once()
        return self._catalogue

    def error(self) -> CatalogueError | None:
        """Why the catalogue is unusable (None: it is fine), read on the first call."""
        self._read_once()
        return self._error

    def _read_once(self) -> None:
        with self._lock:  # concurrent first requests read the file once, log once
            if self._read:
                return
            try:
                self._catalogue = load_catalogue(self.path, self.ebook_dir, self.static_dir)
            except CatalogueError as error:
                self._error = error
                log.error(
                    "%s has %d problem(s); the shop answers 503 until they are fixed "
                    "(see `flask --app wsgi catalog check`): %s",
                    error.path.name,
                    len(error.problems),
                    error.problems[0],
                )
            self._read = True


def catalogue_of(app: Flask) -> Catalogue | None:
    """`app`'s catalogue, read on first use; None while its file is broken."""
    return CatalogueSource.of(app).catalogue()


def loaded_catalogue(app: Flask) -> Catalogue:
    """`app`'s catalogue, read on first use. :raise CatalogueError: while it is broken."""
    source = CatalogueSource.of(app)
    catalogue, error = source.catalogue(), source.error()
    if catalogue is None:
        assert error is not None
        raise error
    return catalogue
