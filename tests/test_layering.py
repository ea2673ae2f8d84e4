"""The layers as the layout promises them: arrows point inward to `crawler/`.

Each check runs a fresh interpreter, imports one entry point and reports which
top-level packages ended up loaded, so nothing imported by another test hides
a stray import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKER_STACK = {"playwright", "dramatiq", "workers", "extractors"}


def loaded_packages(*modules: str) -> set[str]:
    """Top-level packages in sys.modules after importing `modules` in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def test_the_api_loads_no_worker_stack() -> None:
    # Given an API-only node, When it imports the app factory
    loaded = loaded_packages("api.app")
    # Then neither the browser nor the broker, nor Amber's worker packages, are loaded
    assert "fastapi" in loaded and "crawler" in loaded
    assert not loaded & WORKER_STACK


def test_the_cli_loads_the_worker_stack_only_to_run_workers() -> None:
    # Given the `amber` entry point with every command registered
    loaded = loaded_packages("cli.main")
    # Then `amber token create` or `amber status` would not start a browser or a broker
    assert "typer" in loaded
    assert not loaded & WORKER_STACK


def test_the_store_imports_none_of_the_outer_packages() -> None:
    # Given every module of crawler/ (migrations aside)
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for path in (ROOT / "crawler").rglob("*.py")
        if "migrations" not in path.parts and path.name != "__init__.py"
    )
    # When they are all imported
    loaded = loaded_packages(*modules)
    # Then none of api, cli, workers or extractors came with them
    assert len(modules) > 30
    assert not loaded & {"api", "cli", "workers", "extractors", "playwright", "dramatiq"}
