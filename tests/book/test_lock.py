"""The locks: in step with their ``.in`` files, and installable on every platform.

uv answers from its cache when it has what a check needs and asks the package
registry otherwise; a check is skipped only when it must ask and the registry
cannot be reached.
"""

import pathlib
import re
import subprocess
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[2]
UV = pathlib.Path(sys.executable).with_name("uv")
LOCKS = ["requirements.lock", "requirements-bootstrap.lock", "requirements-oldest.lock"]
# What readers run the book on (uv's target triples), each on the oldest and the
# newest Python the lock is checked for.
PLATFORMS = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "aarch64-apple-darwin",  # Apple silicon
    "x86_64-apple-darwin",  # Intel Macs
    "x86_64-pc-windows-msvc",
]
PYTHONS = ["3.11", "3.13"]


def _makefile_lock_command():
    """The ``uv pip compile`` flags of ``make lock`` (the Makefile's LOCK)."""
    text = (ROOT / "Makefile").read_text()
    m = re.search(r"^LOCK := \$\(UV\) pip compile (.*)$", text, re.M)
    assert m, "the Makefile has no `LOCK := $(UV) pip compile ...` line"
    return [f for f in m.group(1).split() if f != "--quiet"]


def _pins(lock):
    pins = {}
    for line in (ROOT / lock).read_text().splitlines():
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def _uv(args, offline):
    if not UV.exists():
        pytest.skip(f"uv is not installed beside {sys.executable} (make setup does)")
    return subprocess.run(
        [str(UV), *args, *(["--offline"] if offline else [])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _skip_if_unreachable(result):
    if result.returncode and "error sending request" in result.stderr:
        pytest.skip(
            "the package registry cannot be reached and uv's cache lacks what this "
            "check needs (" + result.stderr.strip().splitlines()[-1].strip() + ")"
        )


def _parse(text):
    """A lock as (its lines without the header comment and the hashes, the set
    of hashes of each pin)."""
    lines, hashes, pin = [], {}, None
    for line in text.splitlines():
        line = line.removesuffix(" \\").rstrip()
        if line.lstrip().startswith("--hash="):
            hashes[pin].add(line.split("=", 1)[1])
        elif line.startswith("#") and not lines:
            continue  # the header
        else:
            lines.append(line)
            if not line.startswith(" "):
                pin = line
                hashes[pin] = set()
    return lines, hashes


def _differences(lock_text, fresh_text):
    """What the lock has that a fresh resolution does not, [] if nothing.

    The pins and `via` notes must be the same. A registry may add a wheel to a
    pinned release later, so the fresh hashes may be more, but each locked hash
    must still be one of them (a pin edited by hand keeps the old hashes).
    """
    (lines, hashes), (fresh_lines, fresh_hashes) = _parse(lock_text), _parse(fresh_text)
    if lines != fresh_lines:
        return [
            f"{'-' if line in lines else '+'} {line}"
            for line in sorted(set(lines) ^ set(fresh_lines))
        ] or ["the same lines in another order"]
    return [
        f"{pin}: hashes not served for this release: {sorted(hashes[pin] - fresh)}"
        for pin, fresh in fresh_hashes.items()
        if not hashes[pin] <= fresh
    ]


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_header_is_the_makefiles_command(lock):
    """The lock was written by `make lock` as it stands, flags and all."""
    source = lock.replace(".lock", ".in")
    header = (ROOT / lock).read_text().splitlines()[:2]
    want = ["uv", "pip", "compile", *_makefile_lock_command(), source, "-o", lock]
    assert header[1].lstrip("# ").split() == want, (
        f"{lock} was not written by the Makefile's lock command: run `make lock`"
    )
    assert "--universal" in want, "make lock must resolve for every platform"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_requirement_is_pinned_in_the_lock(lock):
    """Offline and quick: each line of the .in file has a satisfying pin."""
    source = (ROOT / lock.replace(".lock", ".in")).read_text()
    pins = _pins(lock)
    for line in source.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} is in the .in file but not in {lock}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{lock} pins {req.name}=={pins[name]}, outside {req} in the .in file"
        )


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_is_what_make_lock_would_write(lock, tmp_path):
    """Re-resolve the .in file as `make lock` does, preferring the locked pins,
    and compare: a requirement added, removed or changed in the .in file without
    `make lock` shows up as a difference."""
    out = tmp_path / lock
    args = ["pip", "compile", *_makefile_lock_command()]
    args += [lock.replace(".lock", ".in"), "-o", str(out)]
    locked = (ROOT / lock).read_text()
    # The pins uv should keep, without hashes: uv would copy them over.
    pins = "\n".join(_parse(locked)[0])
    for offline in (True, False):  # uv's cache may be older than the lock
        out.write_text(pins)
        result = _uv(args, offline)
        if result.returncode == 0 and not _differences(locked, out.read_text()):
            return
    _skip_if_unreachable(result)
    assert result.returncode == 0, result.stderr
    differences = "\n".join(_differences(locked, out.read_text()))
    pytest.fail(f"{lock} is out of date, run `make lock`:\n{differences}")


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("lock", LOCKS)
def test_lock_installs_from_wheels(lock, platform, python, tmp_path):
    """`uv pip install --require-hashes -r <lock>` (with the overrides `make setup`
    passes) for another platform and Python,
    as a dry run: every locked package has a wheel there (no compiler needed)
    whose hash is in the lock, and every dependency it declares is locked."""
    args = ["pip", "install", "--dry-run", "--require-hashes", "--only-binary", ":all:"]
    args += ["--override", "requirements-overrides.txt", "-r", lock]
    args += ["--python-platform", platform, "--python-version", python]
    args += ["--python", sys.executable, "--target", str(tmp_path)]
    result = _uv(args, offline=True)
    if result.returncode:
        result = _uv(args, offline=False)
        _skip_if_unreachable(result)
    assert result.returncode == 0, result.stderr
    assert "Would install" in result.stderr


def test_the_declared_floors_are_what_test_oldest_runs_on():
    """pyproject.toml's lowest numpy and scipy are the ones `make test-oldest`
    installs, and CI runs it: a floor raised or lowered in one place only, or a
    floor no test runs on, fails here."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["train"]
    oldest = _pins("requirements-oldest.lock")
    floors = {}
    for req in map(Requirement, declared):
        (spec,) = [s for s in req.specifier if s.operator == ">="]
        floors[req.name] = spec.version
    assert set(floors) == {"numpy", "scipy"}
    for name, floor in floors.items():
        assert Version(oldest[name]) == Version(floor), (
            f"pyproject.toml says {name}>={floor}; test-oldest runs on {oldest[name]}"
        )
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements-oldest.lock" in makefile
    assert re.search(r"^make test-oldest$", (ROOT / ".ci/run").read_text(), re.M)
