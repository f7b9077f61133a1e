"""How the test suite itself is put together, checked on every file under tests/:

- a test module or conftest imports shared helpers from tests.support, never from another test
  module or a conftest (importing a conftest runs it a second time, as another module);
- tests.support holds helpers only, no tests;
- every test database comes from tests.support.database (NAUPLIUS_TEST_DATABASE_URL): no DSN
  is written into a test;
- nothing skips a whole module on a failed import, which would hide a broken one
  (pytest.importorskip for an optional package is how a module says it needs one).
"""

import ast
import re
from pathlib import Path

SELF = Path(__file__).resolve()
TESTS = SELF.parent
ROOT = TESTS.parent

# Imports of test modules or conftests that their owners are still to move to tests.support.
# Take an entry out when its import is gone; none may be added.
NOT_YET_MOVED: set[tuple[str, str]] = set()
# A DSN that reaches no database: what a stand-in for pgserver answers.
DSN_ALLOWED = {"tests/support/database.py", "tests/cli/test_up.py"}


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts and p != SELF)


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(ROOT).parent.parts)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.add(base)
            # `from tests.gateway import conftest` names the module in the alias
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def _is_test_module(module: str) -> bool:
    last = module.rpartition(".")[2]
    return module.startswith("tests.") and (last == "conftest" or last.startswith("test_"))


def test_test_modules_import_helpers_only_from_tests_support():
    found = {(_name(path), module) for path in _python_files()
             for module in _imported_modules(path) if _is_test_module(module)}
    assert found - NOT_YET_MOVED == set(), "import these from tests.support instead"


def test_the_support_package_holds_no_tests_or_fixtures():
    for path in (TESTS / "support").glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        functions = [node for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
        assert not [f.name for f in functions if f.name.startswith("test")], path
        assert "pytest.fixture" not in path.read_text(), f"{path}: fixtures go in a conftest.py"


def test_no_test_writes_a_database_url_of_its_own():
    dsn = re.compile(r"postgres(ql)?://")
    offenders = [_name(path) for path in _python_files()
                 if dsn.search(path.read_text()) and _name(path) not in DSN_ALLOWED]
    assert offenders == [], "take the database from tests.support.database"


def test_no_module_is_skipped_whole_on_a_failed_import():
    offenders = [_name(path) for path in _python_files()
                 if "allow_module_level" in path.read_text()]
    assert offenders == [], "let a broken import fail; importorskip an optional package"
