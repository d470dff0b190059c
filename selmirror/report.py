"""The run report (``--report``, JSON) and the closing summary, both built from a RunResult."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

from selmirror import __version__
from selmirror.download import Outcome
from selmirror.errors import SelmirrorError
from selmirror.mirror import RunResult
from selmirror.urls import redact


def skipped_by_category(result: RunResult) -> Counter[str]:
    total: Counter[str] = Counter()
    for selection in result.selections.values():
        total.update(selection.counts())
    return total


def counts(result: RunResult) -> dict[str, Any]:
    statuses = Counter(o.status for o in result.outcomes)
    return {
        "projects": len(result.selections),
        "files": len(result.outcomes),
        "downloaded": statuses["downloaded"],
        "present": statuses["present"],
        "planned": statuses["planned"],
        "failed": statuses["failed"],
        "cancelled": statuses["cancelled"],
        "bytes_downloaded": sum(o.fetched_bytes for o in result.outcomes),
        "bytes_planned": sum(
            o.job.file.size or 0 for o in result.outcomes if o.status == "planned"
        ),
        "skipped": dict(skipped_by_category(result).most_common()),
        "unknown_dependencies": unknown_dependencies(result),
        "pages_rewritten": len(result.pages_written),
        "errors": len(result.errors),
        "seconds": round(result.elapsed, 3),
    }


def build(result: RunResult, indexes: tuple[str, ...], *, full: bool = False) -> dict[str, Any]:
    """The ``--report`` document: inputs; per target what was resolved and why; per project
    the files with their status, the files of chosen versions not kept with their reasons,
    and counts by reason; every error. ``full`` also lists every file of every version not
    chosen (99% of a report otherwise: thousands of lines a night)."""
    reqs = result.requirements
    options = result.options
    projects: dict[str, Any] = {}
    outcomes: dict[str, list[Outcome]] = {}
    for o in result.outcomes:
        outcomes.setdefault(o.job.file.project, []).append(o)
    metadata: dict[str, dict[str, Any]] = {}
    for (project, version), use in result.metadata.items():
        metadata.setdefault(project, {})[str(version)] = {
            "files": dict(use.files),
            "differ": use.differ,
        }
    for name, selection in result.selections.items():
        files = []
        for o in outcomes.get(name, ()):
            f = o.record or o.job.file
            files.append(
                {
                    "filename": f.filename,
                    "version": str(f.version),
                    "size": f.size,
                    "sha256": f.sha256,
                    "yanked": f.yanked,
                    "status": o.status,
                    "url": redact(o.job.file.url),
                    **({"error": o.error.message} if o.error else {}),
                }
            )
        projects[name] = {
            "versions": {t: [str(v) for v in vs] for t, vs in selection.versions.items()},
            # per version: whose metadata the targets read, from where; do the files differ
            "metadata": metadata.get(name, {}),
            "files": files,
            "rejected": [
                *(
                    {"filename": r.filename, "category": r.category, "reason": r.reason}
                    for r in selection.rejected
                ),
                *(
                    {"filename": n, "category": "version", "reason": f"{n}: version {v} not chosen"}
                    for v, names in (selection.unchosen if full else ())
                    for n in names
                ),
            ],
            "skipped": dict(selection.counts().most_common()),
        }
    targets = [
        {
            "target": r.target.label,
            "platform": r.target.platform,
            "python": r.target.python_full_version,
            "environment": dict(r.target.environments[0]),
            "resolved": {
                name: {
                    "versions": [str(v) for v in sorted(r.versions[name], reverse=True)],
                    "why": " -> ".join(r.chains.get(name, [])),
                }
                for name in sorted(r.versions)
            },
            "dropped": dict(sorted(r.dropped.items())),
            "unknown_dependencies": dict(sorted(r.unknown.items())),
            "errors": [e.message for e in r.errors],
        }
        for r in result.resolutions
    ]
    return {
        "selmirror": __version__,
        "dry_run": options.dry_run,
        "inputs": {
            "requirements": [
                {"requirement": str(r.requirement), "source": r.source} for r in reqs.requirements
            ],
            "constraints": [
                {"requirement": str(r.requirement), "source": r.source} for r in reqs.constraints
            ],
            "indexes": [redact(i) for i in indexes],
            "local_folder": str(options.local_folder),
            "targets": [t.label for t in options.targets],
            "all_files": options.all_files,
            "follow_dependencies": options.follow_deps,
            "binary_only": options.policy.binary_only,
            "source_only": options.policy.source_only,
            "prereleases": options.policy.prereleases,
            "latest": options.policy.latest,
            "exclude_newer": _cutoff(result),
            "deny": [str(rule) for rule in options.policy.deny],
            "report_detail": "full" if full else "brief",
        },
        "targets": targets,
        "pruned": list(result.pruned),
        "pruned_why": {p: result.pruned_why.get(p, "no longer needed") for p in result.pruned},
        "removed_upstream": [
            {"project": g.project, "filename": g.filename, "since": g.since, "why": g.why}
            for g in result.removed_upstream
        ],
        "skipped_targets": [e.message for e in result.skipped_targets],
        "projects": projects,
        "errors": [_error(e) for e in result.errors],
        "summary": counts(result),
    }


def _when(at: datetime | None) -> str:
    return "none" if at is None else at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _cutoff(result: RunResult) -> dict[str, Any] | None:
    """The cutoff, its exemptions and per-project cutoffs, and every version held back."""
    cutoff = result.options.policy.cutoff
    if cutoff is None:
        return None
    return {
        "cutoff": _when(cutoff.default),
        "allow_unknown": cutoff.allow_unknown,
        "packages": {name: _when(at) if at else False for name, at in cutoff.packages},
        "held_back": {
            name: [str(v) for v in versions] for name, versions in sorted(result.held_back.items())
        },
        "files_without_upload_time": result.unknown_age,
    }


def failed(error: SelmirrorError) -> dict[str, Any]:
    """The report of a run that ended before it decided anything."""
    return {"selmirror": __version__, "errors": [_error(error)]}


def _error(e: SelmirrorError) -> dict[str, Any]:
    return {"kind": type(e).__name__, "exit_code": e.exit_code, "message": e.message}


UNKNOWN_FIX = "if it has dependencies, name them as requirements (e.g. in your requirements file)"


def unknown_dependencies(result: RunResult) -> dict[str, str]:
    """``"x 1.0"`` -> why its dependencies are unknown, for every target."""
    return dict(sorted({k: v for r in result.resolutions for k, v in r.unknown.items()}.items()))


def dumps(document: dict[str, Any], *, indent: int | None = None) -> str:
    # no indent by default: json's C encoder (a full W3 report lists 68,000 rejected files;
    # 0.5 s with indent); for a person at a terminal, indented
    return json.dumps(document, indent=indent)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover


def summary(result: RunResult) -> list[str]:
    """Closing lines: projects, files, bytes, skipped by reason, errors, time."""
    if result.unchanged is not None:
        last = result.unchanged
        return [
            f"nothing changed upstream or in the requirements: {last.get('projects', 0)} "
            f"project(s), {last.get('files', 0)} file(s) in place, 0 downloaded, "
            f"0 page(s) rewritten; {result.elapsed:.1f}s"
        ]
    c = counts(result)
    if result.options.dry_run:
        head = (
            f"dry run: {c['projects']} project(s), {c['files']} file(s): "
            f"{c['planned']} to download ({_size(c['bytes_planned'])}), "
            f"{c['present']} already present"
        )
    else:
        head = (
            f"{c['projects']} project(s), {c['files']} file(s): {c['downloaded']} downloaded "
            f"({_size(c['bytes_downloaded'])}), {c['present']} already present, "
            f"{c['failed']} failed, {c['pages_rewritten']} page(s) rewritten"
        )
    lines = [f"{head}; {c['seconds']:.1f}s"]
    if c["skipped"]:
        lines.append("skipped: " + ", ".join(f"{n} {k}" for k, n in c["skipped"].items()))
    cutoff = result.options.policy.cutoff
    if cutoff is not None:
        held = sum(len(vs) for vs in result.held_back.values())
        line = (
            f"--exclude-newer {_when(cutoff.default)}: {held} newer version(s) of "
            f"{len(result.held_back)} project(s) held back"
        )
        if result.unknown_age:
            line += f"; {result.unknown_age} file(s) without an upload time left out"
        lines.append(line)
    if result.removed_upstream:
        gone = result.removed_upstream
        new = sum(1 for g in gone if g.new)
        pruned = set(result.pruned)
        kept = sum(1 for g in gone if f"{g.project}/{g.filename}" not in pruned)
        line = f"{len(gone)} file(s) were removed upstream ({new} newly seen)"
        if kept and not result.options.dry_run:
            line += (
                "; `selmirror prune` removes them"
                if not result.options.keep_removed
                else "; kept (--keep-removed)"
            )
        lines.append(line)
    if result.pruned:
        verb = "would prune" if result.options.dry_run else "pruned"
        lines.append(f"{verb} {len(result.pruned)} file(s)")
    for skipped in result.skipped_targets:
        lines.append(f"skipped (matrix targets it cannot serve): {skipped.message}")
    for unknown, why in unknown_dependencies(result).items():
        lines.append(f"dependencies of {unknown} unknown ({why}): {UNKNOWN_FIX}")
    for (name, version), use in result.metadata.items():
        if use.differ:
            lines.append(
                f"the files of {name} {version} declare different dependencies; "
                "each target used those of the file it installs"
            )
    if result.errors:
        lines.append(f"errors: {len(result.errors)}")
    return lines
