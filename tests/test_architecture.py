"""The import graph of zoo/: layers point one way, no cycles, no private names, small modules.

Every module under zoo/ is parsed (never imported), so this test is fast and needs no TensorFlow.
Imports inside functions count like those at the top: a cycle hidden in a function is still a cycle.
The checker is a set of plain functions taking the folder that holds the package; the last tests run it
on small synthetic trees, so the checker itself is tested.
"""
import ast
import os
import textwrap
from collections import deque

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "zoo"

# The layers of the package, bottom to top: a module may import only modules of equal or lower rank.
# Keys are dotted prefixes matched by whole components ("zoo.train" covers zoo.train and
# zoo.train.loop, not zoo.training); the longest prefix wins. A module under zoo/ that no prefix
# covers fails the test: add it here, at the rank of what it is.
#   0 core (zoo/core/: registry, search spaces, cards, weights, multiply-adds, argument checks,
#   moved names); 1 layers, 2 models (one module per family, and the family's helpers), 3 data
#   (every source), 4 roles (the pieces a task composes) and tasks (one module per task kind),
#   5 export, 6 training, 7 tuning (search) and benchmarks, 8 the command line.
# The package's own __init__ is exempt (it re-exports), but it takes part in the cycle check; and
# importing the package itself (`import zoo`, `from zoo import create_model`) is allowed only in the
# command line, since zoo/__init__ imports the layers below.
RANKS = {
    "zoo.core": 0,
    "zoo.layers": 1,
    "zoo.models": 2,
    "zoo.data": 3,
    "zoo.roles": 4,
    "zoo.tasks": 4,
    "zoo.export": 5,
    "zoo.train": 6,
    "zoo.tuning": 7,
    "zoo.bench": 7,
    "zoo.launch": 7,
    "zoo.cli": 8,
    "zoo.__main__": 8,
}
PACKAGE_IMPORTERS = ("zoo.cli", "zoo.__main__")
MAX_LINES = 600

CHECKS = ("unknown", "cycles", "private", "package", "layering", "size", "child")


# ------------------------------------------------------------------------------------------------
# The checker
# ------------------------------------------------------------------------------------------------


def _is_private(name):
    return name.startswith("_") and not name.startswith("__")


