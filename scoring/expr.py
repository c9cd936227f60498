"""Safe conditions for rules.

A rule's ``when:`` is a one-line expression such as ``days_to_resolve <= 7 and
tier == "red"``. It is parsed once at load time, checked against the declared
fields of the rule's event type (names, types, enum values), and evaluated by
`simpleeval <https://github.com/danthedeckie/simpleeval>`_, which walks the
syntax tree itself: there is no ``eval`` and no attribute access, so a rules
file cannot reach Python.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from simpleeval import DEFAULT_OPERATORS, EvalWithCompoundTypes

from scoring.errors import Problem

NUMBER, TEXT, BOOL, DATE = "number", "text", "bool", "date"

# Declared field type → the kind the checker reasons about.
KIND_OF = {"int": NUMBER, "decimal": NUMBER, "text": TEXT, "choice": TEXT, "bool": BOOL, "date": DATE}

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Name, ast.Load, ast.Constant,
    ast.List, ast.Tuple,
)
_ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_OP_TEXT: dict[type, str] = {
    ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
    ast.In: "in", ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
    ast.Not: "not", ast.USub: "-", ast.UAdd: "+",
}
# What a county administrator calls each construct a condition may not use (never Python's node
# names: "Call" or "Subscript" mean nothing to the reader). Every refused node type has an entry;
# ``plain_name`` falls back to a neutral phrase for any added in a later Python.
NODE_NAMES: dict[type, tuple[str, str]] = {
    ast.Call: ("函数调用(如 len(x))", "function calls such as len(x)"),
    ast.Attribute: ("属性访问(如 a.b)", "attribute access (a.b)"),
    ast.Subscript: ("下标(如 a[0])", "subscripts (a[0])"),
    ast.Slice: ("切片(如 a[1:2])", "slices (a[1:2])"),
    ast.Lambda: ("lambda 函数", "lambda functions"),
    ast.ListComp: ("推导式(如 [x for x in …])", "comprehensions ([x for x in …])"),
    ast.SetComp: ("推导式(如 {x for x in …})", "comprehensions ({x for x in …})"),
    ast.DictComp: ("推导式(如 {k: v for …})", "comprehensions ({k: v for …})"),
    ast.GeneratorExp: ("推导式(如 (x for x in …))", "comprehensions ((x for x in …))"),
    ast.IfExp: ("条件表达式(x if y else z)", "inline if-else (x if y else z)"),
    ast.Dict: ("字典 {…: …}", "dictionaries ({…: …})"),
    ast.Set: ("集合 {…}", "sets ({…})"),
    ast.NamedExpr: ("赋值 :=", "assignment (:=)"),
    ast.Starred: ("星号展开 *x", "unpacking (*x)"),
    ast.JoinedStr: ("格式化文字 f\"…\"", "f-strings (f\"…\")"),
    ast.FormattedValue: ("格式化文字 f\"…\"", "f-strings (f\"…\")"),
    ast.Await: ("await", "await"),
    ast.Yield: ("yield", "yield"),
    ast.YieldFrom: ("yield", "yield"),
    ast.Pow: ("乘方 **", "powers (**)"),
    ast.Mod: ("取余 %", "remainders (%)"),
    ast.FloorDiv: ("整除 //", "floor division (//)"),
    ast.MatMult: ("矩阵乘 @", "matrix products (@)"),
    ast.LShift: ("移位 <<", "bit shifts (<<)"),
    ast.RShift: ("移位 >>", "bit shifts (>>)"),
    ast.BitAnd: ("位运算 &", "bitwise and (&)"),
    ast.BitOr: ("位运算 |", "bitwise or (|)"),
    ast.BitXor: ("位运算 ^", "bitwise xor (^)"),
    ast.Invert: ("按位取反 ~", "bitwise not (~)"),
    ast.Is: ("is(比较请用 ==)", "'is' (compare with ==)"),
    ast.IsNot: ("is not(比较请用 !=)", "'is not' (compare with !=)"),
}
# Constants other than numbers, text and true/false, by their Python type.
CONSTANT_NAMES: dict[type, tuple[str, str]] = {
    type(None): ("空值 None", "the empty value None"),
    type(...): ("省略号 ...", "the ellipsis ..."),
    bytes: ("字节串 b\"…\"", "byte strings (b\"…\")"),
    complex: ("复数(如 1j)", "complex numbers (1j)"),
}


def plain_name(node: ast.AST) -> tuple[str, str]:
    """What a refused construct is called, in Chinese and English, for the reader."""
    if isinstance(node, ast.Constant):
        return CONSTANT_NAMES.get(type(node.value), ("这种写法", "this kind of value"))
    return NODE_NAMES.get(type(node), ("这种写法", "this construct"))


# Only the allowed operators reach the evaluator; numbers are exact (Decimal, never float).
_OPERATORS: dict[type, Any] = {
    **{op: fn for op, fn in DEFAULT_OPERATORS.items() if op in _ALLOWED},
    ast.Div: lambda a, b: Decimal(a) / Decimal(b),
}


@dataclass(frozen=True)
class FieldInfo:
    """What the checker knows of a name: its kind and, for a choice, the allowed values."""

    kind: str
    choices: tuple[str, ...] = ()


class _Checker:
    def __init__(self, fields: dict[str, FieldInfo], event: str):
        self.fields = fields
        self.event = event
        self.problems: list[Problem] = []

    def fail(self, at: ast.AST, code: str, hint: str = "", **params: Any) -> str:
        """Note a problem at the node's column within the condition (1-based)."""
        column = getattr(at, "col_offset", -1) + 1
        self.problems.append(Problem(code, params, column=column, hint=hint))
        return "?"

    def kind(self, node: ast.AST) -> str:
        if not isinstance(node, _ALLOWED):
            return self.fail(node, "expr_node", "hint_expr_allowed", node=plain_name(node))
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                return BOOL
            if isinstance(v, int | float | Decimal):
                return NUMBER
            if isinstance(v, str):
                return TEXT
            return self.fail(node, "expr_node", "hint_expr_allowed", node=plain_name(node))
        if isinstance(node, ast.Name):
            if node.id in ("True", "False"):
                return BOOL
            info = self.fields.get(node.id)
            if info is None:
                return self.fail(
                    node, "expr_name", "hint_fields", name=node.id, event=self.event,
                    allowed=", ".join(sorted(self.fields)) or "-",
                )
            return info.kind
        if isinstance(node, ast.BoolOp):
            for operand in node.values:
                k = self.kind(operand)
                if k not in (BOOL, "?"):
                    self.fail(operand, "expr_not_bool")
            return BOOL
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _ALLOWED):
                return self.fail(node, "expr_node", "hint_expr_allowed", node=plain_name(node.op))
            k = self.kind(node.operand)
            if isinstance(node.op, ast.Not):
                return BOOL
            if k not in (NUMBER, "?"):
                self.fail(node, "expr_type", left=k, right="-", op=_op_text(node.op))
            return NUMBER
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, _ALLOWED):
                return self.fail(node, "expr_node", "hint_expr_allowed", node=plain_name(node.op))
            left, right = self.kind(node.left), self.kind(node.right)
            if "?" not in (left, right) and (left, right) != (NUMBER, NUMBER):
                self.fail(node, "expr_type", left=left, right=right, op=_op_text(node.op))
            return NUMBER
        if isinstance(node, ast.List | ast.Tuple):
            kinds = {self.kind(e) for e in node.elts}
            return "list:" + (kinds.pop() if len(kinds) == 1 else "?")
        if isinstance(node, ast.Compare):
            left_node = node.left
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                if not isinstance(op, _ALLOWED):
                    self.fail(node, "expr_node", "hint_expr_allowed", node=plain_name(op))
                else:
                    self.compare(node, left_node, op, right_node)
                left_node = right_node
            return BOOL
        return self.fail(node, "expr_node", "hint_expr_allowed", node=plain_name(node))

    def compare(self, at: ast.AST, left: ast.AST, op: ast.cmpop, right: ast.AST) -> None:
        lk, rk = self.kind(left), self.kind(right)
        if "?" in (lk, rk):
            return
        if isinstance(op, ast.In | ast.NotIn):
            if not rk.startswith("list:") or rk[5:] not in (lk, "?"):
                self.fail(at, "expr_type", "hint_quote", left=lk, right=rk, op=_op_text(op))
                return
            assert isinstance(right, ast.List | ast.Tuple)
            for elt in right.elts:
                self.check_choice(left, elt)
            return
        if lk != rk:
            self.fail(at, "expr_type", "hint_quote", left=lk, right=rk, op=_op_text(op))
            return
        if isinstance(op, _ORDERING) and lk in (TEXT, BOOL):
            self.fail(at, "expr_type", left=lk, right=rk, op=_op_text(op))
            return
        self.check_choice(left, right)
        self.check_choice(right, left)

    def check_choice(self, name_node: ast.AST, value_node: ast.AST) -> None:
        if not isinstance(name_node, ast.Name) or not isinstance(value_node, ast.Constant):
            return
        info = self.fields.get(name_node.id)
        if info and info.choices and value_node.value not in info.choices:
            self.fail(
                value_node, "expr_choice", name=name_node.id, value=value_node.value,
                allowed=", ".join(info.choices),
            )


