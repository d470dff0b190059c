"""Requirement inputs: requirement strings, requirements files and the command line.

Requirements files are read the way pip 26 reads them (``pip/_internal/req/req_file.py``):
decode, split lines, join ``\\`` continuations, strip comments, expand ``${VAR}``, then split
each line into a requirement and its options. Only what a mirror of one index can honour is
accepted: named PEP 508 requirements, nested ``-r``/``-c`` files, ``--hash``, index URLs and
``--pre``. Anything installed from elsewhere (URLs, paths, editables, find-links) is refused
with a ``FILE:LINE:`` message; options that only steer an installer are logged and ignored.
URL credentials are kept in the result but never shown in a message.
"""

from __future__ import annotations

import codecs
import dataclasses
import logging
import os
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import urljoin

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from selmirror.errors import InputError, SelmirrorError
from selmirror.models import RequirementSet, RootRequirement
from selmirror.pages import text_codec, too_long_number
from selmirror.urls import redact

logger = logging.getLogger(__name__)

# UTF-32 before UTF-16: the UTF-16 LE BOM is a prefix of the UTF-32 LE one.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_CODING_RE = re.compile(rb"coding[:=]\s*([-\w.]+)")  # PEP 263
_COMMENT_RE = re.compile(r"(^|\s+)#.*$")
_ENV_VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)\}")
_NAME = r"\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*"  # a name with its extras
_DIRECT_URL_RE = re.compile(rf"^{_NAME}@")
# name=1.0 (no spaces: "version = 1" is a TOML line, never a pin)
_LEGACY_EQ_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)=(?![=\s])")
_KEY_VALUE_RE = re.compile(r"^\s*[\w.\"'-]+\s*=\s")
_URL_RE = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9+.-]*://|file:|(?:git|hg|svn|bzr)\+)", re.I)
_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*")
# pip takes a name with one of these endings for a local archive (utils/filetypes.py).
_ARCHIVES = (
    ".whl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz",
    ".tar.xz", ".txz", ".tlz", ".tar.lz", ".tar.lzma",
)  # fmt: skip
_INPUT_SUFFIXES = (".txt", ".in", ".toml", ".lock", ".py")  # names that can only be files
MAX_FILE_BYTES = 50 << 20  # a requirements file, a lock, a project file: far smaller
_HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}  # pip's STRONG_HASHES
_HEX_RE = re.compile(r"[0-9a-fA-F]+")

# Every option pip 26 accepts in a requirements file, by long name: does it take a value?
_OPTIONS = {
    "--requirement": True, "--constraint": True, "--index-url": True,
    "--extra-index-url": True, "--pre": False, "--hash": True, "--editable": True,
    "--find-links": True, "--no-index": False, "--prefer-binary": False,
    "--require-hashes": False, "--no-require-hashes": False, "--trusted-host": True,
    "--use-feature": True, "--only-binary": True, "--no-binary": True,
    "--config-settings": True, "--all-releases": True, "--only-final": True,
}  # fmt: skip
_ALIASES = {
    "-r": "--requirement", "-c": "--constraint", "-i": "--index-url",
    "--pypi-url": "--index-url", "-e": "--editable", "-f": "--find-links",
    "-C": "--config-settings",
}  # fmt: skip
_NESTING = ("--requirement", "--constraint")
_REFUSED = {
    "--editable": "editable requirements (-e) are not supported",
    "--find-links": "--find-links is not supported: a mirror copies from package indexes only",
    "--no-index": "--no-index is not supported: a mirror needs an index to copy from",
}
_BINARY = "the mirror keeps wheels and sdists; pass --binary-only or --source-only instead"
_PRE = "selmirror only honours --pre for pre-releases"
_WHY_IGNORED = {"--only-binary": _BINARY, "--no-binary": _BINARY}
_WHY_IGNORED |= {"--all-releases": _PRE, "--only-final": _PRE}


