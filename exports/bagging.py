"""BagIt packaging of a volume (the `bagit` package) and bag validation.

`bagit.make_bag` converts a folder in place and calls `os.chdir`, which would move every thread of the
web server with it: it runs in a child process. Run as `python -m exports.bagging DIR INFO_JSON`.
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


def make_bag(folder: Path, info: dict[str, str]) -> None:
    """Turn `folder` into a bag (payload moved under data/), in a child process."""
    proc = subprocess.run(
        [sys.executable, "-m", "exports.bagging", str(folder), json.dumps(info, ensure_ascii=False)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BagError(
            f"bagit failed for {folder}: {proc.stderr.strip().splitlines()[-1:] or proc.returncode}"
        )


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
    bagit.make_bag(sys.argv[1], json.loads(sys.argv[2]), checksums=list(CHECKSUMS))
