"""The import contracts in pyproject.toml: whole, and able to fail.

``make test`` runs ``lint-imports`` on the tree; these tests check the contracts themselves: that
the protected lists name every private module of an app, and that breaking a line between apps
in a scratch copy of the project makes ``lint-imports`` fail, naming the contract.
"""

import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support.processes import ROOT

PACKAGES = ["omen_site", "signals", "ledger", "retention", "utilities"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["name"]: contract for contract in config["contracts"]}


@pytest.mark.parametrize("app", ["signals", "ledger", "retention"])
def test_everything_in_an_app_but_its_models_and_public_module_is_protected(app):
    (contract,) = [c for c in contracts().values() if c["type"] == "protected" and c["allowed_importers"] == [app]]
    submodules = {f"{app}.{module.name}" for module in pkgutil.iter_modules([str(ROOT / app)])}

    assert set(contract["protected_modules"]) == submodules - {f"{app}.models", f"{app}.public"}


@pytest.fixture
def scratch(tmp_path):
    """A copy of the project's packages and its pyproject.toml, to break."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(directory: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=directory,
        # Wide enough that no contract's name is wrapped in the report.
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(directory), "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_scratch_copy_keeps_every_contract(scratch):
    result = lint_imports(scratch)

    assert result.returncode == 0, result.stdout[-3000:]
    assert f"Contracts: {len(contracts())} kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("signals/services/rows.py", "from ledger.models import LedgerOutbox", "Apps stand in layers"),
        ("ledger/services/restore.py", "from signals.services.ingest import prepare", "only through signals.models"),
        ("retention/apps.py", "from ledger.services import writer", "only through ledger.models"),
        ("signals/pipeline/rules.py", "from django.conf import settings", "import no Django"),
        ("ledger/wal.py", "from ledger.models import LedgerOutbox", "import no Django"),
        ("utilities/bulk_sql.py", "from signals.models import Signal", "Apps stand in layers"),
        ("signals/services/poll.py", "import factory", "no test or lint tool"),
    ],
)
def test_an_import_across_a_line_breaks_its_contract(scratch, module, line, broken):
    path = scratch / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")

    result = lint_imports(scratch)

    (name,) = [name for name in contracts() if broken in name]
    assert result.returncode != 0
    assert f"{name} BROKEN" in result.stdout, result.stdout[-3000:]
    assert f"Contracts: {len(contracts()) - 1} kept, 1 broken." in result.stdout
