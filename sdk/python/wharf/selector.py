"""Label selectors: matching labels against a ``LabelSelector`` and writing it
as the text a list call takes (``app=web,tier in (a,b)``), as apimachinery's
``LabelSelectorAsSelector`` and ``labels.Parse`` do.

>>> selector = {"matchLabels": {"app": "web"},
...             "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]}
>>> matches(selector, {"app": "web", "tier": "a"})
True
>>> str(Selector.from_label_selector(selector))
'app=web,tier in (a,b)'
>>> Selector.parse("app=web,tier in (a,b)") == Selector.from_label_selector(selector)
True
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .errors import Invalid

__all__ = ["Selector", "Requirement", "Operator", "matches"]


class Operator(enum.Enum):
    """How a :class:`Requirement` compares a label."""

    EQUALS = "="  # key=value (also key==value)
    NOT_EQUALS = "!="  # the label is absent or has another value
    IN = "in"  # key in (a,b)
    NOT_IN = "notin"  # the label is absent or has none of the values
    EXISTS = "exists"  # key
    DOES_NOT_EXIST = "!"  # !key


_EXPRESSION_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}
_LABEL_CHARS = re.compile(r"[A-Za-z0-9._/-]*")
_VALUE = re.compile(r"[A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Requirement:
    """One condition on one label. ``values`` are sorted: one for the
    equalities, at least one for ``IN``/``NOT_IN``, none for the existence
    operators."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: Operator, values: Iterable[str] = ()) -> Requirement:
        """A checked requirement; :class:`~wharf.errors.Invalid` when the key,
        a value or the number of values is wrong for the operator."""
        unique = tuple(sorted(set(values)))
        if not key or len(key) > 317 or not _LABEL_CHARS.fullmatch(key):
            raise Invalid(f"{key!r} is not a valid label key")
        for value in unique:
            if not _VALUE.fullmatch(value):
                raise Invalid(f"{value!r} is not a valid label value")
        count_ok = {
            Operator.EQUALS: len(unique) == 1,
            Operator.NOT_EQUALS: len(unique) == 1,
            Operator.IN: len(unique) >= 1,
            Operator.NOT_IN: len(unique) >= 1,
            Operator.EXISTS: not unique,
            Operator.DOES_NOT_EXIST: not unique,
        }[operator]
        if not count_ok:
            raise Invalid(
                f"label selector requirement on {key!r}: operator {operator.name} "
                f"cannot take {len(unique)} value(s)"
            )
        return cls(key, operator, unique)

    def matches(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.operator in (Operator.EQUALS, Operator.IN):
            return value is not None and value in self.values
        if self.operator in (Operator.NOT_EQUALS, Operator.NOT_IN):
            return value is None or value not in self.values
        if self.operator is Operator.EXISTS:
            return value is not None
        return value is None

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EQUALS:
            return f"{self.key}={self.values[0]}"
        if op is Operator.NOT_EQUALS:
            return f"{self.key}!={self.values[0]}"
        if op is Operator.IN:
            return f"{self.key} in ({','.join(self.values)})"
        if op is Operator.NOT_IN:
            return f"{self.key} notin ({','.join(self.values)})"
        if op is Operator.EXISTS:
            return self.key
        return f"!{self.key}"


@dataclass(frozen=True)
class Selector:
    """A parsed label selector: requirements that must all hold, sorted by
    key. The empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def everything(cls) -> Selector:
        return cls()

    def is_everything(self) -> bool:
        return not self.requirements

    @classmethod
    def from_label_selector(cls, selector: Mapping[str, Any]) -> Selector:
        """The selector a ``LabelSelector`` dict means: ``matchLabels`` as
        equalities, ``matchExpressions`` with ``In``, ``NotIn``, ``Exists``,
        ``DoesNotExist``. An empty one matches everything; an unknown
        operator or a wrong number of values is :class:`~wharf.errors.Invalid`."""
        requirements = [
            Requirement.new(key, Operator.EQUALS, [value])
            for key, value in (selector.get("matchLabels") or {}).items()
        ]
        for expression in selector.get("matchExpressions") or []:
            name = expression.get("operator", "")
            operator = _EXPRESSION_OPERATORS.get(name)
            if operator is None:
                raise Invalid(f"{name!r} is not a valid label selector operator")
            requirements.append(
                Requirement.new(expression.get("key", ""), operator, expression.get("values") or [])
            )
        return cls._sorted(requirements)

    @classmethod
    def parse(cls, text: str) -> Selector:
        """Parses the text form (``app=web,tier in (a,b),!canary``), as
        ``labels.Parse`` does (without the ``>``/``<`` operators)."""
        return _Parser(text).parse()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether ``labels`` (an object's, possibly ``None``) satisfy every requirement."""
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        """The text a list call takes; empty for the everything selector."""
        return ",".join(str(requirement) for requirement in self.requirements)

    @classmethod
    def _sorted(cls, requirements: list[Requirement]) -> Selector:
        return cls(tuple(sorted(requirements, key=lambda requirement: requirement.key)))


def matches(selector: Mapping[str, Any] | str | None, labels: Mapping[str, str] | None) -> bool:
    """Whether ``labels`` match ``selector``: a ``LabelSelector`` dict or the
    text form. As in Kubernetes, an empty selector matches everything and
    ``None`` (a selector that is not set) matches nothing."""
    if selector is None:
        return False
    parsed = Selector.parse(selector) if isinstance(selector, str) else Selector.from_label_selector(selector)
    return parsed.matches(labels)


class _Parser:
    """A small recursive-descent parser over the selector text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def parse(self) -> Selector:
        self._skip_spaces()
        if self._at_end():
            return Selector.everything()
        requirements = []
        while True:
            requirements.append(self._requirement())
            self._skip_spaces()
            if self._at_end():
                return Selector._sorted(requirements)
            self._expect(",")

    def _requirement(self) -> Requirement:
        self._skip_spaces()
        if self._eat("!"):
            return Requirement.new(self._word(), Operator.DOES_NOT_EXIST)
        key = self._word()
        self._skip_spaces()
        if self._at_end() or self._peek(","):
            return Requirement.new(key, Operator.EXISTS)
        if self._eat("!="):
            return Requirement.new(key, Operator.NOT_EQUALS, [self._value()])
        if self._eat("==") or self._eat("="):
            return Requirement.new(key, Operator.EQUALS, [self._value()])
        word = self._word()
        if word == "in":
            operator = Operator.IN
        elif word == "notin":
            operator = Operator.NOT_IN
        else:
            raise self._error("expected =, ==, !=, in or notin")
        self._skip_spaces()
        self._expect("(")
        values: list[str] = []
        self._skip_spaces()
        if not self._eat(")"):
            while True:
                values.append(self._value())
                self._skip_spaces()
                if self._eat(")"):
                    break
                self._expect(",")
        return Requirement.new(key, operator, values)

    def _value(self) -> str:
        self._skip_spaces()
        return self._word()

    def _word(self) -> str:
        match = _LABEL_CHARS.match(self.text, self.position)
        word = match.group() if match else ""
        self.position += len(word)
        return word

    def _skip_spaces(self) -> None:
        while not self._at_end() and self.text[self.position].isspace():
            self.position += 1

    def _at_end(self) -> bool:
        return self.position >= len(self.text)

    def _peek(self, token: str) -> bool:
        return self.text.startswith(token, self.position)

    def _eat(self, token: str) -> bool:
        if self._peek(token):
            self.position += len(token)
            return True
        return False

    def _expect(self, token: str) -> None:
        if not self._eat(token):
            raise self._error(f"expected {token!r}")

    def _error(self, message: str) -> Invalid:
        return Invalid(f"label selector {self.text!r} at {self.position}: {message}")
