"""User-listed pure-Python packages, installed once per set into a cache and mounted read-only."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from packaging.requirements import InvalidRequirement, Requirement

from synthral_sdk import JSONValue
from synthral_sdk.errors import InputInvalid, RetryableError

__all__ = ["PackageCache"]

NATIVE_SUFFIXES: Final = (".so", ".pyd", ".dylib", ".dll")
INSTALL_TIMEOUT: Final = 600.0


def _checked(specs: Sequence[str]) -> list[str]:
    checked = []
    for index, spec in enumerate(specs):
        text = spec.strip()
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise InputInvalid(
                f"packages[{index}] {spec!r} is not a requirement ({exc}); write a name and an optional version, "
                "e.g. 'humanize==4.9.0'",
                details={"field": f"packages.{index}"},
            ) from None
        if text.startswith("-") or requirement.url:
            raise InputInvalid(
                f"packages[{index}] {spec!r} names a URL or an option; list packages by name and version only",
                details={"field": f"packages.{index}"},
            )
        checked.append(str(requirement))
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
    """Folders of installed packages, one per distinct list."""

    def __init__(self, root: Path) -> None:
        self.root = root

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
        key = hashlib.sha256(json.dumps([requirements, index_url, list(find_links)]).encode()).hexdigest()[:24]
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
            "--no-compile", "--target", str(site), "--only-binary=:all:", "--implementation", "py", "--abi", "none",
            "--platform", "any", "--python-version", "3.12",
        ]  # fmt: skip
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
                f"cannot install {', '.join(requirements)} as pure-Python wheels (py3-none-any): "
                f"{said or 'pip failed'}. "
                "List packages that exist on the index as pure-Python wheels, or use code-bwrap for native ones",
                details={"field": "packages", "packages": list[JSONValue](requirements)},
            )
        native = sorted(str(path.relative_to(site)) for path in site.rglob("*") if path.suffix in NATIVE_SUFFIXES)
        if native:
            raise InputInvalid(
                f"{', '.join(requirements)} bring native code ({', '.join(native[:3])}), which WebAssembly cannot "
                "load; use code-bwrap for packages with native extensions",
                details={"field": "packages", "native": list[JSONValue](native[:20])},
            )
