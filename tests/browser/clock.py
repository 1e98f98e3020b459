"""Run ``flask`` or ``gunicorn`` with the clock travelled to ``TDR_TEST_NOW``.

The journeys book slots "within 24 h" and open periods "after the demo's": what the app
shows depends on the moment. Every process of a run (the demo loader and each server)
starts its clock at the same instant and lets it tick, so the journeys meet the same
rota, the same free slots and the same evening whatever the real date and hour.

    python -m tests.browser.clock flask --app wsgi db upgrade + --app wsgi demo
    python -m tests.browser.clock gunicorn wsgi:app

``+`` separates flask commands run one after the other in the same process (each new
process costs a second or two of imports).
"""

from __future__ import annotations

import os
import sys
from datetime import datetime

import time_machine


def _flask(args: list[str]) -> int:
    """Each ``+``-separated flask command in turn; the first that fails ends the run."""
    from flask.cli import main as entry

    commands: list[list[str]] = [[]]
    for arg in args:
        if arg == "+":
            commands.append([])
        else:
            commands[-1].append(arg)
    for command in commands:
        sys.argv = ["flask", *command]
        try:
            entry()
        except SystemExit as done:
            if done.code:
                return done.code if isinstance(done.code, int) else 1
    return 0


def main() -> None:
    """Travel, then hand over to the named console script with the remaining arguments."""
    time_machine.travel(datetime.fromisoformat(os.environ["TDR_TEST_NOW"]), tick=True).start()
    command, args = sys.argv[1], sys.argv[2:]
    if command == "flask":
        sys.exit(_flask(args))
    if command == "gunicorn":
        from gunicorn.app.wsgiapp import run

        sys.argv = ["gunicorn", *args]
        sys.exit(run())
    raise SystemExit(f"unknown command: {command}")


if __name__ == "__main__":
    main()
