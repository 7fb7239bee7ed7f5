"""``export(MyPlugin)``: the one line that makes ``app.py`` a component.

componentize-py looks for a class named after the world's exported
interface in the app module (``Reconciler`` for a controller, ``Review``
for an admission plugin). :func:`export` puts the SDK's glue class there
under that name, so plugin code never imports the generated bindings. In
plain Python (unit tests) there are no bindings and it only checks the
class.
"""

from __future__ import annotations

import sys
from typing import TypeVar

from .admission import Admission
from .controller import Controller

__all__ = ["export"]

P = TypeVar("P", bound=type)


def export(plugin_class: P) -> P:
    """Exports ``plugin_class`` (a :class:`~wharf.Controller` or
    :class:`~wharf.Admission` subclass) as the component's plugin. Call it
    once, at the top level of ``app.py`` (or use it as a class decorator
    there); it returns the class.

    The host builds one instance per component instance on ``init``, then
    calls it for every key or review of that instance.
    """
    if not isinstance(plugin_class, type) or not issubclass(plugin_class, (Controller, Admission)):
        raise TypeError(f"export() takes a wharf.Controller or wharf.Admission subclass, not {plugin_class!r}")
    try:
        import wit_world  # type: ignore[import-not-found]  # noqa: F401  (only inside a component build)
    except ImportError:
        return plugin_class
    from . import _component

    name, glue = _component.glue_for(plugin_class)
    # The caller's module (app.py) is where componentize-py looks; `app`
    # too, in case export() was called from a module app.py imports.
    sys._getframe(1).f_globals[name] = glue
    app = sys.modules.get("app")
    if app is not None:
        setattr(app, name, glue)
    return plugin_class
