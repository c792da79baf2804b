"""The running app's catalogue: read on first use, then reread whenever the file changes.

Building the app never reads `products.yaml`, so a broken file cannot stop a command
that does not sell anything (`flask db upgrade`, `flask users create-admin`) or a
worker from starting. The first page that needs the catalogue reads it; a broken one is
logged once, kept as its `CatalogueError`, and every page that needs it answers 503 at
once.

After that, each request (each app context) checks the file once, by its modification
time, size and inode (one `stat`, no read), and rereads it when that changed, so a
running worker sells an edited catalogue from its next request on, without a restart.
A changed file that is broken does not close a shop already selling: the last good
catalogue is kept, the problems are logged once per version of the file, and `flask
catalog check` lists them. `flask catalog check` and `catalog sync` always read the file
afresh.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import ClassVar
from weakref import WeakKeyDictionary

from flask import Flask, g, has_app_context

from shop.catalogue import DEFAULT_STATIC_DIR, Catalogue, CatalogueError, load_catalogue

log = logging.getLogger(__name__)

#: What tells one version of the file from another without reading it.
Signature = tuple[int, int, int] | None


def _signature(path: Path) -> Signature:
    """The file's modification time (ns), size and inode; None when it cannot be read."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_mtime_ns, found.st_size, found.st_ino)


class CatalogueSource:
    """Where an app's catalogue comes from, and what reading it last gave.

    One per app, registered by `create_app` and found with `CatalogueSource.of(app)`.
    """

    _by_app: ClassVar[WeakKeyDictionary[Flask, CatalogueSource]] = WeakKeyDictionary()

    def __init__(self, path: Path, ebook_dir: Path, static_dir: Path = DEFAULT_STATIC_DIR):
        self.path = path
        self.ebook_dir = ebook_dir
        self.static_dir = static_dir
        self._lock = threading.Lock()
        self._read = False
        self._signature: Signature = None
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
        """The catalogue (the last good one if the file has broken since); None while
        no good one was ever read."""
        self._refresh()
        return self._catalogue

    def error(self) -> CatalogueError | None:
        """What is wrong with the file as it is now (None: it is fine)."""
        self._refresh()
        return self._error

    def _refresh(self) -> None:
        """Read the file if it was never read, or changed since; once per app context."""
        if has_app_context():
            checked: set[int] = g.setdefault("_catalogue_checked", set())
            if id(self) in checked and self._read:
                return
            checked.add(id(self))
        if self._read and _signature(self.path) == self._signature:
            return
        with self._lock:  # concurrent requests read a changed file once, log once
            signature = _signature(self.path)
            if self._read and signature == self._signature:
                return
            self._load(signature)

    def _load(self, signature: Signature) -> None:
        reread = self._read
        try:
            catalogue = load_catalogue(self.path, self.ebook_dir, self.static_dir)
        except CatalogueError as error:
            self._error = error
            if self._catalogue is not None:
                log.error(
                    "%s changed and has %d problem(s); the shop keeps selling the catalogue "
                    "read before until they are fixed (see `flask --app wsgi catalog check`): %s",
                    error.path.name,
                    len(error.problems),
                    error.problems[0],
                )
            else:
                log.error(
                    "%s has %d problem(s); the shop answers 503 until they are fixed "
                    "(see `flask --app wsgi catalog check`): %s",
                    error.path.name,
                    len(error.problems),
                    error.problems[0],
                )
        else:
            self._catalogue, self._error = catalogue, None
            if reread:
                log.info("%s changed: the shop now sells it", self.path.name)
        self._signature = signature
        self._read = True


def catalogue_of(app: Flask) -> Catalogue | None:
    """`app`'s catalogue, read on first use and when its file changes; None while no
    good one was ever read."""
    return CatalogueSource.of(app).catalogue()


def loaded_catalogue(app: Flask) -> Catalogue:
    """`app`'s catalogue, read on first use. :raise CatalogueError: while it is broken."""
    source = CatalogueSource.of(app)
    catalogue, error = source.catalogue(), source.error()
    if catalogue is None:
        assert error is not None
        raise error
    return catalogue
