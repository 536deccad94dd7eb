"""Packages a run lists, installed once per distinct list into a cache, for runtimes to mount read-only."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from synthral_sdk._json import JSONValue
from synthral_sdk.errors import InputInvalid, RetryableError

__all__ = ["PackageCache"]

NATIVE_SUFFIXES: Final = (".so", ".pyd", ".dylib", ".dll")
# A name, optional extras and an optional version clause (PEP 508 without URLs or markers).
_REQUIREMENT: Final = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._, -]+\])?"
    r"(?:\s*(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+(?:\s*,\s*(?:===|==|!=|~=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+)*)?"
)
INSTALL_TIMEOUT: Final = 600.0


def _checked(specs: Sequence[str]) -> list[str]:
    checked = []
    for index, spec in enumerate(specs):
        text = spec.strip()
        if not _REQUIREMENT.fullmatch(text):
            raise InputInvalid(
                f"packages[{index}] {spec!r} is not a package name with an optional version (options, URLs and "
                "markers are not allowed); write e.g. 'humanize==4.9.0'",
                details={"field": f"packages.{index}"},
            )
        checked.append(text)
    return sorted(set(checked))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class PackageCache:
    """Folders of installed packages, one per distinct list.

    Args:
        root: Where the folders are kept.
        python_version: The sandbox interpreter's ``X.Y``; wheels are chosen for it.
        pure_only: Only pure-Python wheels (``py3-none-any``); refuse native code.
        runtime: The runtime's name, for messages.
    """

    def __init__(self, root: Path, *, python_version: str, pure_only: bool, runtime: str) -> None:
        self.root = root
        self.python_version = python_version
        self.pure_only = pure_only
        self.runtime = runtime

    def ensure(self, specs: Sequence[str], *, index_url: str | None, find_links: Sequence[str]) -> list[Path]:
        """The folder holding ``specs`` (installed now if it is the first time); empty for no packages.

        Raises:
            InputInvalid: A spec is not a plain requirement, cannot be found as a pure-Python
                wheel, or a package has native code.
            RetryableError: The installer timed out.
        """
        if not specs:
            return []
        requirements = _checked(specs)
        identity = [requirements, index_url, list(find_links), self.python_version, self.pure_only]
        key = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:24]
        target = self.root / key
        if (target / ".complete").is_file():
            return [target / "site"]
        with _locked(self.root / f"{key}.lock"):
            if (target / ".complete").is_file():
                return [target / "site"]
            staging = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=self.root))
            try:
                self._install(requirements, staging / "site", index_url, find_links)
                (staging / ".complete").write_text(json.dumps(requirements))
                shutil.rmtree(target, ignore_errors=True)
                staging.rename(target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return [target / "site"]

    def _install(self, requirements: list[str], site: Path, index_url: str | None, find_links: Sequence[str]) -> None:
        command = [
            sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet",
            "--no-compile", "--target", str(site), "--only-binary=:all:", "--python-version", self.python_version,
        ]  # fmt: skip
        if self.pure_only:
            command += ["--implementation", "py", "--abi", "none", "--platform", "any"]
        if index_url:
            command += ["--index-url", index_url]
        for link in find_links:
            command += ["--find-links", link]
        try:
            done = subprocess.run(
                [*command, *requirements], capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise RetryableError(
                f"installing {', '.join(requirements)} took longer than {INSTALL_TIMEOUT:.0f} s; try again"
            ) from None
        if done.returncode != 0:
            said = " ".join(line for line in done.stderr.splitlines() if line.startswith("ERROR"))[-600:]
            raise InputInvalid(
                f"{self.runtime} cannot install {', '.join(requirements)} as "
                f"{'pure-Python wheels (py3-none-any)' if self.pure_only else 'wheels'}: {said or 'pip failed'}. "
                "List packages that exist on the index as wheels"
                + (" of pure Python, or use code-bwrap for native ones" if self.pure_only else ""),
                details={"field": "packages", "packages": list[JSONValue](requirements)},
            )
        native = sorted(str(path.relative_to(site)) for path in site.rglob("*") if path.suffix in NATIVE_SUFFIXES)
        if native and self.pure_only:
            raise InputInvalid(
                f"{', '.join(requirements)} bring native code ({', '.join(native[:3])}), which {self.runtime} cannot "
                "load; use code-bwrap for packages with native extensions",
                details={"field": "packages", "native": list[JSONValue](native[:20])},
            )