def find_modules(root, package=PACKAGE):
    """{dotted module name: path} for every .py file under root/package (packages by their name)."""
    mods = {}
    for d, dirs, files in os.walk(os.path.join(root, package)):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(d, f)
                name = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                mods[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return mods


def _owner(name, mods):
    """The longest prefix of the dotted `name` that is a module of ours, or None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in mods:
            return ".".join(parts[:i])
    return None


def _dotted(node):
    """['a', 'b', 'c'] for the expression a.b.c, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return None


class ModuleInfo:
    """What one module imports: edges {module: first line}, bindings, private uses, lines, children."""

    def __init__(self, name, path):
        self.name, self.path = name, path
        self.edges = {}
        self.private = []  # (line, text)
        self.children = []  # lines that run Python source given as a string (`python -c`)
        with open(path, encoding="utf-8") as f:
            self.source = f.read()
        self.lines = len(self.source.splitlines())

    def edge(self, target, line):
        if target != self.name:
            self.edges.setdefault(target, line)


def analyse_module(name, path, mods, package=PACKAGE):
    info = ModuleInfo(name, path)
    tree = ast.parse(info.source, filename=path)
    is_pkg = os.path.basename(path) == "__init__.py"
    here = name if is_pkg else name.rpartition(".")[0]
    bound = {}  # local name -> dotted name it stands for (a module of ours, or a prefix of one)

    def private_module_ok(target):
        # a private module (`zoo/layers/_impl.py`) is for the modules of its own package
        parts = target.split(".")
        for i, p in enumerate(parts):
            if _is_private(p) and not (name + ".").startswith(".".join(parts[:i]) + "."):
                return False
        return True

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                owner = _owner(a.name, mods)
                if owner is None:
                    continue
                info.edge(owner, node.lineno)
                if not private_module_ok(owner):
                    info.private.append((node.lineno, f"import {a.name}"))
                if a.asname:
                    bound[a.asname] = a.name
                else:
                    bound[a.name.split(".")[0]] = a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            if src != package and not src.startswith(package + "."):
                continue
            for a in node.names:
                full = f"{src}.{a.name}"
                if full in mods:
                    info.edge(full, node.lineno)
                    bound[a.asname or a.name] = full
                    if not private_module_ok(full):
                        info.private.append((node.lineno, f"from {src} import {a.name}"))
                    continue
                owner = _owner(src, mods)
                if owner is None:
                    continue
                info.edge(owner, node.lineno)
                if a.name != "*" and _is_private(a.name) and owner != name:
                    info.private.append((node.lineno, f"from {src} import {a.name}"))
                elif not private_module_ok(owner):
                    info.private.append((node.lineno, f"from {src} import {a.name}"))
        elif isinstance(node, (ast.List, ast.Tuple)):
            if any(isinstance(e, ast.Constant) and e.value == "-c" for e in node.elts):
                info.children.append(node.lineno)

    # module._name on a name bound to one of our modules (best effort: bindings ignore scopes)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load):
            continue
        chain = _dotted(node)
        if not chain or chain[0] not in bound:
            continue
        full = bound[chain[0]].split(".") + chain[1:]
        # the attribute right after the longest module prefix is a name of that module
        for i in range(len(full) - 1, 0, -1):
            mod = ".".join(full[:i])
            if mod in mods:
                attr = full[i]
                if i == len(full) - 1 and _is_private(attr) and mod != name and f"{mod}.{attr}" not in mods:
                    info.private.append((node.lineno, ".".join(chain)))
                break
    return info


def analyse_tree(root, package=PACKAGE):
    mods = find_modules(root, package)
    return {m: analyse_module(m, p, mods, package) for m, p in mods.items()}


def rank_of(name, ranks=RANKS):
    """The rank of the longest prefix of `name` (whole components) in `ranks`, or None."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in ranks:
            return ranks[prefix]
    return None


def strongly_connected(edges):
    """Tarjan's components of more than one module (iterative: no recursion limit)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def _shortest_cycle(first, comp, edges):
    """[first, ..., first]: a shortest cycle through `first` inside the component."""
    members = set(comp)
    prev, queue = {first: None}, deque([first])
    while queue:
        v = queue.popleft()
        for w in sorted(edges[v]):
            if w == first:
                path = [first]
                while v is not None:
                    path.append(v)
                    v = prev[v]
                return path[::-1]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return [first]


def check_tree(root, package=PACKAGE, ranks=RANKS, max_lines=MAX_LINES, package_importers=PACKAGE_IMPORTERS):
    """{check: [problem, ...]} for the package under root; every list empty when all is well."""
    infos = analyse_tree(root, package)
    found = {c: [] for c in CHECKS}
    for m, info in sorted(infos.items()):
        if m != package and rank_of(m, ranks) is None:
            found["unknown"].append(f"{m} ({info.path}) has no rank: add its prefix to RANKS in "
                                    f"tests/test_architecture.py")
    edges = {m: set(i.edges) for m, i in infos.items()}
    for comp in strongly_connected(edges):
        # one shortest cycle through each member that the cycles shown so far do not pass
        paths, covered = [], set()
        for m in comp:
            if m not in covered:
                path = _shortest_cycle(m, comp, edges)
                covered.update(path)
                paths.append(" -> ".join(f"{a}:{infos[a].edges[b]}" for a, b in zip(path, path[1:]))
                             + f" -> {m}")
        found["cycles"].append(f"import cycle among {', '.join(comp)} (module:line of its import of the "
                               f"next):\n    " + "\n    ".join(paths))
    for m, info in sorted(infos.items()):
        rel = os.path.relpath(info.path, root)
        for line, text in sorted(info.private):
            found["private"].append(f"{rel}:{line}: {text} takes a private name of another module")
        for t, line in sorted(info.edges.items()):
            if t == package and m not in package_importers:
                found["package"].append(f"{rel}:{line}: {m} imports the package `{package}` itself "
                                        f"(only {', '.join(package_importers)} may; import the module)")
        r = rank_of(m, ranks)
        if m != package and r is not None:
            for t, line in sorted(info.edges.items()):
                rt = rank_of(t, ranks)
                if t != package and rt is not None and rt > r:
                    found["layering"].append(f"{rel}:{line}: {m} (rank {r}) imports {t} (rank {rt})")
        if info.lines > max_lines:
            found["size"].append(f"{rel}: {info.lines} lines (at most {max_lines})")
        for line in info.children:
            found["child"].append(f"{rel}:{line}: runs Python source given as a string (`-c`); "
                                  f"make the child program a module and run it with `-m`")
    return found


# ------------------------------------------------------------------------------------------------
# The package
# ------------------------------------------------------------------------------------------------

_FOUND = {}


def _found():
    if not _FOUND:
        _FOUND.update(check_tree(ROOT))
    return _FOUND


@pytest.mark.parametrize("check", CHECKS)
def test_import_graph(check):
    problems = _found()[check]
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems)


# ------------------------------------------------------------------------------------------------
# The checker, on synthetic trees
# ------------------------------------------------------------------------------------------------


def _tree(tmp_path, files):
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return str(tmp_path)


