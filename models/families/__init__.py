"""The built-in families, one module each: importing this package registers every module in it (a module that
registers nothing, such as recipes, is harmless). A new family with the standard loop is one new file here."""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
