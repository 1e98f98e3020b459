"""``python -m rota solve``: the documented JSON format in, a solution with figures out."""

import json
import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rota", *args], capture_output=True, text=True, check=False
    )


def test_solve_the_documented_example(project_root, tmp_path):
    out = tmp_path / "out.json"
    result = run("solve", str(project_root / "docs/examples/rota-small.json"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "6/6 places pourvues, 0 violation(s)" in result.stderr
    solution = json.loads(out.read_text(encoding="utf-8"))
    pairs = {(a["session_id"], a["doctor_id"]) for a in solution["assignments"]}
    assert (1, 11) in pairs  # the lock is kept
    assert {a["doctor_id"] for a in solution["assignments"] if a["session_id"] == 3} == {10, 11}
    assert solution["unfilled"] == []
    assert "cible" in solution["explanations"]["10"]["text"]
    assert solution["figures"]["violations"] == 0


def test_solve_prints_to_stdout_without_output_file(project_root):
    result = run("solve", str(project_root / "docs/examples/rota-small.json"))
    assert result.returncode == 0
    assert json.loads(result.stdout)["figures"]["places"] == 6


def test_bad_instance_is_refused_in_french(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "sessions": [
                    {
                        "id": 1,
                        "site_id": 1,
                        "starts_at": "2027-03-01T17:00:00",
                        "ends_at": "2027-03-01T20:00:00+01:00",
                    }
                ]
            }
        )
    )
    result = run("solve", str(bad))
    assert result.returncode == 2
    assert "doit porter un décalage" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "JSON invalide" in run("solve", str(broken)).stderr
    assert "Fichier illisible" in run("solve", str(tmp_path / "missing.json")).stderr
