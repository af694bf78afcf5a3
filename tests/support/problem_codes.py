"""Every problem code and scan reason the source can produce, read from the source itself
(so that a new code without a catalog entry fails tests/unit/test_catalogs.py).

Problem codes: the literal ``code`` of every ``AppError`` subclass call (second positional
argument or ``code=``), every ``default_code``, the status map of onecode/errors.py, every
``code=`` keyword given a dotted literal (``clean_text(..., code="reviews.bad_text")``),
every literal ``problem_response(...)`` code, and the ``'code', '...'`` pairs the SQL
rule files build. Scan reasons: the ``ScanReason`` vocabulary of onecode/gates/rules.py,
the ``Reason`` enum of the credential, every reason the gate rules in SQL assign, and the
reasons the gate agent decides locally (so a reason used outside the vocabulary fails too).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "onecode"
SQL = ROOT / "sql"

_ERROR_CLASSES = {
    "AppError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "PayloadTooLarge",
    "Unprocessable",
    "TooManyRequests",
    "Unavailable",
}
_DOTTED = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_SQL_CODE = re.compile(r"'code',\s*'([a-z][a-z0-9_.]*)'")
_SQL_REASON = re.compile(r"v_reason\s*:=\s*'([a-z_]+)'")
_SQL_REASON_CASE = re.compile(r"reason\s*=\s*'([a-z_]+)'")


def _str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _python_files() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "static" not in p.parts]


def _call_codes(node: ast.Call) -> list[str | None]:
    name = _name(node.func)
    found: list[str | None] = []
    if name in _ERROR_CLASSES and len(node.args) >= 2:
        found.append(_str(node.args[1]))
    if name == "problem_response" and len(node.args) >= 4:
        found.append(_str(node.args[3]))
    found += [
        code
        for kw in node.keywords
        if kw.arg == "code" and (code := _str(kw.value)) and _DOTTED.match(code)
    ]
    return found


def _assign_codes(node: ast.Assign | ast.AnnAssign) -> list[str | None]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    value = node.value
    found: list[str | None] = []
    for target in targets:
        # ``status, title, default_code = 404, "Not found", "not_found"``
        if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            found += [
                _str(v)
                for t, v in zip(target.elts, value.elts, strict=False)
                if isinstance(t, ast.Name) and t.id == "default_code"
            ]
        if isinstance(target, ast.Name) and target.id == "default_code":
            found.append(_str(value))
        # the HTTP status map of onecode/errors.py
        if (
            isinstance(target, ast.Name)
            and target.id == "_HTTP_CODES"
            and isinstance(value, ast.Dict)
        ):
            found += [_str(v) for v in value.values]
    return found


def problem_codes() -> set[str]:
    codes: set[str] = set()
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                codes.update(c for c in _call_codes(node) if c)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                codes.update(c for c in _assign_codes(node) if c)
            elif (
                # ``(Conflict, "bookings.slot_full", "sentence")``: an outcome -> error table
                isinstance(node, ast.Tuple)
                and len(node.elts) >= 2
                and _name(node.elts[0]) in _ERROR_CLASSES
                and (code := _str(node.elts[1])) is not None
            ):
                codes.add(code)
    for path in SQL.rglob("*.sql"):
        codes.update(_SQL_CODE.findall(path.read_text(encoding="utf-8")))
    return codes


def scan_reasons() -> set[str]:
    from onecode.codes.credential import Reason
    from onecode.gates.rules import ScanReason

    # the vocabulary (onecode/gates/rules.py), and whatever the code assigns besides
    reasons = {r.value for r in ScanReason} | {r.value for r in Reason}
    for path in (SQL / "functions").glob("*.sql"):
        text = path.read_text(encoding="utf-8")
        reasons.update(_SQL_REASON.findall(text))
    agent = (ROOT / "onecode_gate" / "agent.py").read_text(encoding="utf-8")
    reasons.update(_SQL_REASON_CASE.findall(agent))
    tree = ast.parse(agent)
    for node in ast.walk(tree):
        # Decision("reject", "too_early", 0) and reason = "too_early" if ... else "too_late"
        if (
            isinstance(node, ast.Call)
            and _name(node.func) == "Decision"
            and len(node.args) >= 2
            and (reason := _str(node.args[1])) is not None
        ):
            reasons.add(reason)
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "reason" for t in node.targets
        ):
            for sub in ast.walk(node.value):
                if (reason := _str(sub)) is not None:
                    reasons.add(reason)
    return reasons
