"""HTTP benchmark: the production HTTP path (gunicorn, as backend/config/processes.py starts it) on
the national data set, driven by wrk, with the no-database ceiling of the same server in the same
run.

    apt-get install -y wrk                 # Debian's wrk; the script stops with this hint without it
    .venv/bin/python benchmarks/http_load.py    # one command; see benchmarks/README.md, "## HTTP"
    .venv/bin/python benchmarks/http_load.py --only ceiling,page --match tableau --duration 5   # a subset

Steps: (1) ``benchmarks/http_data.py`` loads ``seed_demo`` with 100,000 entrepreneurs, 50,000
mentors and 2,000 companies into the PostgreSQL database ``sociallab_bench_http`` (reused when it
already holds the same seed and sizes) and solves one territory cycle, for proposals; (2)
``collectstatic`` with the production storage; (3) gunicorn with ``WEB_HTTP_COMMAND`` on a free
127.0.0.1 port, ``WEB_CONCURRENCY`` workers (default: one per core plus one, as docs/operations.md says),
``SOCIALLAB_MODE=production`` with PostgreSQL and Redis; (4) signs in as each demo role (API
token for the API, session cookie for pages); (5) for every target, a short warm-up then
``--duration`` seconds of wrk with ``--connections`` connections; (6) prints a table and one JSON
line per target (prefix ``JSON``), and stops the server by its pid.

Two settings differ from a production deployment, both for the load generator's sake: the
per-user API throttle is raised (``THROTTLE_USER`` 1,000,000/s: one user sends hundreds of
requests a second here; the throttle still counts every call in Redis, so its cost is measured,
and its one-second window keeps the history of timestamps near the size production's 600/min
allows), and the
requests carry ``X-Forwarded-Proto: https`` as the reverse proxy would (production settings
redirect plain HTTP). The ceiling route ``/bench/ceiling/`` exists only in the benchmark's URL
configuration (benchmarks/http_urls.py). Bounded: every wrk run has a duration and a timeout;
127.0.0.1 only.
"""

import os
import sys

if __name__ == "__main__":
    # Run as a script: the repository root (for ``benchmarks.*``) instead of this directory.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [os.path.dirname(_here)] + [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    from benchmarks.http_run import main

    main()
