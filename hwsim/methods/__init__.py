"""Method registry, in the timm style: one module per method, asked by name.

>>> from hwsim.methods import get_method, list_methods
>>> list_methods()
['pgdat', 'oat', 'float']
>>> get_method("float").delay_rule
'Eq. 8'

Adding a method is one module with a :class:`~hwsim.methods.base.Method` subclass and
``@register_method`` on it; every command, cost model, report and test that iterates the registry
picks it up. Torch-free: importing the registry never imports torch.
"""

from __future__ import annotations

from .base import Cycles, DelayTerms, Method

_REGISTRY: dict[str, Method] = {}


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: instantiate ``cls`` and file it under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls()
    return cls


def unregister_method(name: str) -> None:
    """Remove a method (tests register temporary ones)."""
    _REGISTRY.pop(name, None)


def get_method(name: str | Method) -> Method:
    if isinstance(name, Method):
        return name
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(_REGISTRY)}") from None


def list_methods() -> list[str]:
    return list(_REGISTRY)


# Registration order is the listing order (PGD-AT, OAT, FLOAT, as in the paper's tables).
from . import pgdat  # noqa: E402,F401,I001  isort: skip
from . import oat  # noqa: E402,F401  isort: skip
from . import float_  # noqa: E402,F401  isort: skip
from . import floats  # noqa: E402,F401  isort: skip

__all__ = ["Cycles", "DelayTerms", "Method", "get_method", "list_methods", "register_method", "unregister_method"]
