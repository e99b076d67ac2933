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


def test_no_shell_or_subprocess_in_shipped_code():
    found = [
        f"{p.relative_to(ROOT)}:{n.lineno} {name}"
        for p in SHIPPED
        for n, name in calls(p)
        if name.startswith(("subprocess.", "os.system", "os.popen")) or any(k.arg == "shell" for k in n.keywords)
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
