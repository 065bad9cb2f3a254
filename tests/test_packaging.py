"""A non-editable install works: the packages and the query library travel as package data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_non_editable_install_runs_version_and_query_list(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    # run from elsewhere, with the installed copy first on the path, so nothing of the checkout is read
    env = {**os.environ, "PYTHONPATH": str(target), "COLUMNS": "200"}
    where = subprocess.run(
        [sys.executable, "-c", "import queries, ringwatch; print(queries.__file__); print(ringwatch.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert all(Path(p).is_relative_to(target) for p in where)
    version = subprocess.run(
        [sys.executable, "-m", "ringwatch.cli", "--version"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("ringwatch ")
    listed = subprocess.run(
        [sys.executable, "-m", "ringwatch.cli", "query", "list"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert str(target / "queries") in listed.stdout.replace("\n", "")
    shipped = sorted(p.stem for p in (target / "queries").glob("*.cypher"))
    assert shipped == sorted(p.stem for p in (ROOT / "queries").glob("*.cypher")) and len(shipped) >= 14
    assert all(name in listed.stdout for name in shipped)
