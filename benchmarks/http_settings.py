"""Settings of the HTTP benchmark's gunicorn: the project's settings (production mode, read from
the environment exactly as in production) with one difference, the URL configuration, which
adds the no-database ceiling view (benchmarks/http_urls.py). Production URLs never include it."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.http_urls"
