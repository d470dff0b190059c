"""The config file: everything the command line can say, in TOML.

Keys are the long option names (``local-folder``, ``index``, ``platform``, ...); an option
that repeats takes a list. Two keys have no option: ``requirements``, a list of inline
requirements, and ``requirements-files``. Paths are relative to the config file. Unknown
keys and bad values are errors naming the file, the line and the key. Command-line
options override the file.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from selmirror.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PATH_KEYS = {"local_folder", "report"}
FILE_LIST_KEYS = {"requirement", "constraint"}
NOT_IN_CONFIG = {"help", "version", "config", "inputs"}


def _line_of(text: str, key: str) -> int | None:
    match = re.search(rf'^\s*["\']?{re.escape(key)}["\']?\s*=', text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every long option name (aliases included) -> its action."""
    out = {}
    for action in parser._actions:  # the parser is the schema: one source of truth
        if action.dest in NOT_IN_CONFIG:
            continue
        for option in action.option_strings:
            if option.startswith("--"):
                out[option[2:]] = action
    return out


def load(path: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Read ``path``; return argparse destinations -> values (paths made absolute)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: {exc}") from None
    options = _options(parser)
    base = path.parent
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}:{_line_of(text, key) or '?'}"
        if key == "requirements":
            values["config_requirements"] = _strings(value, key, where)
            continue
        if key == "requirements-files":
            files = [str(base / f) for f in _strings(value, key, where)]
            values["requirement"] = values.get("requirement", []) + files
            continue
        action = options.get(key)
        if action is None:
            raise InputError(f"{where}: unknown key {key!r}", hint="keys are the long option names")
        values[action.dest] = _convert(action, value, key, where, base)
    return values


def _strings(value: object, key: str, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise InputError(f"{where}: {key} must be a string or a list of strings")


def _convert(action: argparse.Action, value: object, key: str, where: str, base: Path) -> Any:
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise InputError(f"{where}: {key} must be true or false")
        return value
    if isinstance(action, argparse._CountAction):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"{where}: {key} must be a whole number")
        return value
    if isinstance(action, argparse._AppendAction):
        items = _strings(value, key, where)
        if action.dest in FILE_LIST_KEYS:
            return [str(base / item) for item in items]
        return [_typed(action, item, key, where) for item in items]
    if isinstance(value, (list, dict, bool)):
        raise InputError(f"{where}: {key} takes one value")
    converted = _typed(action, str(value), key, where)
    if action.dest in PATH_KEYS and value != "-":
        return base / Path(str(value))
    return converted


def _typed(action: argparse.Action, text: str, key: str, where: str) -> Any:
    if action.type is None or not callable(action.type):
        return text
    try:
        return action.type(text)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise InputError(f"{where}: {key} = {text!r}: {exc or 'invalid value'}") from None


def merge(
    parser: argparse.ArgumentParser,
    argv: list[str],
    config: Mapping[str, Any],
) -> argparse.Namespace:
    """Parse ``argv`` over the config's values: what the command line says wins, lists
    included (a ``--platform`` on the command line replaces the file's platforms)."""
    given = parser.parse_intermixed_args(argv)
    defaults = parser.parse_intermixed_args([])
    args = argparse.Namespace(**vars(given))
    exclusive = [("binary_only", "source_only"), ("latest", "all_versions")]
    for dest, value in config.items():
        if dest == "config_requirements":
            continue
        if getattr(given, dest, None) == getattr(defaults, dest, None):
            rivals = [d for pair in exclusive if dest in pair for d in pair if d != dest]
            if not any(getattr(given, r) != getattr(defaults, r) for r in rivals):
                setattr(args, dest, value)
    args.config_requirements = list(config.get("config_requirements", []))
    return args
