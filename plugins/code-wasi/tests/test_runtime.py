"""The WASI runtime's own behaviour: packages, files, the compiled-module cache."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest
from synthral_code_wasi._pool import compiled_module

from synthral_sdk import BlobStore, CodeResult
from synthral_sdk.errors import InputInvalid
from synthral_sdk.testing import call, load_plugin


def _wheel(folder: Path, name: str, files: dict[str, bytes]) -> Path:
    """A minimal pure-Python wheel (py3-none-any) holding ``files``."""
    dist_info = f"{name}-1.0.dist-info"
    entries = {
        **files,
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    target = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as archive:
        for path, data in entries.items():
            archive.writestr(path, data)
        archive.writestr(f"{dist_info}/RECORD", "\n".join(record) + "\n")
    return target


def _run(
    payload: dict[str, object], config: dict[str, object] | None = None, blobs: BlobStore | None = None
) -> CodeResult:
    capability = load_plugin("synthral-code-wasi")["wasi"].capability
    return CodeResult.model_validate(call(capability, payload, config=config or {}, blobs=blobs, timeout=120))


@pytest.fixture
def wheels(tmp_path: Path) -> dict[str, object]:
    links = tmp_path / "wheels"
    links.mkdir()
    (tmp_path / "empty-index").mkdir()
    _wheel(links, "greeting", {"greeting/__init__.py": b"def hello(who):\n    return 'hello ' + who\n"})
    _wheel(links, "nativepkg", {"nativepkg/__init__.py": b"", "nativepkg/_speed.so": b"\x7fELF"})
    return {"index_url": (tmp_path / "empty-index").as_uri(), "find_links": [str(links)]}


def test_a_listed_pure_python_package_is_importable_and_read_only(wheels: dict[str, object]) -> None:
    code = (
        "import greeting, os\n"
        "try:\n"
        "    open(os.path.join(os.path.dirname(greeting.__file__), 'planted.py'), 'w')\n"
        "    wrote = True\n"
        "except OSError:\n"
        "    wrote = False\n"
        "result = {'said': greeting.hello(inputs['who']), 'wrote': wrote}\n"
    )
    result = _run({"language": "python", "code": code, "inputs": {"who": "Ada"}, "packages": ["greeting"]}, wheels)
    assert result.ok, result
    assert result.result == {"said": "hello Ada", "wrote": False}


def test_a_package_with_native_code_is_refused_naming_the_file(wheels: dict[str, object]) -> None:
    with pytest.raises(InputInvalid, match=r"native.*_speed\.so.*code-bwrap"):
        _run({"language": "python", "code": "import nativepkg", "packages": ["nativepkg"]}, wheels)


def test_a_package_that_does_not_exist_is_refused_saying_so(wheels: dict[str, object]) -> None:
    with pytest.raises(InputInvalid, match="cannot install no-such-package"):
        _run({"language": "python", "code": "", "packages": ["no-such-package"]}, wheels)


def test_a_package_given_as_an_option_or_url_is_refused() -> None:
    for spec in ("--index-url=http://evil.example/", "x @ https://evil.example/x.whl"):
        with pytest.raises(InputInvalid, match="packages"):
            _run({"language": "python", "code": "", "packages": [spec]})


def test_files_go_in_and_files_the_code_writes_come_back(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    given = blobs.put(b"3\n4\n", name="numbers.txt")
    code = (
        "total = sum(int(line) for line in open('numbers.txt'))\n"
        "open('total.txt', 'w').write(str(total))\n"
        "result = total\n"
    )
    result = _run({"language": "python", "code": code, "files": [given.to_json()]}, blobs=blobs)
    assert result.ok, result
    assert result.result == 7
    assert [ref.name for ref in result.files] == ["total.txt"]
    assert blobs.get(result.files[0]) == b"7"


def test_a_file_without_a_plain_name_is_refused(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "blobs")
    given = blobs.put(b"x", name="../escape.txt")
    with pytest.raises(InputInvalid, match="plain file name"):
        _run({"language": "python", "code": "", "files": [given.to_json()]}, blobs=blobs)


def test_network_access_is_refused_with_the_runtimes_that_have_it() -> None:
    with pytest.raises(InputInvalid, match="code-bwrap"):
        _run({"language": "python", "code": "", "network": ["example.com"]})


def test_the_compiled_module_is_reused_from_the_cache(tmp_path: Path) -> None:
    first = compiled_module(Path.home() / ".cache" / "synthral-code-wasi")
    stamp = first.stat().st_mtime_ns
    again = compiled_module(first.parent)
    assert again == first
    assert again.stat().st_mtime_ns == stamp
