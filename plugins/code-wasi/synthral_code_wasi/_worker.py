"""One sandboxed run: a process that instantiates CPython-on-WASI once and runs one request.

Started ahead of time (warm): it loads the precompiled module, sets up the instance (the
run's scratch and control folders preopened, package folders read-only, the memory limit)
and lets CPython start, which then waits for the request on stdin. The parent writes the
request and reads the guest's output from this process's stdout as frames:
``O``/``E`` + 4-byte length + bytes for the guest's stdout/stderr, and one ``X`` + length +
JSON when the instance has finished. The parent enforces the wall-clock and CPU limits and
the output caps by killing this process; this process never runs a second request.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import Final

import wasmtime

from synthral_sdk.sandbox import PYTHON_BOOTSTRAP

FRAME: Final = struct.Struct(">cI")
GUEST_ENV: Final = (("PYTHONDONTWRITEBYTECODE", "1"), ("PYTHONUTF8", "1"), ("HOME", "/scratch"), ("TMPDIR", "/scratch"))


def _frame(kind: bytes, data: bytes) -> None:
    os.write(1, FRAME.pack(kind, len(data)) + data)


def _forward(kind: bytes) -> object:
    def write(data: bytes) -> None:
        _frame(kind, data)

    return write


def main(argv: list[str]) -> int:
    """Run one request; ``argv[0]`` is a JSON document of the instance's settings."""
    settings = json.loads(argv[0])
    engine = wasmtime.Engine(wasmtime.Config())
    module = wasmtime.Module.deserialize_file(engine, settings["module"])
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    store.set_limits(memory_size=int(settings["memory_bytes"]))
    wasi = wasmtime.WasiConfig()
    wasi.argv = ["python", "-I", "-c", PYTHON_BOOTSTRAP, "-", "/.synthral/outcome.json"]
    wasi.env = list(GUEST_ENV)
    wasi.inherit_stdin()
    wasi.stdout_custom = _forward(b"O")
    wasi.stderr_custom = _forward(b"E")
    wasi.preopen_dir(settings["scratch"], "/scratch")
    wasi.preopen_dir(settings["control"], "/.synthral")
    for index, folder in enumerate(settings["packages"]):
        wasi.preopen_dir(folder, f"/packages/{index}", fs_mutable=False)
    store.set_wasi(wasi)
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    finished: dict[str, object] = {"exit_code": 0, "trap": None}
    try:
        start(store)  # type: ignore[operator]
    except wasmtime.ExitTrap as exc:
        finished["exit_code"] = exc.code
    except wasmtime.Trap as exc:
        finished["exit_code"] = 134
        finished["trap"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    except wasmtime.WasmtimeError as exc:
        finished["exit_code"] = 134
        finished["trap"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    _frame(b"X", json.dumps(finished).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
