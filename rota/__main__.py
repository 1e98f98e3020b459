"""``python -m rota solve INSTANCE.json [-o OUT.json]``: the engine without the app."""

from __future__ import annotations

import argparse
import json
import sys
import time

from rota.engine import InvalidProblem, solve
from rota.problem_json import FormatError, problem_from_json, solution_to_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rota", description="Moteur du tour de rôle.")
    sub = parser.add_subparsers(dest="command", required=True)
    solve_cmd = sub.add_parser("solve", help="résoudre une instance JSON (docs/rota-format.md)")
    solve_cmd.add_argument("instance")
    solve_cmd.add_argument("-o", "--output", help="fichier de sortie (sinon la sortie standard)")
    args = parser.parse_args(argv)

    try:
        with open(args.instance, encoding="utf-8") as fh:
            problem = problem_from_json(json.load(fh))
    except OSError as exc:
        print(f"Fichier illisible : {exc}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as exc:
        print(f"JSON invalide : {exc}", file=sys.stderr)
        return 2
    except FormatError as exc:
        print(f"Instance invalide : {exc}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        solution = solve(problem)
    except InvalidProblem as exc:
        print(f"Instance impossible : {exc}", file=sys.stderr)
        return 2
    payload = solution_to_json(solution)
    payload["figures"]["solve_seconds"] = round(time.perf_counter() - start, 3)
    text = json.dumps(payload, ensure_ascii=False, indent=2)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    else:
        print(text)
    figures = payload["figures"]
    print(
        f"{figures['filled']}/{figures['places']} places pourvues, "
        f"{figures['violations']} violation(s), {figures['solve_seconds']} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
