"""Registers every textlstm layer and model with Keras as soon as Keras is imported.

`keras.saving.load_model(path, safe_mode=True)` finds a custom class only when the module
that defines it has run. Importing textlstm does not import Keras (so `textlstm --help`
stays instant); instead it installs an import hook that, once `keras` itself has finished
importing, imports the modules that define textlstm's Keras classes. If Keras was imported
before textlstm, they are imported at once.
"""

import importlib
import importlib.abc
import importlib.util
import sys


def modules():
    """Every module that defines a class registered under the "textlstm" package: the shared
    layers, then each family's (`families.Family.keras_modules`). Read when Keras arrives, so
    `import textlstm` does not import the registry."""
    from textlstm import families

    return ("textlstm.layers",) + families.keras_modules()


def register_all():
    """Import every module that registers a textlstm class with Keras (idempotent)."""
    for name in modules():
        importlib.import_module(name)


def _busy(finishing=None):
    """True while Keras, TensorFlow or a textlstm module is half imported: registering then would
    import a module that sees a partly initialised one; its own import registers what it needs."""
    for name, module in list(sys.modules.items()):
        if name != finishing and (name in ("tensorflow", "keras") or name.startswith("textlstm.")):
            spec = getattr(module, "__spec__", None)
            if spec is not None and getattr(spec, "_initializing", False):
                return True
    return False


_done = False


def _maybe_register(finishing=None):
    global _done
    if not _done and "keras" in sys.modules and not _busy(finishing):
        _done = True
        register_all()
        sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _KerasHook)]


class _RegisterAfter(importlib.abc.Loader):
    """Runs a module's real loader, then registers textlstm's classes if the time is right."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _maybe_register(finishing=module.__name__)

    def __getattr__(self, name):  # resource readers and the like come from the real loader
        return getattr(self.loader, name)


class _KerasHook(importlib.abc.MetaPathFinder):
    """Watches the imports after which registering may have become possible: `keras`,
    `tensorflow` (which may import Keras half-way) and textlstm's own modules."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in ("keras", "tensorflow") and not fullname.startswith("textlstm."):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _RegisterAfter(spec.loader)
                return spec
        return None


def install():
    """Register now if Keras is loaded, else once it is (and nothing is half imported)."""
    if "keras" in sys.modules and not _busy():
        _maybe_register()
        return
    if not any(isinstance(finder, _KerasHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KerasHook())
