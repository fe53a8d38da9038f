"""The functions' build recipe (functions/Makefile, what `sam build` runs): each artifact holds its
handler and the product package (never the dev kit), and every handler imports from the artifact
alone (the dependencies layer is stood in for by this virtual environment's packages)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.template import FUNCTION_IDS, ROOT, source_template

MAKEFILE = ROOT / "functions" / "Makefile"
PACKAGE = ROOT / "shared" / "followthrough"
PRODUCT_FILES = {p.relative_to(PACKAGE) for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    built = {}
    for logical_id in FUNCTION_IDS:
        props = source_template()["Resources"][logical_id]
        assert props["Metadata"] == {"BuildMethod": "makefile", "ContextPath": "functions"}
        # sam build copies the CodeUri folder to a scratch directory and runs make there
        scratch = tmp_path_factory.mktemp(f"scratch-{logical_id}")
        shutil.copytree(
            ROOT / props["Properties"]["CodeUri"],
            scratch,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        out = tmp_path_factory.mktemp(logical_id)
        command = [
            make,
            "--silent",
            "--makefile",
            str(MAKEFILE),
            f"build-{logical_id}",
            f"ARTIFACTS_DIR={out}",
            "PY312=",
        ]
        subprocess.run(command, cwd=scratch, check=True, capture_output=True)  # noqa: S603
        built[logical_id] = out
    return built


def test_artifacts_hold_the_handler_and_the_product_package_only(artifacts: dict[str, Path]) -> None:
    for logical_id, out in artifacts.items():
        assert (out / "app.py").is_file(), logical_id
        package = out / "followthrough"
        assert (package / "bootstrap.py").is_file() and (package / "templates").is_dir(), logical_id
        assert not (out / "followthrough_devkit").exists(), f"{logical_id} ships the dev kit"
        shipped = {p.relative_to(package) for p in package.rglob("*") if p.is_file()}
        assert shipped == PRODUCT_FILES, f"{logical_id} ships other files than the product package's"
        for source in package.rglob("*.py"):
            assert not re.search(
                r"^\s*(from|import) (moto|followthrough_devkit)\b", source.read_text(), re.MULTILINE
            ), f"{source} imports the dev kit"
        assert not list(out.rglob("__pycache__")), "bytecode of the build machine's Python must not ship"


def test_every_handler_imports_from_its_artifact_alone(artifacts: dict[str, Path]) -> None:
    # a fresh interpreter, the artifact first on sys.path: the package found is the artifact's,
    # so an import of a left-out module fails here as it would in Lambda; -B: it writes no
    # bytecode into the artifacts, which the other test checks
    script = """
import importlib.util, sys
for logical_id, folder in pairs:
    sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("handler_" + logical_id, folder + "/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.handler), logical_id
    sys.path.remove(folder)
import followthrough  # the copies are alike: the first artifact's serves every handler
assert followthrough.__file__.startswith(pairs[0][1]), followthrough.__file__
print("ok")
"""
    pairs = [(k, str(v)) for k, v in artifacts.items()]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-B", "-c", f"pairs = {pairs!r}\n{script}"],
        capture_output=True,
        text=True,
        env={**env, "AWS_DEFAULT_REGION": "us-east-1"},
        cwd="/",
        check=False,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