def _op_text(op: ast.AST) -> str:
    return _OP_TEXT.get(type(op), type(op).__name__)


class _ExactNumbers(ast.NodeTransformer):
    """Float literals become Decimals, so ``hours <= 0.3`` compares exactly with a decimal field."""

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, float):
            exact = ast.Constant(Decimal(repr(node.value)))  # type: ignore[arg-type]  # simpleeval returns it as is
            return ast.copy_location(exact, node)
        return node


class Condition:
    """A checked, parsed condition; call it with an event's names to get true or false."""

    __slots__ = ("_evaluator", "_memo", "_order", "_tree", "names", "source")
    MEMO_SIZE = 4096

    def __init__(self, source: str, tree: ast.AST, names: frozenset[str]):
        self.source = source
        self._tree = tree
        self.names = names
        self._order = tuple(sorted(names))
        # A condition is a pure function of the few fields it names, and those take few
        # values (a status, a tier, a rating): remember each answer instead of walking
        # the tree again for every event.
        self._memo: dict[tuple[Any, ...], bool] = {}
        # No functions at all: a condition compares fields, nothing more.
        self._evaluator = EvalWithCompoundTypes(operators=_OPERATORS, functions={}, names={})

    def __call__(self, values: dict[str, Any]) -> bool:
        """Evaluate against an event's field values; a missing optional field never matches.

        Arithmetic that has no value for this event (a division by zero) does not match either.
        """
        key = tuple([values.get(n) for n in self._order])
        answer = self._memo.get(key)
        if answer is None:
            answer = self._evaluate(values, key)
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = answer
        return answer

    def _evaluate(self, values: dict[str, Any], key: tuple[Any, ...]) -> bool:
        if None in key:
            return False
        self._evaluator.names = values
        try:
            return bool(self._evaluator.eval(self.source, previously_parsed=self._tree))
        except (ArithmeticError, InvalidOperation):
            return False


