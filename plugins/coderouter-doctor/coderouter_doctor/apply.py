"""``--apply`` / ``--dry-run``: the patches of a run, written into the config file."""

from __future__ import annotations

import difflib
import shutil
import tomllib
from collections.abc import Sequence
from pathlib import Path

import attrs

from coderouter.config import ConfigError, parse_config
from coderouter_doctor.patch import Patch, PatchError, apply_patches
from coderouter_doctor.runner import ProviderReport

__all__ = ["Outcome", "patches_of", "write_patches"]


@attrs.frozen
class Outcome:
    """What ``--apply`` / ``--dry-run`` did: ``message`` for the operator, the ``diff``
    (empty when nothing changes) and whether it failed."""

    message: str
    diff: str = ""
    failed: bool = False


def patches_of(reports: Sequence[ProviderReport]) -> list[Patch]:
    return [
        r.patch
        for report in reports
        for r in report.results
        if r.verdict == "needs_tuning" and r.patch is not None and r.patch.ops
    ]


def write_patches(path: Path, patches: Sequence[Patch], *, dry_run: bool) -> Outcome:
    """Apply ``patches`` to the file at ``path``; unless ``dry_run``, write
    ``<path>.bak`` first, then the patched file. The patched text must load as a config."""
    if not patches:
        return Outcome("no patches to apply")
    try:
        text = path.read_text(encoding="utf-8")
        patched, changed = apply_patches(text, patches)
    except OSError as exc:
        return Outcome(f"cannot read {path}: {exc}", failed=True)
    except PatchError as exc:
        return Outcome(f"cannot patch {path}: {exc}", failed=True)
    if not changed:
        return Outcome(f"already applied: {path} has every patch; nothing written")
    try:
        parse_config(tomllib.loads(patched), source=str(path))
    except (tomllib.TOMLDecodeError, ConfigError) as exc:
        return Outcome(f"the patched config would not load, nothing written: {exc}", failed=True)
    diff = "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            patched.splitlines(keepends=True),
            fromfile=str(path),
            tofile=f"{path} (patched)",
        )
    )
    if dry_run:
        return Outcome(f"dry run: {len(changed)} changes, nothing written", diff)
    backup = path.with_name(path.name + ".bak")
    try:
        shutil.copy2(path, backup)
        path.write_text(patched, encoding="utf-8")
    except OSError as exc:
        return Outcome(f"cannot write {path}: {exc}", diff, failed=True)
    return Outcome(f"wrote {path} ({len(changed)} changes; the old file is {backup})", diff)
