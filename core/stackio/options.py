"""Options a format declares (name, type, bounds, default, doc), and the core's check of what a user passed.

A plugin never re-checks the type or range of a declared option: by the time
its `stackio_validate` or `stackio_load` runs, every option it receives has
the declared type, lies within the declared bounds, and `file@N` has been
reconciled with the option that N names.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from .errors import ValidationError

#: Types an option may declare, with the words used in errors and docs.
_TYPE_WORDS: dict[Any, str] = {
    int: "an int",
    float: "a number",
    bool: "True or False",
    str: "a string",
    Mapping: "a dict",
    Callable: "a function",
    object: "any value",
}


def _accepts(kind: Any, value: Any) -> bool:
    if kind is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if kind is float:
        # a finite number: inf or nan as a size, a fraction or a cache would only fail far from here
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if kind is bool:
        return isinstance(value, bool)
    if kind is Callable:
        return callable(value)
    return isinstance(value, kind)


def _optional_tuple(value: Iterable[Any] | None) -> tuple[Any, ...] | None:
    # a function of ours, not attrs.converters.optional(tuple): attrs reads its converter's signature, and
    # reading a builtin's costs a fresh process several ms (inspect compiles tokenize's patterns)
    return None if value is None else tuple(value)


@attrs.frozen
class Option:
    """One option of a format, declared once; the core checks, documents and reports it.

    `type` is one of int, float (a finite number; ints accepted), bool, str,
    `Mapping`, `Callable` or object (anything). `minimum`/`maximum` bound
    numbers; `choices` lists the allowed values. `identifies`: the option
    selects which data is read (a pyramid level, a series), so it travels in a
    stack's `load_options`. `index`: `file@N` names this option (at most one
    per format). None always means "not given" (the default applies).
    """

    name: str
    type: Any = object
    doc: str = ""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = attrs.field(default=None, converter=_optional_tuple)
    identifies: bool = False
    index: bool = False

    def expected(self) -> str:
        """What the option must be, in words ('a non-negative int', 'a number >= 0')."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.type is int and self.minimum == 0 and self.maximum is None:
            return "a non-negative int"
        words = _TYPE_WORDS.get(self.type, f"a {getattr(self.type, '__name__', self.type)}")
        if self.minimum is not None and self.maximum is not None:
            return f"{words} from {_num(self.minimum)} to {_num(self.maximum)}"
        if self.minimum is not None:
            return f"{words} >= {_num(self.minimum)}"
        if self.maximum is not None:
            return f"{words} <= {_num(self.maximum)}"
        return words

    def problem(self, value: Any) -> str | None:
        """Why `value` is not acceptable (None when it is)."""
        if value is None:
            return None
        if self.choices is not None:
            return None if value in self.choices and not isinstance(value, bool) else self.expected()
        if not _accepts(self.type, value):
            return self.expected()
        if self.minimum is not None and not value >= self.minimum:
            return self.expected()
        if self.maximum is not None and not value <= self.maximum:
            return self.expected()
        return None

    def describe(self) -> str:
        """One line for docs and errors: name, what it must be, default, doc."""
        default = "" if self.default is None else f", default {self.default!r}"
        doc = f": {self.doc}" if self.doc else ""
        return f"{self.name} ({self.expected()}{default}){doc}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def as_option(value: Option | str) -> Option:
    """An `Option` from a declaration; a bare name declares an option of any type."""
    return value if isinstance(value, Option) else Option(str(value))


def check_options(
    format: str,
    declared: tuple[Option, ...],
    pass_through: bool,
    source: object,
    index: int | None,
    given: Mapping[str, Any],
    *,
    handles_index: bool = False,
) -> dict[str, Any]:
    """The options to hand the plugin: types and bounds checked, `file@N` reconciled.

    `file@N` goes to the option declared `index=True`; a format without one refuses it unless its plugin
    `handles_index` itself (a `@N` silently ignored would read every image where the user asked for one).
    Raises `ValidationError` naming the option, what it must be, and the options
    the format takes.
    """
    by_name = {o.name: o for o in declared}
    unknown = sorted(set(given) - set(by_name))
    if unknown and not pass_through:
        accepted = ", ".join(by_name) or "none"
        raise ValidationError(
            f"{source}: the {format} format does not take the option(s) {', '.join(unknown)}; "
            f"it accepts: {accepted}" + _listing(declared),
            source=str(source),
        )
    out = dict(given)
    for name, value in given.items():
        option = by_name.get(name)
        problem = option.problem(value) if option is not None else None
        if problem is not None:
            doc = f" ({option.doc})" if option is not None and option.doc else ""
            raise ValidationError(f"{source}: {name} must be {problem}{doc}, not {value!r}", source=str(source))
    if index is not None:
        indexed = next((o for o in declared if o.index), None)
        if indexed is not None:
            if given.get(indexed.name) is not None:
                name, value = indexed.name, given[indexed.name]
                raise ValidationError(
                    f"{source}: the {name} is given twice, as '@{index}' in the path and as {name}={value} "
                    f"({name}={value} was also given where the path names {name} {index}); give it in one place only",
                    source=str(source),
                )
            out[indexed.name] = index
        elif not handles_index:
            raise ValidationError(
                f"{source}: '@{index}' names nothing in the {format} format: it has no numbered images, scenes "
                f"or series to pick (frames and planes are the stack's samples, picked with sample_idx); "
                f"drop the '@{index}'",
                source=str(source),
            )
    return out


def _listing(declared: tuple[Option, ...]) -> str:
    if not any(o.type is not object or o.doc for o in declared):
        return ""
    return "\n" + "\n".join(f"  {o.describe()}" for o in declared)
