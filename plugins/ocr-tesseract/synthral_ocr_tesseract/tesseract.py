"""The Tesseract binary: finding it, asking it what it knows, and running it on one page.

pytesseract keeps the binary's path in a module global and its ``get_languages`` drops
language names that are not lowercase (``script/Latin``), so the version and the language
list are read here by running the binary directly; only the recognition itself goes
through :func:`pytesseract.image_to_data`, behind a gate that keeps the global stable
while calls that need it are running.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

import pytesseract  # type: ignore[import-untyped]  # pytesseract ships no type information
from PIL import Image

from synthral_sdk.errors import DeadlineExceeded, NonRetryableError

__all__ = ["TesseractBinary", "TesseractRunError", "TsvData", "find_tesseract"]

#: How long the quick queries (``--version``, ``--list-langs``) may take.
_QUERY_TIMEOUT: Final = 30.0

#: The rows of ``image_to_data``'s output this module reads, by column name.
TsvData = dict[str, list[int | str]]


class TesseractRunError(Exception):
    """Tesseract ran and exited with an error; ``message`` is what it printed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _CommandGate:
    """Let calls that use the same binary run together while calls for another one wait.

    ``pytesseract.pytesseract.tesseract_cmd`` is process-wide, and the runner serves calls
    from a thread pool; two calls configured with different binaries must not switch it
    under each other.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._command: str | None = None
        self._users = 0

    @contextmanager
    def use(self, command: str) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._users == 0 or self._command == command)
            if self._users == 0:
                pytesseract.pytesseract.tesseract_cmd = command
                self._command = command
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                if self._users == 0:
                    self._cond.notify_all()


_GATE: Final = _CommandGate()
_VERSIONS: dict[str, str] = {}
_VERSIONS_LOCK: Final = threading.Lock()


def find_tesseract(command: str | None) -> str:
    """Return the absolute path of the Tesseract binary to run.

    Args:
        command: The configured ``tesseract_cmd`` (a path or a name on ``PATH``), or
            ``None`` for ``tesseract`` on ``PATH``.

    Raises:
        NonRetryableError: No executable by that name or at that path.
    """
    path = shutil.which(command or "tesseract")
    if path is not None:
        return path
    if command is None:
        raise NonRetryableError(
            "the tesseract binary was not found on PATH; install it (Debian/Ubuntu: "
            "'apt-get install tesseract-ocr', macOS: 'brew install tesseract') or set the config "
            "field 'tesseract_cmd' to its path",
            details={"tesseract_cmd": None},
        )
    raise NonRetryableError(
        f"config field 'tesseract_cmd' is {command!r}, which is not an executable file; set it "
        "to the path of the tesseract binary, or leave it unset to use 'tesseract' on PATH "
        "(install it with 'apt-get install tesseract-ocr')",
        details={"tesseract_cmd": command},
    )


def _run_query(path: str, args: Sequence[str]) -> str:
    try:
        done = subprocess.run(
            [path, *args],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=_QUERY_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NonRetryableError(
            f"could not run {path} {' '.join(args)}: {exc}; check that 'tesseract_cmd' names a "
            "working tesseract binary ('apt-get install tesseract-ocr')",
            details={"tesseract_cmd": path},
        ) from exc
    # Tesseract 3 printed these answers to stderr, later versions to stdout.
    return (done.stdout + done.stderr).decode(errors="replace")


@dataclass(frozen=True)
class TesseractBinary:
    """One Tesseract installation: the binary and the directory of its language data.

    Attributes:
        path: Absolute path of the binary.
        tessdata_dir: The ``--tessdata-dir`` to pass, or ``None`` for the binary's default.
    """

    path: str
    tessdata_dir: Path | None = None

    def version(self) -> str:
        """The binary's version, e.g. ``"5.3.0"`` (remembered per binary).

        Raises:
            NonRetryableError: The binary does not answer ``--version`` like Tesseract.
        """
        with _VERSIONS_LOCK:
            known = _VERSIONS.get(self.path)
        if known is not None:
            return known
        output = _run_query(self.path, ["--version"])
        words = output.split()
        if len(words) < 2 or words[0].lower() != "tesseract":
            raise NonRetryableError(
                f"{self.path} does not answer '--version' like tesseract (it printed "
                f"{output[:200]!r}); set 'tesseract_cmd' to the tesseract binary",
                details={"tesseract_cmd": self.path},
            )
        version = words[1]
        with _VERSIONS_LOCK:
            _VERSIONS[self.path] = version
        return version

    def languages(self) -> list[str]:
        """The language models installed for this binary and ``tessdata_dir``, sorted.

        Read on every call, so that a language installed while the plugin runs is seen.
        """
        output = _run_query(self.path, ["--list-langs", *self._tessdata_args()])
        lines = output.splitlines()
        # The answer is one header line ("List of available languages in ...") and then one
        # language per line; anything before the header is a warning.
        for index, line in enumerate(lines):
            if line.startswith("List of available languages"):
                return sorted(name.strip() for name in lines[index + 1 :] if name.strip())
        return []

    def image_to_data(
        self,
        image: Image.Image,
        *,
        languages: Sequence[str],
        psm: int,
        oem: int | None,
        dpi: int | None,
        timeout: float | None,
    ) -> TsvData:
        """Recognise one page image and return Tesseract's TSV rows as columns.

        Args:
            image: The page, in mode ``1``, ``L`` or ``RGB``.
            languages: Installed language codes, in order of preference.
            psm: Page segmentation mode.
            oem: OCR engine mode, or ``None`` for Tesseract's default.
            dpi: The page's resolution when known; Tesseract estimates it otherwise.
            timeout: Seconds the run may take, or ``None`` for no limit.

        Raises:
            TesseractRunError: Tesseract exited with an error.
            DeadlineExceeded: ``timeout`` passed; the Tesseract process was killed.
        """
        options = [f"--psm {psm}"]
        if oem is not None:
            options.append(f"--oem {oem}")
        if dpi is not None:
            options.append(f"--dpi {dpi}")
        options.extend(shlex.quote(arg) for arg in self._tessdata_args())
        with tempfile.TemporaryDirectory(prefix="synthral-tesseract-") as tmp:
            # PNM needs no compression: writing an A4 page at 300 dpi takes about 15 ms where
            # pytesseract's own PNG takes about 250 ms. Passing a path also stops pytesseract
            # from re-encoding a JPEG page as JPEG.
            page_file = Path(tmp) / "page.pnm"
            image.save(page_file, format="PPM")
            try:
                with _GATE.use(self.path):
                    data = pytesseract.image_to_data(
                        str(page_file),
                        lang="+".join(languages),
                        config=" ".join(options),
                        output_type=pytesseract.Output.DICT,
                        # pytesseract treats 0 as "no limit"; a deadline that has just
                        # passed is caught by the caller's context.check() before this.
                        timeout=max(timeout, 0.001) if timeout is not None else 0,
                    )
            except pytesseract.TesseractError as exc:
                raise TesseractRunError(str(exc.message)) from exc
            except pytesseract.TesseractNotFoundError as exc:
                raise NonRetryableError(
                    f"the tesseract binary at {self.path} disappeared; reinstall it "
                    "('apt-get install tesseract-ocr') or set 'tesseract_cmd'",
                    details={"tesseract_cmd": self.path},
                ) from exc
            except RuntimeError as exc:
                if "timeout" in str(exc):
                    raise DeadlineExceeded(
                        "the call's timeout passed while tesseract was reading a page; give the "
                        "call a longer timeout or send fewer pages (the request's 'pages')"
                    ) from exc
                raise
        return cast(TsvData, data)

    def _tessdata_args(self) -> list[str]:
        return [] if self.tessdata_dir is None else ["--tessdata-dir", str(self.tessdata_dir)]
