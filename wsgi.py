"""Entry point for gunicorn (`gunicorn wsgi:app`) and `flask --app wsgi`.

A setting that is missing or malformed stops start-up with one line naming it (the
`ConfigError`'s message) on stderr, not a traceback, and exit status 4: gunicorn reads 4
as "the application failed to load" and stops, instead of restarting its workers forever.
"""

import sys

from config import ConfigError
from shop import create_app

#: gunicorn's `Arbiter.APP_LOAD_ERROR`: a worker exiting with it halts the server.
APP_LOAD_ERROR = 4

try:
    app = create_app()
except ConfigError as error:
    print(error, file=sys.stderr)
    raise SystemExit(APP_LOAD_ERROR) from None
