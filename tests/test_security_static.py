"""Static guards: no shell commands, no unpickling outside the one safe loader, safe bind defaults.

Greps the shipped code (not the tests) so a later change cannot quietly add a shell call or a
``torch.load`` that would execute code from a crafted checkpoint.
"""
import ast
from pathlib import Path

import app

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [p for d in ("vc_core", "ui", "scripts", "benchmarks") for p in (ROOT / d).rglob("*.py")] + [ROOT / "app.py"]


def calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


# The offline training runner starts its own stage modules (an argv list with sys.executable, no
# shell, no user input); nothing the app serves imports it.
ALLOWED_SUBPROCESS = {("vc_core/train/recipe.py", "subprocess.Popen")}


def test_no_shell_or_subprocess_in_shipped_code():
    found = [
        f"{p.relative_to(ROOT)}:{n.lineno} {name}"
        for p in SHIPPED
        for n, name in calls(p)
        if (name.startswith(("subprocess.", "os.system", "os.popen")) and (p.relative_to(ROOT).as_posix(), name) not in ALLOWED_SUBPROCESS)
        or any(k.arg == "shell" for k in n.keywords)
    ]
    assert not found, found


def test_only_the_safe_loader_unpickles():
    found = []
    for p in SHIPPED:
        for n, name in calls(p):
            if name in ("pickle.load", "pickle.loads", "eval", "exec") or name.endswith("torch.load") and p.name != "weights.py":
                found.append(f"{p.relative_to(ROOT)}:{n.lineno} {name}")
            if name.endswith("torch.load") and not any(k.arg == "weights_only" and getattr(k.value, "value", None) is True for k in n.keywords):
                found.append(f"{p.relative_to(ROOT)}:{n.lineno} torch.load without weights_only=True")
    assert not found, found


def test_binds_locally_and_shares_nothing_by_default(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    args = app.parse_args([])
    assert args.host == "127.0.0.1" and args.share is False
    monkeypatch.setenv("SPACE_ID", "user/space")
    assert app.parse_args([]).host == "0.0.0.0"


TEMP_FACTORIES = {"mkdtemp", "mkstemp", "TemporaryDirectory", "NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile"}


def test_temporary_files_get_unique_names():
    """Fixed names in a shared temp dir let one request read or clobber another's files (or a
    planted symlink redirect a write): only tempfile's unique-name factories are used."""
    found = []
    for p in SHIPPED:
        tree = ast.parse(p.read_text(), str(p))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "tempfile":
                if node.attr not in TEMP_FACTORIES:
                    found.append(f"{p.relative_to(ROOT)}:{node.lineno} tempfile.{node.attr}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(("/tmp", "/var/tmp", "/dev/shm")):
                found.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found, found


# Process-wide state that never holds anything from a request: model caches (keyed by name, path
# and device) and the attention backend chosen at start-up.
PROCESS_STATE = {"vc_core/pipeline.py": {"_loaded"}, "vc_core/tasks.py": {"_annotators"}, "vc_core/models/attention.py": {"_backend"}}
MUTATORS = {"append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem", "clear", "remove", "discard", "__setitem__"}
CONTAINER_CALLS = {"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "Counter"}


def _module_containers(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) and node.value else []
        value = getattr(node, "value", None)
        mutable = isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)) or (
            isinstance(value, ast.Call) and ast.unparse(value.func).rsplit(".", 1)[-1] in CONTAINER_CALLS
        )
        if mutable:
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def test_no_request_data_in_module_globals():
    """Per-user data lives in the request (or the per-app context), never in module state that
    every session shares: no function writes a module-level container or declares a global."""
    found = []
    for p in [q for q in SHIPPED if {"ui", "vc_core"} & set(q.relative_to(ROOT).parts[:1])]:
        tree = ast.parse(p.read_text(), str(p))
        allowed = PROCESS_STATE.get(str(p.relative_to(ROOT)), set())
        shared = _module_containers(tree) - allowed
        for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))):
            for node in ast.walk(func):
                if isinstance(node, ast.Global) and set(node.names) - allowed:
                    found.append(f"{p.relative_to(ROOT)}:{node.lineno} global {', '.join(node.names)}")
                target = None
                if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
                    for t in getattr(node, "targets", None) or [node.target]:
                        if isinstance(t, ast.Subscript):
                            target = t.value
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
                    target = node.func.value
                if isinstance(target, ast.Name) and target.id in shared:
                    found.append(f"{p.relative_to(ROOT)}:{node.lineno} writes module-level {target.id}")
    assert not found, found
