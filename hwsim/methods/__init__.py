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

from .base import AT, FILM, PROPOSED, PROPOSED_SPARSE, ROLES, Cycles, DelayTerms, Method

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


def method_for_role(role: str) -> str:
    """The name of the first registered method playing ``role`` (:data:`~hwsim.methods.base.ROLES`):
    what a figure or paper-check row of the paper's comparison draws, so that no code outside the
    registry names a method. One line for an unknown role or one no method plays."""
    if role not in ROLES:
        raise ValueError(f"unknown method role {role!r}; known: {', '.join(ROLES)}")
    for name, method in _REGISTRY.items():
        if method.role == role:
            return name
    raise ValueError(f"no registered method plays the role {role!r}")


# Registration order is the listing order (PGD-AT, OAT, FLOAT, as in the paper's tables).
from . import pgdat  # noqa: E402,F401,I001  isort: skip
from . import oat  # noqa: E402,F401  isort: skip
from . import float_  # noqa: E402,F401  isort: skip
from . import floats  # noqa: E402,F401  isort: skip

__all__ = [
    "AT", "FILM", "PROPOSED", "PROPOSED_SPARSE", "ROLES", "Cycles", "DelayTerms", "Method", "get_method",
    "list_methods", "method_for_role", "register_method", "unregister_method",
]  # fmt: skip
