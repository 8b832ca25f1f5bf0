"""BagIt packaging of a volume (the `bagit` package) and bag validation.

`bagit.make_bag` converts a folder in place and calls `os.chdir`, which would move every thread of the
web server with it: it runs in a child process. Run as `python -m exports.bagging DIR INFO_JSON`, or
`python -m exports.bagging -` with `[DIR, INFO]` as JSON on standard input (what a Bagger sends).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import bagit

CHECKSUMS = ("sha256", "sha512")


class BagError(Exception):
    """Making or validating a bag failed."""


class Bagger:
    """Makes one bag in a child process that is started ahead, so that the child's start-up (an
    interpreter and the bagit import) overlaps the workbook's writing instead of following it.

    Use as a context manager: leaving it without `make` ends the child, which has then done nothing (a
    child whose parent died reads the end of its input and exits the same way).
    """

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "exports.bagging", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )

    def make(self, folder: Path, info: dict[str, str]) -> None:
        """Turn `folder` into a bag (payload moved under data/)."""
        # ASCII JSON: the child decodes its input in whatever locale it has
        _, err = self._proc.communicate(json.dumps([str(folder), info]))
        if self._proc.returncode != 0:
            raise BagError(
                f"bagit failed for {folder}: {err.strip().splitlines()[-1:] or self._proc.returncode}"
            )

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.communicate()

    def __enter__(self) -> Bagger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_bag(folder: Path, info: dict[str, str]) -> None:
    """Turn `folder` into a bag (payload moved under data/), in a child process."""
    with Bagger() as bagger:
        bagger.make(folder, info)


def validate_bag(path: Path) -> list[str]:
    """Problems found by a full validation of the bag at `path` (empty when valid)."""
    try:
        bag = bagit.Bag(str(path))
        bag.validate(processes=1)
    except bagit.BagValidationError as exc:
        details = [str(d) for d in exc.details] if exc.details else [str(exc)]
        return details
    except bagit.BagError as exc:
        return [str(exc)]
    return []


def external_identifier(path: Path) -> str | None:
    """The bag-info External-Identifier (the volume's 档号)."""
    try:
        value = bagit.Bag(str(path)).info.get("External-Identifier")
    except bagit.BagError:
        return None
    return value if isinstance(value, str) else None


if __name__ == "__main__":
    if sys.argv[1:] == ["-"]:  # a Bagger's child: one request on standard input
        request = sys.stdin.read()
        if not request:
            sys.exit(0)  # the parent gave up (or died) before asking: nothing to do
        folder, info = json.loads(request)
    else:
        folder, info = sys.argv[1], json.loads(sys.argv[2])
    bagit.make_bag(folder, info, checksums=list(CHECKSUMS))
