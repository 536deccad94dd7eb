"""Committed dependency locks pin with hashes and name no package index and no download URL."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib

import pytest

from tests.conftest import REPO

LOCK_NAMES = re.compile(
    r"(^|/)(uv\.lock|poetry\.lock|pdm\.lock|Pipfile\.lock|pylock(\.[^/]+)?\.toml|requirements[^/]*\.(txt|in|lock)"
    r"|[^/]+\.lock|package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|bun\.lockb?)$"
)
URL = re.compile(r"\b(https?|file|git\+[a-z]+|ssh)://|--(extra-)?index-url|--find-links|\bregistry\s*=")
# Built from parts, so that this file does not name the hosts it looks for.
INDEX_HOSTS = tuple(
    re.escape(".".join(parts))
    for parts in (("pypi", "org"), ("pythonhosted", "org"), ("registry", "npmjs", "org"), ("yarnpkg", "com"))
)


def committed_files() -> list[str]:
    """Every file git tracks in this checkout (or, without git, every file outside venvs)."""
    git = shutil.which("git")
    if git is not None and (REPO / ".git").exists():
        listed = subprocess.run([git, "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True).stdout
        return [name for name in listed.decode().split("\0") if name and (REPO / name).is_file()]
    skipped = {".venv", "node_modules", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    return [
        str(path.relative_to(REPO))
        for path in REPO.rglob("*")
        if path.is_file() and not skipped & set(path.relative_to(REPO).parts)
    ]


def lock_files() -> list[str]:
    return sorted(name for name in committed_files() if LOCK_NAMES.search(name))


NPM_LOCKS = ("package-lock.json", "npm-shrinkwrap.json")
NPM_DOWNLOAD = re.compile(r'"resolved"\s*:\s*"[a-z+]+://')


def problems_in(text: str, name: str = "requirements.lock") -> list[str]:
    """The lines of a lock file that record a download URL or an index.

    npm locks also keep packages' funding pages (``"url"`` under ``"funding"``): those are
    neither downloads nor indexes; their downloads are the ``"resolved"`` fields.
    """
    check = NPM_DOWNLOAD.search if name.endswith(NPM_LOCKS) else URL.search
    hosts = re.compile("|".join(INDEX_HOSTS), re.IGNORECASE)
    return [
        f"line {n}: {line.strip()[:160]}"
        for n, line in enumerate(text.splitlines(), 1)
        if check(line) or hosts.search(line)
    ]


def test_the_checks_catch_what_they_are_for() -> None:
    assert LOCK_NAMES.search("uv.lock") and LOCK_NAMES.search("plugins/http/uv.lock")
    assert LOCK_NAMES.search("web/package-lock.json") and LOCK_NAMES.search("requirements-dev.txt")
    assert not LOCK_NAMES.search("docs/security.md")
    host = "files." + "pythonhosted" + ".org"
    assert problems_in(f'[[package]]\nsdist = {{ url = "https://{host}/x.tar.gz" }}')
    npm = '"resolved": "https://registry.example/left-pad/-/left-pad-1.3.0.tgz",'
    assert problems_in(npm, "web/package-lock.json")
    assert not problems_in('"funding": {"url": "https://opencollective.com/vitest"}', "web/package-lock.json")
    assert problems_in("--index-url https://mirror.example/simple")
    assert problems_in("-e file:///home/ada/synthralos/sdk")
    assert not problems_in(
        "httpx==0.28.1 \\\n    --hash=sha256:d909fcccc110f8c7faf814ca82a9a4d816bc5a6dbfea25d6591d6985b8ba59ad"
    )


def test_every_lock_file_is_hash_pinned_and_records_no_url_or_index() -> None:
    locks = lock_files()
    expected = {"requirements.lock", "deploy/requirements.lock"} | {
        f"plugins/{path.name}/requirements.lock" for path in (REPO / "plugins").iterdir() if path.is_dir()
    }
    assert expected <= set(locks), f"missing locks (make them with scripts/lock.sh): {sorted(expected - set(locks))}"
    found = {name: problems_in((REPO / name).read_text(errors="replace"), name) for name in locks}
    recorded = {name: lines for name, lines in found.items() if lines}
    assert not recorded, (
        "these lock files record download URLs or package indexes; regenerate them with "
        f"'bash scripts/lock.sh' (uv.lock files are not committed): {recorded}"
    )
    for name in locks:
        if name.endswith("requirements.lock"):
            pins = re.findall(r"^([A-Za-z0-9._-]+)==\S+", (REPO / name).read_text(), flags=re.MULTILINE)
            hashes = (REPO / name).read_text().count("--hash=sha256:")
            assert pins and hashes >= len(pins), f"{name}: every pin needs its hashes (scripts/lock.sh)"


@pytest.mark.parametrize("suffix", [".md", ".toml", ".py", ".sh", ".yaml", ".yml", ".txt", ".lock", ".json"])
def test_no_committed_file_names_a_package_index_host(suffix: str) -> None:
    pattern = re.compile("|".join(INDEX_HOSTS), re.IGNORECASE)
    named = {
        name: sorted(set(pattern.findall((REPO / name).read_text(errors="replace"))))
        for name in committed_files()
        if name.endswith(suffix)
    }
    assert not {name: hosts for name, hosts in named.items() if hosts}, "name the package, not its index page"


def test_uv_lock_files_stay_out_of_the_repository() -> None:
    assert "uv.lock" in (REPO / ".gitignore").read_text().split()
    assert not [name for name in committed_files() if name.endswith("uv.lock")]


def pinned_names(text: str) -> set[str]:
    """The normalized names of the packages a requirements lock pins."""
    return {normalized(name) for name in re.findall(r"^([A-Za-z0-9._-]+)==", text, flags=re.MULTILINE)}


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def sdk_dependencies() -> set[str]:
    """The SDK's runtime dependencies (installed without them, it needs each in the lock)."""
    declared = tomllib.loads((REPO / "sdk" / "pyproject.toml").read_text())["project"]["dependencies"]
    return {normalized(re.split(r"[^A-Za-z0-9._-]", spec, maxsplit=1)[0]) for spec in declared}


def test_the_sdk_dependency_check_notices_a_lock_made_before_the_sdk_needed_httpx() -> None:
    old = "pydantic==2.11.0 \\\n    --hash=sha256:ab\npluggy==1.6.0 \\\n    --hash=sha256:cd\n"
    assert "httpx" in sdk_dependencies()
    assert "httpx" in sdk_dependencies() - pinned_names(old)


def test_every_python_lock_pins_what_the_sdk_needs() -> None:
    """Venvs install the checkout's SDK without its dependencies: each lock must carry them."""
    needed = sdk_dependencies()
    locks = ["requirements.lock", "deploy/requirements.lock"] + [
        f"plugins/{path.name}/requirements.lock" for path in sorted((REPO / "plugins").iterdir()) if path.is_dir()
    ]
    missing = {
        name: sorted(needed - pinned_names((REPO / name).read_text())) for name in locks if (REPO / name).is_file()
    }
    assert not {name: names for name, names in missing.items() if names}, (
        f"these locks lack the SDK's dependencies; regenerate them with 'bash scripts/lock.sh': {missing}"
    )
