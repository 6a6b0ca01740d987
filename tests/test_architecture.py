"""The SQL boundary (docs/architecture.md): each app's hand-written SQL lives in `<app>/sql.py` and
names only that app's tables. The ORM boundary: domain code reaches another app's tables through
that app's selectors and services, never its model managers. The import contracts are checked by
`lint-imports` in `make test`.

The scan reads the source with `ast`: names and attributes for the ways to run SQL (a cursor of
the connection, the mall.db statement helpers, RawSQL, .raw(), .extra()), string literals for
SQL text (docstrings are prose and skipped), and `Model._meta` for a table named through its
model. Tables and their owners come from the models themselves. The ORM scan looks for
`Model.objects` (or `_default_manager`, `_base_manager`) of a model imported from another app's
`models`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent

# Top-level packages outside the rule: the test suite, the benchmarks (they set up and inspect
# the database as a harness) and the standalone WeChat simulator (no database).
EXEMPT_PACKAGES = {"tests", "bench", "wechat_sim"}
# Files outside the rule, each with its reason.
EXEMPT_FILES = {
    # Creates the embedded server's database (PostgreSQL's own catalog) before Django connects.
    "mall/embedded_postgres.py",
}

# Deliberate exceptions to "an app's SQL names only its own tables": (SQL module, app whose
# tables it may name), each with its reason. Empty: every table is read and written by its owner.
FOREIGN_TABLES_ALLOWED: set[tuple[str, str]] = set()

# Running SQL: mall.db helpers that execute or build statement text, and Django's raw SQL.
SQL_RUNNERS = {"execute_prepared", "execute_hot", "select_list", "insert_statement", "RawSQL"}
RAW_QUERYSET_METHODS = {"raw", "extra"}
# mall.db helpers given a model, whose table they then name.
MODEL_TABLE_HELPERS = {"select_list", "insert_statement", "models_from_rows"}

# Statement text: uppercase keywords in the shape of a statement (prose rarely shouts them).
STATEMENT = re.compile(
    r"\bSELECT\b[\s\S]*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b"
    r"|\bWITH\s+\w+\s+AS\s*\("
)
# A string naming a table looks like SQL when it has an uppercase keyword, starts with a
# lowercase statement, or quotes the name ("catalog_product"."search_vector").
SQL_WORD = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|JOIN|INTO|WHERE)\b"
    r"|^\s*\(?\s*(select|insert|update|delete|with)\b"
)


@dataclass(frozen=True, order=True)
class Violation:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def table_owners() -> dict[str, str]:
    """{db_table: owning app package} for every model of the project's apps, m2m tables included."""
    owners = {}
    for config in apps.get_app_configs():
        package = config.name.split(".")[0]
        if (ROOT / package).is_dir():
            for model in config.get_models(include_auto_created=True):
                owners[model._meta.db_table] = package
    return owners


def _string_text(node: ast.AST) -> str | None:
    """The text of a string literal; an f-string's values stand as {}."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else "{}"
            for v in node.values
        )
    return None


def _skipped_strings(tree: ast.AST) -> set[int]:
    """Docstrings (prose), and the pieces of f-strings (read whole, as their f-string)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            found.update(id(value) for value in node.values)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and _string_text(body[0].value) is not None:
                found.add(id(body[0].value))
    return found


def _imported_roots(tree: ast.AST) -> dict[str, str]:
    """{local name: top-level package it was imported from}."""
    roots = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                roots[alias.asname or alias.name] = node.module.split(".")[0]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                roots[alias.asname or alias.name.split(".")[0]] = alias.name.split(".")[0]
    return roots