GOOD = {
    "zoo/__init__.py": """
        from zoo import layers, models
        from zoo.core.registry import list_models
        """,
    "zoo/core/registry.py": "def list_models():\n    return []\n",
    "zoo/core/weights.py": "from zoo.core import registry\n_CACHE = {}\n",
    "zoo/layers/__init__.py": "from .dense import Dense\n",
    "zoo/layers/dense.py": (
        "from . import _impl\nfrom zoo.core.registry import list_models\nclass Dense: ...\n"),
    "zoo/layers/_impl.py": "X = 1\n",
    "zoo/models/__init__.py": "from zoo.models.net import net\n",
    "zoo/models/net.py": """
        import zoo.layers.dense as d
        from zoo.layers import Dense
        from ..core.weights import registry
        def net():
            from zoo.core import weights
            return d.Dense, weights
        """,
    "zoo/train/__init__.py": "",
    "zoo/train/loop.py": """
        import subprocess, sys
        from zoo.models import net
        def run():
            from zoo.tasks import image
            subprocess.run([sys.executable, "-m", "zoo.train.child"])
        """,
    "zoo/train/child.py": "print('child')\n",
    "zoo/tasks/__init__.py": "",
    "zoo/tasks/image.py": "from zoo.data import digits\n",
    "zoo/data/__init__.py": "",
    "zoo/data/digits.py": "import numpy\nfrom zoo.layers import dense\n",
    "zoo/cli.py": "import zoo\nfrom zoo.train import loop\n",
}


def test_checker_passes_a_good_tree(tmp_path):
    found = check_tree(_tree(tmp_path, GOOD))
    assert found == {c: [] for c in CHECKS}
    infos = analyse_tree(str(tmp_path))
    assert infos["zoo.models.net"].edges.keys() == {"zoo.layers.dense", "zoo.layers", "zoo.core.weights"}
    assert "zoo.tasks.image" in infos["zoo.train.loop"].edges  # inside a function: counts
    assert infos["zoo.layers.dense"].edges.keys() == {"zoo.layers._impl", "zoo.core.registry"}


def test_checker_finds_each_problem(tmp_path):
    files = dict(GOOD)
    files.update({
        # a cycle through an import inside a function, and a layering breach (registry -> train)
        "zoo/core/registry.py": "def list_models():\n    from zoo.train import loop\n    return []\n",
        # private names: relative and absolute from-imports, attribute of an imported module, a private
        # module of another package
        "zoo/models/net.py": GOOD["zoo/models/net.py"].replace("import registry", "import _CACHE"),
        "zoo/tasks/image.py": """
            from zoo.data import digits
            from zoo.core.weights import _CACHE
            from zoo.layers import _impl
            import zoo.layers.dense as dense
            def f():
                return dense._private, digits.public
            """,
        # the package itself, from below the command line
        "zoo/data/digits.py": "import zoo\nfrom zoo import list_models\n",
        # a long module, and a child program given as source
        "zoo/train/child.py": "import subprocess, sys\n" + "x = 1\n" * 700
        + "subprocess.run([sys.executable, '-c', 'print(1)'])\n",
        # a module the rank table does not know
        "zoo/stray.py": "from zoo.core import registry\n",
    })
    found = check_tree(_tree(tmp_path, files))
    assert len(found["unknown"]) == 1 and "zoo.stray" in found["unknown"][0]
    assert "add its prefix to RANKS" in found["unknown"][0]
    cycles = found["cycles"]
    assert len(cycles) == 1
    for m in ("zoo.core.registry", "zoo.train.loop", "zoo.models.net", "zoo.core.weights"):
        assert m in cycles[0]
    private = "\n".join(found["private"])
    assert "zoo/models/net.py:4: from zoo.core.weights import _CACHE" in private  # `from ..weights`
    assert "zoo/tasks/image.py:3: from zoo.core.weights import _CACHE" in private
    assert "from zoo.layers import _impl" in private
    assert "dense._private" in private
    assert "digits.public" not in private
    assert len(found["private"]) == 4, found["private"]
    assert len(found["package"]) == 1  # one line per importing module: the first
    assert "zoo/data/digits.py:1: zoo.data.digits imports the package `zoo`" in found["package"][0]
    assert any("zoo.core.registry (rank 0) imports zoo.train.loop (rank 6)" in p for p in found["layering"])
    assert len(found["size"]) == 1 and "zoo/train/child.py: 702 lines" in found["size"][0]
    assert len(found["child"]) == 1 and "zoo/train/child.py:702" in found["child"][0]


def test_rank_prefixes_match_whole_components():
    assert rank_of("zoo.train") == rank_of("zoo.train.loop") == 6
    assert rank_of("zoo.training") is None
    assert rank_of("zoo.layers._peephole_lstm_tf") == 1
    assert rank_of("zoo.models.resnet") == 2


def test_strongly_connected_components():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert sorted(strongly_connected(edges)) == [["a", "b", "c"], ["d", "e"]]
