"""The records' type annotations reduced to a few shapes, for the validator and the
generators (so each reads the declarations one way).

    >>> from harness.schema.records import Listener
    >>> shape(int | None)
    ('union', (('int',), ('null',)))
    >>> [name for name, _field in fields(Listener)][:3]
    ['local', 'accept_queue', 'backlog']
"""

import types
import typing

from harness.schema.records import F

_SCALARS = {int: "int", float: "float", str: "str", bool: "bool", type(None): "null"}


def shape(tp) -> tuple:
    """``(kind, ...)``: ("int",) ("float",) ("str",) ("bool",) ("null",),
    ("union", shapes), ("list", item), ("tuple", items), ("dict", value),
    ("literal", values), ("record", TypedDict)."""
    if tp in _SCALARS:
        return (_SCALARS[tp],)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return shape(args[0])
    if origin in (typing.NotRequired, typing.Required):
        return shape(args[0])
    if origin in (typing.Union, types.UnionType):
        return ("union", tuple(shape(a) for a in args))
    if origin is list:
        return ("list", shape(args[0]))
    if origin is tuple:
        return ("tuple", tuple(shape(a) for a in args))
    if origin is dict:
        return ("dict", shape(args[1]))
    if origin is typing.Literal:
        return ("literal", args)
    if typing.is_typeddict(tp):
        return ("record", tp)
    raise TypeError(f"no shape for {tp!r}")


def fields(record) -> list[tuple[str, tuple[tuple, F | None, bool]]]:
    """``[(name, (shape, F, required))]`` of a TypedDict, in declaration order."""
    hints = typing.get_type_hints(record, include_extras=True)
    out = []
    for name, tp in hints.items():
        doc = None
        inner = tp
        while True:  # NotRequired[Annotated[T, F]] or Annotated[T, F]
            origin = typing.get_origin(inner)
            if origin in (typing.NotRequired, typing.Required):
                inner = typing.get_args(inner)[0]
            elif origin is typing.Annotated:
                doc = next((m for m in inner.__metadata__ if isinstance(m, F)), doc)
                inner = typing.get_args(inner)[0]
            else:
                break
        out.append((name, (shape(inner), doc, name in record.__required_keys__)))
    return out
