"""Run one Daphne process under yappi (every thread: the event loop and the database pool) and
write the profile when it stops (SIGTERM). Used by ``benchmarks/chat.py --profile DIR``; yappi is not a project
dependency: install it outside the virtualenv (``pip install --target /tmp/chatprof yappi``) and
name that directory in YAPPI_PATH (default /tmp/chatprof).

    python benchmarks/chat_profile.py OUT.prof -b 127.0.0.1 -p 8001 config.asgi:application"""

from __future__ import annotations

import os
import signal
import sys

sys.path.append(os.environ.get("YAPPI_PATH", "/tmp/chatprof"))

import yappi  # noqa: E402


def main() -> None:
    out = sys.argv[1]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    yappi.set_clock_type("cpu")
    if os.environ.get("CHAT_PROFILE_ON_SIGNAL"):
        # Steady state only: benchmarks/chat.py sends SIGUSR1 once every socket is open.
        signal.signal(signal.SIGUSR1, lambda *_: yappi.start(builtins=False, profile_threads=True))
    else:
        yappi.start(builtins=False, profile_threads=True)

    def dump() -> None:
        yappi.stop()
        stats = yappi.get_func_stats()
        stats.save(out, type="pstat")
        with open(out + ".txt", "w") as fh:
            stats.sort("tsub").print_all(out=fh, columns={0: ("name", 90), 1: ("ncall", 10), 2: ("tsub", 8), 3: ("ttot", 8), 4: ("tavg", 8)})
            yappi.get_thread_stats().print_all(out=fh)

    from daphne.cli import CommandLineInterface

    # Daphne's reactor stops on SIGTERM and run() returns: the profile is written then.
    sys.argv = ["daphne", *sys.argv[2:]]
    try:
        CommandLineInterface().run(sys.argv[1:])
    finally:
        dump()


if __name__ == "__main__":
    main()
