"""The HTTP workers' PostgreSQL sessions are tuned for short queries (config/processes.py):
gunicorn passes ``PGOPTIONS`` to its workers and libpq applies it to every connection they open."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection

from config.processes import BACKEND_DIR, WEB_PGOPTIONS, web_http_command


def test_gunicorn_gives_its_workers_the_planner_options():
    command = web_http_command()
    assert command[command.index("--env") + 1] == f"PGOPTIONS={WEB_PGOPTIONS}"
    assert "join_collapse_limit=3" in WEB_PGOPTIONS and "jit=off" in WEB_PGOPTIONS


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_connection_opened_with_them_has_them():
    """A Django process started with the variable (as gunicorn's workers are) runs with it."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    code = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SHOW join_collapse_limit'); a = c.fetchone()[0]\n"
        "    c.execute('SHOW jit'); b = c.fetchone()[0]\n"
        "print(a, b)\n"
    )
    env = {**os.environ, "PGOPTIONS": WEB_PGOPTIONS, "DJANGO_SETTINGS_MODULE": "config.settings",
           "DATABASE_URL": url}
    out = subprocess.run([sys.executable, "-c", code], cwd=BACKEND_DIR, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out[-2:] == ["3", "off"]
