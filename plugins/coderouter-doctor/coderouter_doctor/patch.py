"""Config patches: small operations on ``coderouter.toml``, applied with tomlkit so comments,
blank lines and key order stay as the operator wrote them.

A path names a key from the top of the file; ``("providers", NAME, ...)`` goes into the
``[[providers]]`` table whose ``name`` is ``NAME``. New keys go after the last key of their
table, before the comments and blank lines that lead into the next table (tomlkit keeps those
with the table above them), and new tables under a provider are inline tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import tomlkit
from tomlkit.container import Container
from tomlkit.items import AoT, InlineTable, Item, Table

__all__ = ["Append", "Enable", "Op", "Patch", "PatchError", "Set", "apply_patches", "render"]


class PatchError(ValueError):
    """A patch that cannot be applied to this file (a provider it names is not there)."""


def render(value: Any) -> str:
    """``value`` as TOML writes it."""
    return str(tomlkit.item(value).as_string())


def _where(path: tuple[str, ...]) -> str:
    if path[:1] == ("providers",) and len(path) > 1:
        return ".".join((f"providers[{path[1]}]", *path[2:]))
    return ".".join(path)


@attrs.frozen
class Set:
    """``path = value``."""

    path: tuple[str, ...]
    value: Any

    def describe(self) -> str:
        return f"{_where(self.path)} = {render(self.value)}"

    def apply(self, doc: tomlkit.TOMLDocument) -> bool:
        parent = _parent(doc, self.path)
        key = self.path[-1]
        if key in parent and parent[key] == self.value:
            return False
        _put(parent, key, self.value)
        return True


@attrs.frozen
class Append:
    """``value`` added to the list at ``path`` (the list is made when missing)."""

    path: tuple[str, ...]
    value: Any

    def describe(self) -> str:
        return f"{_where(self.path)} += [{render(self.value)}]"

    def apply(self, doc: tomlkit.TOMLDocument) -> bool:
        parent = _parent(doc, self.path)
        key = self.path[-1]
        current = list(parent.get(key, []))
        if self.value in current:
            return False
        _put(parent, key, [*current, self.value])
        return True


@attrs.frozen
class Enable:
    """``plugin`` listed in ``[plugins] enabled``, before the first of ``before`` listed there
    (config order is call order), else at the end."""

    plugin: str
    before: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"plugins.enabled += [{render(self.plugin)}]"

    def apply(self, doc: tomlkit.TOMLDocument) -> bool:
        plugins = _parent(doc, ("plugins", "enabled"))
        current = [str(name) for name in plugins.get("enabled", [])]
        if self.plugin in current:
            return False
        at = next((current.index(n) for n in current if n in self.before), len(current))
        _put(plugins, "enabled", [*current[:at], self.plugin, *current[at:]])
        return True


Op = Set | Append | Enable


@attrs.frozen
class Patch:
    """The operations that fix one verdict, in order."""

    ops: tuple[Op, ...]

    def describe(self) -> str:
        return "; ".join(op.describe() for op in self.ops)

    def as_json(self) -> list[str]:
        return [op.describe() for op in self.ops]


def apply_patches(text: str, patches: Iterable[Patch]) -> tuple[str, list[str]]:
    """The patched text and the operations that changed something (an operation already in
    the file changes nothing and is not listed)."""
    doc = tomlkit.parse(text)
    changed: list[str] = []
    for patch in patches:
        for op in patch.ops:
            if op.apply(doc) and op.describe() not in changed:
                changed.append(op.describe())
    return (tomlkit.dumps(doc) if changed else text), changed


# --- navigating and inserting ----------------------------------------------------------------

Parent = Table | InlineTable | tomlkit.TOMLDocument


def _provider(doc: tomlkit.TOMLDocument, name: str) -> Table:
    providers = doc.get("providers")
    if isinstance(providers, AoT):
        for table in providers:
            if table.get("name") == name:
                found: Table = table
                return found
    raise PatchError(f"providers: no [[providers]] table with name = {name!r}")


def _parent(doc: tomlkit.TOMLDocument, path: tuple[str, ...]) -> Parent:
    """The table holding ``path[-1]``, made (empty) where it is missing."""
    node: Parent = doc
    keys = path[:-1]
    if keys[:1] == ("providers",):
        node = _provider(doc, keys[1])
        keys = keys[2:]
    for depth, key in enumerate(keys, start=1):
        found = node.get(key)
        if not isinstance(found, Table | InlineTable):
            if found is not None:
                raise PatchError(f"{_where(path)}: {key} is not a table")
            if isinstance(node, InlineTable) or (node is not doc and path[0] == "providers"):
                found = tomlkit.inline_table()
            else:
                found = tomlkit.table(is_super_table=depth < len(keys))
            _put(node, key, found)
            found = node[key]
        node = found
    return node


def _put(parent: Parent, key: str, value: Any) -> None:
    """Set ``key``: in place when it exists (its comment keeps its column where the new value
    fits), else after the table's last key."""
    if key in parent:
        old = parent.item(key) if isinstance(parent, Table) else None
        new = tomlkit.item(value)
        if isinstance(old, Item) and old.trivia.comment:
            width = len(old.as_string()) + len(old.trivia.comment_ws)
            new.trivia.comment = old.trivia.comment
            new.trivia.comment_ws = " " * max(2, width - len(new.as_string()))
        parent[key] = new
        return
    if isinstance(parent, InlineTable):
        parent[key] = value
        return
    item = tomlkit.item(value)
    if isinstance(parent, tomlkit.TOMLDocument):
        parent.append(key, item)
        return
    if isinstance(item, Table) and not item.is_super_table():
        item.trivia.indent = "\n"
    _insert_after_last_key(parent.value, key, item)


def _insert_after_last_key(container: Container, key: str, item: Item) -> None:
    last = -1
    for index, (name, existing) in enumerate(container.body):
        if name is not None and not isinstance(existing, Table | AoT):
            last = index
    at = last + 1 if last >= 0 else (len(container.body) if isinstance(item, Table) else 0)
    if at >= len(container.body):
        container.append(key, item)
    else:
        container._insert_at(at, key, item)