def _base_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def sql_boundary_violations(path: str, source: str, owners: dict[str, str]) -> list[Violation]:
    """What breaks the SQL boundary in one file; `path` is relative to the project, with /."""
    app = path.split("/")[0]
    home = "mall/db.py" if app == "mall" else f"{app}/sql.py"  # mall's: the helpers themselves
    in_sql_module = path == home
    tree = ast.parse(source, filename=path)
    skipped = _skipped_strings(tree)
    imported = _imported_roots(tree)
    apps_with_tables = set(owners.values())
    table_pattern = re.compile(r'("?)\b(' + "|".join(map(re.escape, sorted(owners))) + r')\b("?)')
    found: set[Violation] = set()

    def add(node: ast.AST, what: str) -> None:
        found.add(Violation(path, node.lineno, what))

    def foreign(root: str | None) -> bool:
        return (
            root in apps_with_tables and root != app and (home, root) not in FOREIGN_TABLES_ALLOWED
        )

    def foreign_model(node: ast.AST) -> str | None:
        root = imported.get(_base_name(node) or "")
        return root if foreign(root) else None

    for node in ast.walk(tree):
        if not in_sql_module:
            if isinstance(node, ast.Attribute) and node.attr == "cursor":
                receiver = ast.unparse(node.value)
                if "connection" in receiver:
                    add(node, f"{receiver}.cursor outside {home}")
            if isinstance(node, ast.Name) and node.id in SQL_RUNNERS:
                add(node, f"{node.id} outside {home}")
            if isinstance(node, ast.Attribute) and node.attr in SQL_RUNNERS:
                add(node, f"{node.attr} outside {home}")
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in SQL_RUNNERS:
                        add(node, f"import of {alias.name} outside {home}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in RAW_QUERYSET_METHODS
            ):
                add(node, f".{node.func.attr}() (raw SQL) outside {home}")
        else:
            # An SQL module names only its own app's tables, through models as well.
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.level == 0
                and node.module.split(".")[1:2] == ["models"]
                and foreign(node.module.split(".")[0])
            ):
                add(node, f"import of {node.module} in {app}'s SQL (another app's tables)")
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "_meta"
                and (root := foreign_model(node.value))
            ):
                add(node, f"{ast.unparse(node)}: a table of {root} in {app}'s SQL")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name | ast.Attribute)
                and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr)
                in MODEL_TABLE_HELPERS
                and node.args
                and (root := foreign_model(node.args[0]))
            ):
                add(
                    node,
                    f"{ast.unparse(node.func)}({ast.unparse(node.args[0])}, …): a table of {root} in {app}'s SQL",
                )

        text = _string_text(node)
        if text is None or id(node) in skipped:
            continue
        if not in_sql_module and STATEMENT.search(text):
            add(node, f"SQL statement text outside {home}: {text.strip()[:60]!r}")
        for match in table_pattern.finditer(text):
            quoted, table = match.group(1) == '"' == match.group(3), match.group(2)
            if not (quoted or SQL_WORD.search(text)):
                continue
            if not in_sql_module:
                add(node, f"SQL naming table {table} outside {home}")
            elif foreign(owners[table]):
                add(node, f"table {table} of {owners[table]} in {app}'s SQL")
    return sorted(found)