def parse_requirement(text: str, source: str) -> RootRequirement:
    """Parse one PEP 508 requirement naming a project on the index.

    The legacy spelling ``name=1.0`` means ``name==1.0``. Direct URLs (``name @ url``),
    bare URLs (VCS ones too) and local paths or archives are refused: a mirror can only hold
    what an index serves. Errors are ``InputError("{source}: ...")`` on one line.
    """
    text = text.strip()
    if not text:
        raise InputError(f"{source}: empty requirement")
    head = text.split(";", 1)[0].strip()  # what is left of the marker
    shown = _redact(text)
    if _DIRECT_URL_RE.match(head):
        raise InputError(f"{source}: direct URL requirements are not supported: {shown!r}")
    if _URL_RE.match(head):
        raise InputError(f"{source}: URLs are not supported, name the project: {shown!r}")
    bare = re.sub(r"\[[^\]]*\]", "", head).lower()
    if "/" in head or "\\" in head or head.startswith(".") or bare.endswith(_ARCHIVES):
        raise InputError(f"{source}: local paths are not supported, name the project: {shown!r}")
    if too_long_number(text):  # packaging would raise ValueError, or parse and fail later
        raise InputError(f"{source}: a number of more than 4,300 digits in {shown[:80]!r}...")
    try:
        requirement = Requirement(_LEGACY_EQ_RE.sub(r"\1==", text, count=1))
    except InvalidRequirement as exc:
        reason = str(exc).splitlines()[0]  # packaging adds the text and a caret below
        hint = None
        if _KEY_VALUE_RE.match(text):
            hint = (
                "a 'key = value' line is TOML, not a requirement; selmirror reads pyproject.toml, "
                "pylock.toml, uv.lock and PEP 723 scripts by their name or content"
            )
        raise InputError(f"{source}: invalid requirement {shown!r}: {reason}", hint=hint) from None
    name = canonicalize_name(requirement.name)
    return RootRequirement(requirement=requirement, name=name, source=source)


def read_requirements_file(
    path: Path, *, constraint: bool = False, environ: Mapping[str, str] | None = None
) -> RequirementSet:
    """Read a requirements file, and the files it includes, as pip 26 does.

    With ``constraint`` its requirements are constraints. ``${VAR}`` is expanded from
    ``environ`` (default ``os.environ``). Messages name this file as ``str(path)`` and a
    nested file as its path joined onto the including file's directory.
    """
    collector = _Collector(os.environ if environ is None else environ)
    collector.read(Path(path), str(path), constraint=constraint)
    return collector.result()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ProjectChoice:
    """What to take of a ``pyproject.toml``: ``--extra``, ``--all-extras``, ``--group``."""

    extras: tuple[str, ...] = ()
    all_extras: bool = False
    groups: tuple[str, ...] = ()


def collect(
    args: Sequence[str],
    requirement_files: Sequence[str],
    constraint_files: Sequence[str],
    *,
    cwd: Path,
    environ: Mapping[str, str] | None = None,
    fetch: Callable[[str], bytes] | None = None,
    project: ProjectChoice | None = None,
) -> RequirementSet:
    """Build the one ``RequirementSet`` of the command line, in order: args, -r, -c files.

    An arg naming an existing file under ``cwd`` is an input file: a requirements file, a
    lock file (``pylock.toml``, ``uv.lock``), a ``pyproject.toml`` or a PEP 723 script,
    told apart by name and content; one that only looks like a file name (``/``, ``.txt``,
    ``.toml``, ...) is an error; anything else is a requirement. ``-r``/``-c`` may also be
    http(s) URLs, read with ``fetch``. Requirements are not deduplicated: the caller merges
    same-name entries.
    """
    collector = _Collector(os.environ if environ is None else environ)
    collector.fetch = fetch
    collector.project = project or ProjectChoice()
    for item in args:
        path = Path(cwd, item)
        is_url = _URL_RE.match(item) is not None or "@" in item
        looks_like_file = item.endswith(_INPUT_SUFFIXES) or "/" in item or "\\" in item
        if _is_file(path) and not item.lower().endswith(_ARCHIVES):
            collector.read(path, item, constraint=False)
        elif looks_like_file and not is_url and not _is_file(path) and not path.is_dir():
            raise InputError(f"no such requirements file: {item}")
        else:
            collector.requirements.append(parse_requirement(item, "command line"))
    for item in requirement_files:
        collector.read(_location(cwd, item), item, constraint=False)
    for item in constraint_files:
        collector.read(_location(cwd, item), item, constraint=True)
    return collector.result()


