"""The house plan's import contracts (issue 12, docs/decisions/0028-house-plan.md).

Read from the source with ``ast``, nothing imported and no dependency added: every ``import`` and
``from ... import`` of every module, wherever it sits in the file (inside a function or an
``if TYPE_CHECKING:`` too), counts. Each test names the rule it checks; a failure lists the
offending ``module -> imported module`` lines. One more rule of the same plan is read the same way:
a repository hands back entities or plain values, never a database row.
"""

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AS = "authorization_server"
#: The one import package the four folders are imported under (docs/decisions/0036-packaging.md).
UMBRELLA = "mcp_authz"
DOMAIN = (
    "accounts",
    "clients",
    "consents",
    "identity_providers",
    "journeys",
    "mcp_servers",
    "tokens",
    "workload_issuers",
)
#: The root modules every layer may use: they import no package of the authorization server.
LEAF_HELPERS = (
    "change_versions",
    "clock",
    "db",
    "db_postgresql",
    "engines",
    "encryption",
    "errors",
    "metrics",
    "routes",
    "safe_fetch",
    "secrets_at_rest",
    "settings",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for program in (AS, "mcp_server", "client", "shared"):
        for path in sorted((ROOT / program).rglob("*.py")):
            found[module_name(path)] = path
    return found


def folder_name(imported: str) -> str:
    """A module by its folder's name: ``mcp_authz.client.cli`` is ``client/cli.py`` (decision 0036)."""
    return imported.removeprefix(f"{UMBRELLA}.")


@cache
def imports(module: str) -> frozenset[str]:
    """The project modules ``module`` imports (``from a import b`` counts ``a.b`` when it is a module)."""
    tree = ast.parse(modules()[module].read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [folder_name(alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            submodules = [f"{folder_name(node.module)}.{alias.name}" for alias in node.names]
            # ``from package import module`` imports the module; the package only if a name is not a module
            names = submodules + ([folder_name(node.module)] if any(s not in modules() for s in submodules) else [])
        else:
            continue
        out.update(name for name in names if name in modules())
    return frozenset(out)


def edges(prefix: str) -> Iterator[tuple[str, str]]:
    for module in modules():
        if module == prefix or module.startswith(prefix + "."):
            for imported in imports(module):
                yield module, imported


def inside(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def violations(prefix: str, forbidden) -> list[str]:
    return sorted(f"{a} -> {b}" for a, b in edges(prefix) if forbidden(a, b))


def test_web_never_imports_flow():
    """web/ is what endpoints share; it knows no protocol step (flow/)."""
    assert violations(f"{AS}.web", lambda a, b: inside(b, f"{AS}.flow")) == []


@pytest.mark.parametrize("domain", DOMAIN)
def test_domain_never_imports_flow_web_or_another_domains_repository(domain):
    """A domain module (entities, repository, service) imports no protocol step, no web/, no page, probe,
    upkeep or wiring module, and no other domain module's repository (docs/conventions/entities.md)."""
    own = f"{AS}.{domain}"
    layers = ("flow", "web", "account", "admin", "health", "maintenance", "cli", "app", "services")
    above = [f"{AS}.{p}" for p in layers]
    others = [f"{AS}.{d}.repository" for d in DOMAIN if d != domain]
    assert violations(own, lambda a, b: inside(b, *above, *others)) == []


@pytest.mark.parametrize("program", ["mcp_server", "client"])
def test_mcp_server_and_client_never_import_the_authorization_server(program):
    """The three programs know each other only over HTTP (docs/architecture.md)."""
    assert violations(program, lambda a, b: inside(b, AS)) == []


def test_shared_imports_none_of_the_three_programs():
    """shared/ is wire vocabulary under all three programs, so it imports none of them."""
    assert violations("shared", lambda a, b: inside(b, AS, "mcp_server", "client")) == []


def test_every_import_of_the_four_folders_goes_through_mcp_authz():
    """Issue 17 (packaging), decision 0036: the code imports ``mcp_authz.client``, never ``client``,
    so that the installed wheel (whose only top-level name is ``mcp_authz``) runs, and no module is
    loaded twice under two names. ``python scripts/rename_imports.py`` rewrites what this finds."""
    programs = (AS, "mcp_server", "client", "shared")
    paths = [ROOT / "client.py"] + [
        p for folder in (*programs, "tests", "scripts") for p in (ROOT / folder).rglob("*.py")
    ]
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in names if name.split(".")[0] in programs
            ]
    assert found == []


def test_leaf_helpers_at_the_root_import_no_package():
    """The root holds wiring (app, services, __main__) and leaf helpers; a leaf helper imports only
    other leaf helpers, so every layer can use it without a cycle."""
    helpers = [f"{AS}.{name}" for name in LEAF_HELPERS]
    found = sorted(
        f"{a} -> {b}"
        for helper in helpers
        for a, b in edges(helper)
        if a == helper and inside(b, AS) and b not in helpers
    )
    assert found == []


def unit(module: str, depth: int) -> str | None:
    """The package ``module`` belongs to, ``depth`` levels below the authorization server; None at the root."""
    parts = module.split(".")
    if parts[0] != AS or len(parts) <= depth:
        return None
    if len(parts) == depth + 1 and modules()[module].name != "__init__.py":
        return None  # a module, not a package, at that level
    return ".".join(parts[: depth + 1])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(within: str, depth: int) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for a, b in edges(within):
        ua, ub = unit(a, depth), unit(b, depth)
        if ua and ub and ua != ub and inside(ua, within) and inside(ub, within):
            graph.setdefault(ua, set()).add(ub)
    return graph


def test_no_import_cycles_between_top_level_packages():
    """No two top-level packages of the authorization server (flow, web, the domain modules,
    account, admin, cli) import each other, directly or through others."""
    assert cycles(package_graph(AS, 1)) == []


def test_no_import_cycles_between_protocol_steps():
    """The protocol steps (flow/discovery, flow/token, ...) do not import each other in a circle:
    a later step may use an earlier one, never both ways."""
    assert cycles(package_graph(f"{AS}.flow", 2)) == []


def test_no_import_cycles_between_modules():
    """No module of the authorization server imports itself through others."""
    graph = {a: {b for b in imports(a) if inside(b, AS)} for a in modules() if inside(a, AS)}
    assert cycles(graph) == []


def test_no_repository_hands_back_a_database_row():
    """Issue 12 ("its repository hands raw rows back"), docs/conventions/entities.md: a repository turns rows into
    entities; no public function of a domain module's ``repository.py`` is annotated to return a ``Row``."""
    found = []
    for domain in DOMAIN:
        path = modules()[f"{AS}.{domain}.repository"]
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                returns = ast.unparse(node.returns) if node.returns else "(not annotated)"
                if "Row" in returns.replace("|", " ").split() or node.returns is None:
                    found.append(f"{domain}/repository.py {node.name} -> {returns}")
    assert found == []


def test_the_command_line_builds_no_service_of_its_own():
    """Issue 12 ("the command line goes through services.py like the server"): no module of cli/ calls a class
    of a domain service or of a use case (``...Service(``, ``...Providers(``, ``...Fetcher(``); it takes them
    from ``services.py``'s graph (``command_line_services``) or its factories, so both programs build each alike."""
    found = []
    for module, path in modules().items():
        if inside(module, f"{AS}.cli"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
                    name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
                    if name.endswith(("Service", "Providers", "Fetcher", "Directory", "Cache")):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}(")
    assert found == []


def test_every_route_of_the_app_is_a_path_of_routes_py():
    """Issue 12, docs/conventions/endpoints.md: every path the server serves is a constant of ``routes.py``;
    ``app.py`` declares its routes (``Route``, ``cors``, ``Mount``) with those names, never a string of its own."""
    found = []
    for node in ast.walk(ast.parse(modules()[f"{AS}.app"].read_text())):
        declares = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        if declares and node.func.id in ("Route", "cors", "Mount"):
            literals = [n for n in ast.walk(node.args[0]) if isinstance(n, ast.JoinedStr | ast.Constant)]
            if any(isinstance(n, ast.JoinedStr) or isinstance(n.value, str) for n in literals):
                found.append(f"app.py:{node.lineno} {ast.unparse(node.args[0])}")
    assert found == []


def test_the_contracts_see_the_layout():
    """The checks above read real modules: a renamed folder must not make them pass vacuously."""
    assert {f"{AS}.flow.token.endpoint", f"{AS}.web.params", f"{AS}.tokens.service"} <= set(modules())
    assert f"{AS}.flow" in {unit(a, 1) for a, _ in edges(AS)}
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
