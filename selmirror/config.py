"""The config file: everything the command line can say, in TOML.

Keys are the long option names (``local-folder``, ``index``, ``platform``, ...); an option
that repeats takes a list. Two keys have no option: ``requirements``, a list of inline
requirements, and ``requirements-files``. Paths are relative to the config file. Unknown
keys and bad values are errors naming the file, the line and the key. Command-line
options override the file.
"""

from __future__ import annotations

import argparse
import math
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

MAX_CONFIG_BYTES = 1 << 20  # a config file is a few hundred bytes; /dev/zero never ends
# paths, taken relative to the config file's folder
PATH_KEYS = {"local_folder", "report", "diff_file", "cert", "client_cert"}
FILE_LIST_KEYS = {"requirement", "constraint", "deny_file"}
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
    text = _read(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: {exc}") from None
    except RecursionError:  # arrays or tables nested thousands deep
        raise InputError(f"{path}: nested too deeply") from None
    except ValueError:  # an integer of more than 4,300 digits (sys.get_int_max_str_digits)
        long = re.search(r"[0-9_]{4000}", text)
        line = text.count("\n", 0, long.start()) + 1 if long else "?"
        raise InputError(f"{path}:{line}: a number too long to read") from None
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


def _read(path: Path) -> str:
    """The text of the config file, at most ``MAX_CONFIG_BYTES`` of it."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:  # IsADirectoryError too
        raise InputError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise InputError(f"config file {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{path}:{line}: not UTF-8 (byte {exc.start}: {exc.reason})") from None


def _strings(value: object, key: str, where: str) -> list[str]:
    if isinstance(value, str):
        return [_text(value, key, where)]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [_text(v, key, where) for v in value]
    raise InputError(f"{where}: {key} must be a string or a list of strings")


def _text(value: str, key: str, where: str) -> str:
    # TOML can spell a NUL ("\u0000"); no path, URL or requirement holds one, and a path
    # with one makes every file function raise ValueError
    if "\x00" in value:
        raise InputError(f"{where}: {key} holds a NUL character")
    return value


def _whole(value: int, key: str, where: str) -> int:
    # TOML's hexadecimal integers have no length limit; str() of a huge one raises
    if value.bit_length() > 63:
        raise InputError(f"{where}: {key} is too large")
    return value


def _convert(action: argparse.Action, value: object, key: str, where: str, base: Path) -> Any:
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise InputError(f"{where}: {key} must be true or false")
        return value
    if isinstance(action, argparse._CountAction):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"{where}: {key} must be a whole number")
        return _whole(value, key, where)
    if isinstance(action, argparse._AppendAction):
        items = _strings(value, key, where)
        if action.dest in FILE_LIST_KEYS:
            return [str(base / item) for item in items]
        return [_typed(action, item, key, where) for item in items]
    if isinstance(value, (list, dict, bool)):
        raise InputError(f"{where}: {key} takes one value")
    if isinstance(value, str):
        _text(value, key, where)
    elif isinstance(value, int):
        _whole(value, key, where)
    elif isinstance(value, float) and not math.isfinite(value):  # TOML spells inf and nan
        raise InputError(f"{where}: {key} must be a finite number")
    if action.dest in PATH_KEYS and value != "-":
        value = str(base / Path(str(value)))  # then typed as the option types it (str or Path)
    return _typed(action, str(value), key, where)


def _typed(action: argparse.Action, text: str, key: str, where: str) -> Any:
    if action.type is None or not callable(action.type):
        return text
    try:
        return action.type(text)
    except (argparse.ArgumentTypeError, ValueError) as exc:
        raise InputError(f"{where}: {key} = {text[:80]!r}: {exc or 'invalid value'}") from None


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