def _is_file(path: Path) -> bool:
    """Whether ``path`` is a file; a name no file system takes (too long) is none."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _location(cwd: Path, item: str) -> Path | str:
    """A ``-r``/``-c`` value: an http(s) URL as it is, else a path under ``cwd``."""
    return item if re.match(r"(?i)https?://", item) else Path(cwd, item)


def _nested(where: Path | str, shown: str, value: str) -> tuple[Path | str, str]:
    """Where a ``-r``/``-c`` line points: as pip, relative to the including file or URL."""
    if re.match(r"(?i)https?://", value):
        return value, value
    if isinstance(where, str):
        joined = urljoin(where, value)
        return joined, joined
    return where.parent / value, os.path.normpath(os.path.join(os.path.dirname(shown), value))


@dataclasses.dataclass
class _Collector:
    """What the inputs said so far, and where the index URL was set (to report conflicts)."""

    environ: Mapping[str, str]
    requirements: list[RootRequirement] = dataclasses.field(default_factory=list)
    constraints: list[RootRequirement] = dataclasses.field(default_factory=list)
    index_url: tuple[str, str] | None = None  # (url, where)
    extra_index_urls: list[str] = dataclasses.field(default_factory=list)
    pre: bool = False
    requires_python: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    fetch: Callable[[str], bytes] | None = None  # reads an http(s) URL (-r/-c URL)
    project: ProjectChoice = dataclasses.field(default_factory=lambda: ProjectChoice())

    def result(self) -> RequirementSet:
        return RequirementSet(
            requirements=tuple(self.requirements),
            constraints=tuple(self.constraints),
            index_url=self.index_url[0] if self.index_url else None,
            extra_index_urls=tuple(self.extra_index_urls),
            pre=self.pre,
            requires_python=tuple(self.requires_python),
        )

    def read(
        self,
        where: Path | str,
        shown: str,
        *,
        constraint: bool,
        chain: tuple[Path | str, ...] = (),
        at: str = "",
    ) -> None:
        """Add one file's lines; ``chain`` holds the including files, ``at`` the -r/-c line.

        ``where`` is a path, or an http(s) URL (as Airflow documents its constraints).
        """
        kind, prefix = "constraints" if constraint else "requirements", f"{at}: " if at else ""
        key = where if isinstance(where, str) else where.resolve()
        if key in chain:
            raise InputError(f"{prefix}{kind} file {shown} recursively includes itself")
        data = self._load(where, shown, kind, prefix)
        if self._other_kind(shown, data, constraint, prefix):
            return
        chain = (*chain, key)
        for lineno, line in _logical_lines(_decode(data, shown), self.environ):
            here = f"{shown}:{lineno}"
            args, options = _split_line(line, here)
            for option, _ in options:
                if option in _REFUSED:
                    raise InputError(f"{here}: {_REFUSED[option]}")
            if args:
                entry = _requirement_line(args, options, here)
                (self.constraints if constraint else self.requirements).append(entry)
            elif len(options) > 1 and any(option in _NESTING for option, _ in options):
                raise InputError(f"{here}: -r/-c must be alone on its line (pip ignores the rest)")
            elif options[0][0] in _NESTING:
                # As pip: relative to the including file; -r inside a -c file adds requirements.
                option, value = options[0]
                nested, nested_shown = _nested(where, shown, value)
                is_constraint = option == "--constraint"
                self.read(nested, nested_shown, constraint=is_constraint, chain=chain, at=here)
            else:
                self._apply(options, here)

    def _load(self, where: Path | str, shown: str, kind: str, prefix: str) -> bytes:
        """The bytes of a requirements file or URL, at most ``MAX_FILE_BYTES`` of them."""
        if isinstance(where, str):
            if self.fetch is None:
                raise InputError(
                    f"{prefix}{kind} file {_redact(shown)}: URLs are not supported here"
                )
            try:
                data = self.fetch(where)
            except SelmirrorError as exc:
                raise type(exc)(f"{prefix}cannot fetch {kind} file: {exc.message}") from None
        else:
            try:
                with where.open("rb") as f:
                    data = f.read(MAX_FILE_BYTES + 1)
            except FileNotFoundError:
                raise InputError(f"{prefix}no such {kind} file: {shown}") from None
            except OSError as exc:
                raise InputError(
                    f"{prefix}cannot read {kind} file {shown}: {exc.strerror}"
                ) from None
        if len(data) > MAX_FILE_BYTES:
            raise InputError(f"{prefix}{kind} file {_redact(shown)} is larger than 50 MiB")
        return data

    def _other_kind(self, shown: str, data: bytes, constraint: bool, prefix: str) -> bool:
        """Read a lock file, project file or script into what the inputs say; ``False``
        if the file is a requirements file after all."""
        from selmirror import inputfiles  # it reads requirement strings with this module

        name = shown.rstrip("/").rsplit("/", 1)[-1]
        kind = inputfiles.kind_of(name, data)
        if kind == "requirements":
            return False
        if constraint:
            raise InputError(f"{prefix}{shown} is a {kind} file, not a constraints file")
        found = {
            "pylock": lambda: inputfiles.read_pylock(data, shown),
            "uv-lock": lambda: inputfiles.read_uv_lock(data, shown),
            "script": lambda: inputfiles.read_script(data, shown),
            "pyproject": lambda: inputfiles.read_pyproject(
                data,
                shown,
                extras=self.project.extras,
                all_extras=self.project.all_extras,
                groups=self.project.groups,
            ),
        }[kind]()
        self.requirements += found.requirements
        self.requires_python += found.requires_python
        return True

    def _apply(self, options: list[tuple[str, str]], here: str) -> None:
        for option, value in options:
            if option == "--index-url":
                if self.index_url and self.index_url[0] != value:
                    raise InputError(
                        f"{here}: index URL {_redact(value)} conflicts with "
                        f"{_redact(self.index_url[0])} set at {self.index_url[1]}"
                    )
                self.index_url = self.index_url or (value, here)
            elif option == "--extra-index-url":
                if value not in self.extra_index_urls:
                    self.extra_index_urls.append(value)
            elif option == "--pre":
                self.pre = True
            elif option == "--hash":
                # pip only warns, but a hash on its own line is nearly always a lost '\'.
                raise InputError(f"{here}: --hash must follow a requirement (a missing '\\'?)")
            else:
                why = _WHY_IGNORED.get(option, "it does not change what the mirror holds")
                logger.warning("%s: %s ignored: %s", here, option, why)


def _requirement_line(args: str, options: list[tuple[str, str]], here: str) -> RootRequirement:
    """A requirement with its ``--hash`` options; pip ignores file-wide options here."""
    hashes = set()
    for option, value in options:
        if option == "--hash":
            hashes.add(_parse_hash(value, here))
        else:
            why = "pip ignores it after a requirement"
            if option == "--config-settings":
                why = "it does not change what the mirror holds"
            logger.warning("%s: %s ignored: %s", here, option, why)
    return dataclasses.replace(parse_requirement(args, here), hashes=frozenset(hashes))


def _parse_hash(value: str, here: str) -> tuple[str, str]:
    algorithm, _, digest = value.partition(":")
    length = _HASH_LENGTHS.get(algorithm)
    if length is None:
        raise InputError(f"{here}: --hash must be sha256:, sha384: or sha512:HEX, not {value!r}")
    if len(digest) != length or not _HEX_RE.fullmatch(digest):
        raise InputError(f"{here}: --hash {algorithm} needs {length} hex digits, not {digest!r}")
    return algorithm, digest.lower()


def _decode(data: bytes, shown: str) -> str:
    """Decode as pip does: a BOM, else a PEP 263 coding line in lines 1-2, else UTF-8."""
    encoding, start = "utf-8", 0
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, start = name, len(bom)
            break
    else:
        for line in data.split(b"\n", 2)[:2]:
            match = _CODING_RE.search(line) if line.startswith(b"#") else None
            if match:
                encoding = match.group(1).decode("ascii")
                break
    try:
        codec = text_codec(encoding)
    except LookupError as exc:  # unknown, or no text encoding (rot13, idna, punycode, ...)
        raise InputError(f"{shown}: {exc} in its coding line") from None
    try:
        text = data[start:].decode(codec)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{shown}: cannot decode as {encoding} (byte {exc.start}: {exc.reason}); "
            "declare the encoding with a '# -*- coding: NAME -*-' line"
        ) from None
    except UnicodeError as exc:  # a codec that fails otherwise: still one line
        raise InputError(f"{shown}: cannot decode as {encoding}: {exc}") from None
    if "\x00" in text:  # no requirement, option or path holds one: not a text file
        number = text.count("\n", 0, text.index("\x00")) + 1
        raise InputError(f"{shown}:{number}: a NUL character: not a requirements file")
    return text


def _logical_lines(text: str, environ: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    """Yield ``(first line number, line)``: continuations joined, comments and blanks gone."""
    pending: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), start=1):
        is_comment = _COMMENT_RE.match(line) is not None
        if line.endswith("\\") and not is_comment:
            first = first if pending else number
            pending.append(line.strip("\\"))  # strip, not rstrip: exactly what pip does
            continue
        if pending:
            # The space keeps a comment line that ends a continuation a comment.
            number, line = first, "".join([*pending, " " + line if is_comment else line])
            pending = []
        yield from _clean(number, line, environ)
    if pending:
        yield from _clean(first, "".join(pending), environ)


def _clean(number: int, line: str, environ: Mapping[str, str]) -> Iterator[tuple[int, str]]:
    line = _COMMENT_RE.sub("", line).strip()
    if line:
        # pip leaves an unset or empty variable as written.
        yield number, _ENV_VAR_RE.sub(lambda m: environ.get(m.group(1)) or m.group(0), line)


def _split_line(line: str, here: str) -> tuple[str, list[tuple[str, str]]]:
    """Split like pip's ``break_args_options``, then parse the options strictly.

    Returns the requirement text (maybe empty) and ``(long option, value)`` pairs, a flag's
    value being ``""``. Unlike optparse, abbreviated long options are refused.
    """
    tokens = line.split(" ")  # not shlex: it would mangle the quotes of markers
    cut = next((i for i, token in enumerate(tokens) if token.startswith("-")), len(tokens))
    try:
        words = shlex.split(" ".join(tokens[cut:]))[::-1]
    except ValueError as exc:
        raise InputError(f"{here}: cannot split options: {exc}") from None
    options: list[tuple[str, str]] = []
    while words:
        word = words.pop()
        if not word.startswith("-"):
            raise InputError(f"{here}: unexpected argument {_redact(word)!r} after the options")
        if word.startswith("--"):
            name, has_value, value = word.partition("=")
        else:  # -rFILE is -r FILE, as in optparse
            name, has_value, value = word[:2], "=" if word[2:] else "", word[2:]
        option = _ALIASES.get(name, name)
        if option not in _OPTIONS:
            raise InputError(f"{here}: unknown option {name!r}")
        if _OPTIONS[option] and not has_value:
            value = words.pop() if words else ""
        elif has_value and not _OPTIONS[option]:
            raise InputError(f"{here}: {name} takes no value")
        if _OPTIONS[option] and not value:
            raise InputError(f"{here}: {name} needs a value")
        options.append((option, value))
    return " ".join(tokens[:cut]), options


def _redact(text: str) -> str:
    """Every URL in ``text`` redacted (:func:`selmirror.urls.redact`): its userinfo, whatever
    its password holds, and credential-like query values."""
    return _URL_IN_TEXT_RE.sub(lambda m: redact(m.group()), text)