def project_files() -> Iterator[Path]:
    """Every Python file of the project's packages, less migrations, tests and exempt packages."""
    for package in sorted(ROOT.iterdir()):
        if package.name in EXEMPT_PACKAGES or not (package / "__init__.py").is_file():
            continue
        for path in sorted(package.rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "migrations" in parts or "tests" in parts or "/".join(parts) in EXEMPT_FILES:
                continue
            yield path


def test_hand_written_sql_lives_in_the_owning_apps_sql_module():
    owners = table_owners()
    violations = []
    for path in project_files():
        relative = path.relative_to(ROOT).as_posix()
        violations += sql_boundary_violations(relative, path.read_text(encoding="utf-8"), owners)
    if violations:
        pytest.fail(
            f"{len(violations)} breaches of the SQL boundary (hand-written SQL lives in "
            "<app>/sql.py and names only that app's tables; docs/architecture.md):\n"
            + "\n".join(map(str, violations)),
            pytrace=False,
        )


# The scan itself, on small made-up modules: each way of writing SQL outside sql.py is found,
# and an app's sql.py may name only its own tables.

OWNERS = {"catalog_sku": "catalog", "orders_order": "orders", "orders_orderline": "orders"}


def _found(path: str, source: str) -> list[str]:
    return [f"{v.line}: {v.what}" for v in sql_boundary_violations(path, source, OWNERS)]


def test_the_scan_finds_each_way_of_running_sql_outside_sql_py():
    source = '''\
"""Reads from orders_order (a docstring: prose, not SQL)."""
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from mall.db import execute_hot, execute_prepared, select_list
from mall import db

def f(Order):
    with connection.cursor() as cursor:
        execute_prepared(cursor, "SELECT 1", [])
    transaction.get_connection().cursor()
    execute_hot(_SQL, [])
    db.execute_hot(_SQL, [])
    Order.objects.raw("SELECT * FROM orders_order")
    Order.objects.extra(where=["id > 1"])
    return RawSQL("rank()", []), select_list(Order, "o")

_SQL = f"UPDATE {T} SET paid = true WHERE id = %s"
_NAMED = 'SELECT * FROM "catalog_sku"'
_QUOTED = '"orders_orderline"."amount"'
NOT_SQL = ("admin:orders_order_change", "the orders_order table", "Select a product")
'''
    found = _found("orders/services/x.py", source)
    assert found == [
        "3: import of RawSQL outside orders/sql.py",
        "4: import of execute_hot outside orders/sql.py",
        "4: import of execute_prepared outside orders/sql.py",
        "4: import of select_list outside orders/sql.py",
        "8: connection.cursor outside orders/sql.py",
        "9: execute_prepared outside orders/sql.py",
        "10: transaction.get_connection().cursor outside orders/sql.py",
        "11: execute_hot outside orders/sql.py",
        "12: execute_hot outside orders/sql.py",
        "13: .raw() (raw SQL) outside orders/sql.py",
        "13: SQL naming table orders_order outside orders/sql.py",
        "13: SQL statement text outside orders/sql.py: 'SELECT * FROM orders_order'",
        "14: .extra() (raw SQL) outside orders/sql.py",
        "15: RawSQL outside orders/sql.py",
        "15: select_list outside orders/sql.py",
        "17: SQL statement text outside orders/sql.py: 'UPDATE {} SET paid = true WHERE id = %s'",
        "18: SQL naming table catalog_sku outside orders/sql.py",
        "18: SQL statement text outside orders/sql.py: 'SELECT * FROM \"catalog_sku\"'",
        "19: SQL naming table orders_orderline outside orders/sql.py",
    ]


def test_an_apps_sql_module_runs_sql_on_its_own_tables_only():
    source = """\
from django.db import connection
from catalog.models import Sku
from mall.db import execute_hot, select_list
from orders.models import Order

_MINE = f"SELECT {select_list(Order, 'o')} FROM {Order._meta.db_table} o JOIN orders_orderline l"
_THEIRS = "UPDATE catalog_sku SET stock = stock - %s WHERE id = %s"
_VIA_MODEL = f"SELECT 1 FROM {Sku._meta.db_table} WHERE id = %s"
_VIA_HELPER = f"SELECT {select_list(Sku, 's')} FROM x"

def run():
    with connection.cursor() as cursor:
        return execute_hot(_MINE, [])
"""
    assert _found("orders/sql.py", source) == [
        "2: import of catalog.models in orders's SQL (another app's tables)",
        "7: table catalog_sku of catalog in orders's SQL",
        "8: Sku._meta: a table of catalog in orders's SQL",
        "9: select_list(Sku, …): a table of catalog in orders's SQL",
    ]
    # The same text anywhere else in orders is out of place as a whole.
    assert len(_found("orders/selectors.py", source)) > 3
    # mall's SQL module is mall/db.py; shop owns no tables, so its sql.py may name none.
    assert _found("mall/db.py", "def ping(c):\n    c.connection.cursor()\n") == []
    assert _found("shop/sql.py", "Q = 'SELECT 1 FROM orders_order'\n") == [
        "1: table orders_order of orders in shop's SQL"
    ]


# The ORM boundary: domain code reaches another app's tables only through that app's selectors
# and services, never through its model managers. Interfaces (api, admin, tasks, management
# commands) and the demo seeds (ops tooling) may compose several apps' models; so may tests.
INTERFACE_PARTS = {"api", "admin", "tasks", "management", "tests", "migrations"}
MANAGERS = {"objects", "_default_manager", "_base_manager"}

# Deliberate exceptions: (module, model name), each with its reason. Empty: every app's domain
# code reads and writes other apps' tables through their owners' selectors and services.
FOREIGN_MANAGERS_ALLOWED: set[tuple[str, str]] = set()


def is_interface(path: str) -> bool:
    """An interface module (api, admin, tasks, management, tests, migrations) or a demo seed."""
    parts = path.removesuffix(".py").split("/")
    return bool(INTERFACE_PARTS.intersection(parts)) or parts[-1].startswith("demo")


def _foreign_models(tree: ast.AST, app: str) -> tuple[dict[str, str], dict[str, str]]:
    """({model name: owning app}, {models module alias: owning app}) imported from other apps."""
    names, modules = {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root, *rest = node.module.split(".")
            if root == app:
                continue
            for alias in node.names:
                if rest[:1] == ["models"]:
                    names[alias.asname or alias.name] = root
                elif not rest and alias.name == "models" and (ROOT / root).is_dir():
                    modules[alias.asname or alias.name] = root
        elif isinstance(node, ast.Import):
            for alias in node.names:
                root, *rest = alias.name.split(".")
                if root != app and rest[:1] == ["models"] and alias.asname:
                    modules[alias.asname] = root
    return names, modules


def foreign_manager_violations(path: str, source: str) -> list[Violation]:
    """Another app's model manager used by domain code in one file; `path` as above."""
    if is_interface(path):
        return []
    app = path.split("/")[0]
    tree = ast.parse(source, filename=path)
    names, modules = _foreign_models(tree, app)
    found: set[Violation] = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr in MANAGERS):
            continue
        model, owner = node.value, None
        if isinstance(model, ast.Name):
            owner = names.get(model.id)
        elif isinstance(model, ast.Attribute) and isinstance(model.value, ast.Name):
            owner = modules.get(model.value.id)
        elif (
            isinstance(model, ast.Attribute)
            and isinstance(model.value, ast.Attribute)
            and model.value.attr == "models"
            and isinstance(model.value.value, ast.Name)
        ):
            root = model.value.value.id  # orders.models.Order.objects, after `import orders.models`
            owner = root if root != app and (ROOT / root).is_dir() else None
        name = ast.unparse(model)
        if owner and (path, name) not in FOREIGN_MANAGERS_ALLOWED:
            found.add(
                Violation(path, node.lineno, f"{name}.{node.attr}: {owner}'s table, used by {app}")
            )
    return sorted(found)


def test_domain_code_uses_other_apps_tables_through_their_selectors_and_services():
    violations = []
    for path in project_files():
        relative = path.relative_to(ROOT).as_posix()
        violations += foreign_manager_violations(relative, path.read_text(encoding="utf-8"))
    if violations:
        pytest.fail(
            f"{len(violations)} uses of another app's model manager in domain code (call the "
            "owning app's selectors and services; docs/architecture.md):\n"
            + "\n".join(map(str, violations)),
            pytrace=False,
        )


def _managers_found(path: str, source: str) -> list[str]:
    return [f"{v.line}: {v.what}" for v in foreign_manager_violations(path, source)]


def test_the_scan_finds_another_apps_manager_in_domain_code_only():
    source = """\
import orders.models
from members import models as member_models
from orders.models import Order, OrderLine as Line
from orders.selectors import order_lock_for_refund

from ..models import Refund

class Payment:
    order: Order  # an annotation: allowed

def pay(thing: object, order_id: int) -> Order:
    if isinstance(thing, Order):  # allowed
        return thing
    Refund.objects.filter(order_id=order_id)  # payments' own table
    order_lock_for_refund(order_id=order_id)  # the owner's selector
    Order.objects.select_for_update(of=("self",)).get(pk=order_id)
    Line._default_manager.filter(order_id=order_id)
    Order._base_manager.get(pk=order_id)
    member_models.Member.objects.get(pk=1)
    return orders.models.Order.objects.get(pk=order_id)
"""
    assert _managers_found("payments/services/x.py", source) == [
        "16: Order.objects: orders's table, used by payments",
        "17: Line._default_manager: orders's table, used by payments",
        "18: Order._base_manager: orders's table, used by payments",
        "19: member_models.Member.objects: members's table, used by payments",
        "20: orders.models.Order.objects: orders's table, used by payments",
    ]
    # The interfaces, the demo seeds and the tests may compose several apps' models.
    for interface in (
        "payments/admin.py",
        "payments/admin/refunds.py",
        "payments/tasks.py",
        "marketing/tasks/journeys.py",
        "payments/api/views.py",
        "payments/management/commands/reconcile.py",
        "payments/tests/test_x.py",
        "marketing/demo_coupons.py",
        "members/demo.py",
    ):
        assert _managers_found(interface, source) == [], interface
    # An app's own models, through any import, are its own.
    assert _managers_found("orders/services/x.py", source) == [
        "19: member_models.Member.objects: members's table, used by orders"
    ]
    # A model FK to another app's model is a definition, not a query.
    assert (
        _managers_found(
            "payments/models.py",
            "from orders.models import Order\n"
            "class Refund:\n    order = ForeignKey(Order, on_delete=PROTECT)\n",
        )
        == []
    )
