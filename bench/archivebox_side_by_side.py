"""ArchiveBox 0.7.4 and Amber archiving the same local pages, one after the other, in one run.

    .venv/bin/python bench/archivebox_side_by_side.py [--pages 30] [--user nobody]

ArchiveBox is installed from PyPI into a venv of its own under ``--workdir``
and run as a non-root user (it refuses root), with the outputs Amber also makes
turned on: wget with its WARC, DOM, screenshot, PDF, title, headers and text.
Its favicon extractor is off, since it asks Google's favicon service (the
internet) for every page; its node-based extractors are off too. Both tools
get the same pages from the local test site (half rich pages, half small ones,
as in bench/capture.py), each from a fresh data dir, timed from the command's
start to its exit (process start-up and browser launch included for both).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.settings import load_settings  # noqa: E402
from tests.site import TestSite  # noqa: E402

ARCHIVEBOX = "archivebox==0.7.4"
ARCHIVEBOX_CONFIG = {
    "SAVE_WGET": "True",
    "SAVE_WARC": "True",
    "SAVE_DOM": "True",
    "SAVE_SCREENSHOT": "True",
    "SAVE_PDF": "True",
    "SAVE_TITLE": "True",
    "SAVE_HEADERS": "True",
    "SAVE_HTMLTOTEXT": "True",
    "SAVE_FAVICON": "False",
    "SAVE_SINGLEFILE": "False",
    "SAVE_READABILITY": "False",
    "SAVE_MERCURY": "False",
    "SAVE_GIT": "False",
    "SAVE_MEDIA": "False",
    "SAVE_ARCHIVE_DOT_ORG": "False",
    "USE_NODE": "False",
    "USE_YOUTUBEDL": "False",
    "CHROME_SANDBOX": "False",
    "CHROME_HEADLESS": "True",
    "CHECK_SSL_VALIDITY": "False",
    "TIMEOUT": "60",
}


def corpus(site: TestSite, count: int, tag: str) -> list[str]:
    """The pages bench/capture.py uses: half rich pages, half small ones."""
    return [
        site.url(f"/page.html?bench={tag}{i}" if i % 2 == 0 else f"/p/{tag}{i}")
        for i in range(count)
    ]


def as_user(user: str, env: dict[str, str], *command: str) -> list[str]:
    """`command` run as `user` (when we are root) with exactly `env`."""
    prefix = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
    return [*prefix, "env", "-i", *(f"{k}={v}" for k, v in env.items()), *command]


def run(command: list[str], *, cwd: Path, what: str) -> float:
    """Run to completion; its wall time in seconds (exits with its output when it fails)."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        print(
            f"{what} failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        raise SystemExit(1)
    return elapsed


def archivebox(
    urls: list[str], workdir: Path, user: str, chromium: str, python: str = "/usr/bin/python3"
) -> float:
    venv, data = workdir / "venv", workdir / "data"
    base_env = {
        "HOME": str(workdir),
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    if not (venv / "bin" / "archivebox").exists():
        print(f"installing {ARCHIVEBOX} into {venv} as {user} ...", flush=True)
        run(
            as_user(user, base_env, python, "-m", "venv", str(venv)),
            cwd=workdir,
            what="venv",
        )
        pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
        run(as_user(user, base_env, *pip, ARCHIVEBOX), cwd=workdir, what="pip install")
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    shutil.chown(data, user)
    env = {**base_env, **ARCHIVEBOX_CONFIG, "CHROME_BINARY": chromium}
    run(as_user(user, env, "archivebox", "init"), cwd=data, what="archivebox init")
    took = run(as_user(user, env, "archivebox", "add", *urls), cwd=data, what="archivebox add")
    # What it wrote, so a browser it could not drive shows up as missing files, not speed.
    made = {
        name: len(list((data / "archive").glob(f"*/{name}")))
        for name in ("screenshot.png", "output.pdf", "output.html", "warc/*.warc.gz")
    }
    print("archivebox outputs: " + ", ".join(f"{n} {name}" for name, n in made.items()))
    return took


def amber(urls: list[str], workdir: Path) -> float:
    data = workdir / "amber-data"
    shutil.rmtree(data, ignore_errors=True)
    # The same bare environment ArchiveBox gets (this shell's PYTHONDONTWRITEBYTECODE,
    # say, would make Amber compile every module at each start), plus Amber's settings.
    env = {
        "HOME": str(workdir),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **{k: v for k, v in os.environ.items() if k.startswith("AMBER_")},
        "AMBER_DATA_DIR": str(data),
        "AMBER_ALLOWED_NETWORKS": "127.0.0.1/32",
    }
    amber_bin = str(ROOT / ".venv" / "bin" / "amber")
    started = time.perf_counter()
    done = subprocess.run([amber_bin, "add", *urls], env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-3000:]
        print(f"amber add failed (exit {done.returncode}):\n{tail}")
        raise SystemExit(1)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--user", default=os.environ.get("SUDO_USER") or "nobody")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/amber-vs-archivebox"))
    parser.add_argument(
        "--archivebox-chromium",
        help="the browser ArchiveBox drives (default: the one Amber captures in)",
    )
    args = parser.parse_args()
    ours = load_settings().chromium_executable() or "chromium"
    chromium = args.archivebox_chromium or ours
    args.workdir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(args.workdir, args.user)
    site = TestSite().start()
    try:
        box_s = archivebox(corpus(site, args.pages, "ab"), args.workdir, args.user, chromium)
        print(f"archivebox add took {box_s:.1f} s", flush=True)
        amber_s = amber(corpus(site, args.pages, "amber"), args.workdir)
    finally:
        site.stop()
    box, rate = args.pages / box_s, args.pages / amber_s
    print(f"pages: {args.pages} (half rich pages, half small pages), local test site")
    print(f"browsers: ArchiveBox {chromium}, Amber {ours}")
    print(f"archivebox add ({ARCHIVEBOX}) : {box:6.2f} pages/s  ({box_s:.1f} s)")
    print(f"amber add                     : {rate:6.2f} pages/s  ({amber_s:.1f} s)")
    print(f"ratio amber / archivebox      : {rate / box:6.2f}x   (goal: >= 10x)")


if __name__ == "__main__":
    main()