# Likely causes of a condition Python cannot parse, from what the administrator wrote, each with
# the hint that fixes it; checked in order, the first that fits wins.
_SYNTAX_CAUSES: tuple[tuple[str, str], ...] = (
    (r"=<|=>", "hint_expr_order"),  # 3 =< hours: written the other way round
    (r"(?<![=!<>])=(?!=)", "hint_expr_eq"),  # tier = "red": one equals sign
    (r"并且|而且|或者|不是|不等于|大于|小于|等于", "hint_expr_words"),  # written in words
)


def syntax_problem(text: str, exc: SyntaxError) -> Problem:
    """A condition Python cannot parse, explained in the reader's words with its likely fix."""
    # Python gives no offset when the condition ends too early ("hours >"): point at its end.
    column = exc.offset if exc.offset and exc.lineno == 1 else len(text) + 1
    msg = exc.msg
    if msg.startswith("invalid character"):
        # A full-width or Chinese mark (“ ” （ ） ＝ ，): the usual slip of a Chinese keyboard.
        char = msg.split("'")[1] if msg.count("'") >= 2 else "?"
        return Problem("expr_char", {"char": char, "at": column}, column=column, hint="hint_expr_char")
    hint = "hint_expr_syntax"
    if "unterminated string" in msg:
        hint = "hint_expr_quote"
    elif "never closed" in msg or "unmatched" in msg or "does not match" in msg:
        hint = "hint_expr_paren"
    else:
        hint = next((h for pattern, h in _SYNTAX_CAUSES if re.search(pattern, text)), hint)
    return Problem("expr_syntax", {"at": column, "detail": msg}, column=column, hint=hint)


def compile_condition(
    source: str, fields: dict[str, FieldInfo], event: str
) -> tuple[Condition | None, list[Problem]]:
    """Parse and type-check a condition; return it, or the problems (column-relative)."""
    text = source.strip()
    try:
        module = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        return None, [syntax_problem(text, exc)]
    checker = _Checker(fields, event)
    kind = checker.kind(module.body)
    if kind not in (BOOL, "?") and not checker.problems:
        checker.problems.append(Problem("expr_not_bool", column=1))
    if checker.problems:
        return None, checker.problems
    names = frozenset(
        n.id for n in ast.walk(module) if isinstance(n, ast.Name) and n.id not in ("True", "False")
    )
    tree = _ExactNumbers().visit(module).body
    return Condition(text, tree, names), []
