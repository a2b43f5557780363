"""The suite's import graph runs one way: no cycle among experiments/ modules (imports inside
functions count), the tools import the registry and the data table, not each other, and
importing the report tool sets up no Hydra."""
import ast
import subprocess
import sys

from conftest import ROOT

PACKAGE = ROOT / "experiments"


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(module, node):
    """The experiments modules one import statement (anywhere in the file) names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    # "from pkg import name": the submodule pkg.name when there is one, else pkg itself
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def import_graph():
    graph = {}
    for module, path in MODULES.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets.update(t for t in _resolve(module, node) if t in MODULES and t != module)
        graph[module] = targets
    return graph


def find_cycle(graph):
    """One cycle of ``graph`` as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    # _settings composes an experiment's defaults through the registry inside a function
    assert "experiments.registry" in graph["experiments._settings"]


def test_no_import_cycle_among_experiments_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


TOOLS = ("experiments.cli", "experiments.report", "experiments.verdicts")


def test_the_tools_do_not_import_each_other():
    """cli, report and verdicts import the registry, the data table and the runner; only
    reproduce (the README's main job, which runs experiments and then renders the report and
    the verdict table) sits above report and verdicts."""
    graph = import_graph()
    for tool in TOOLS:
        assert not graph[tool] & {*TOOLS, "experiments.reproduce"}, (tool, graph[tool])
    assert "experiments.cli" not in graph["experiments.reproduce"]


def test_importing_the_report_tool_sets_up_no_hydra():
    code = ("import sys, experiments.report, experiments.verdicts, experiments.reproduce; "
            "from hydra.core.config_store import ConfigStore; "
            "print(sorted(ConfigStore.instance().repo))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    # nothing of ours registered (Hydra's own groups: hydra/..., _dummy_empty_config_)
    assert "runner_schema.yaml" not in done.stdout and "schema" not in done.stdout, done.stdout
