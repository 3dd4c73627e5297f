"""The project's YAML loader: strict, and bounded in the work any file can cause.

- A ``yaml.SafeLoader`` subclass that refuses duplicate mapping keys and reads YAML 1.2 floats such as
  ``1e-3`` (PyYAML's YAML 1.1 reads them as strings).
- Bounded work: a file larger than MAX_FILE_BYTES is refused before it is parsed, and a document whose
  aliases would expand to more than MAX_NODES nodes (a "billion laughs" alias bomb: 440 bytes that
  expand to gigabytes) is refused after composing its node graph, before any Python value is built.

Errors are :class:`sweep.fields.SpecError` with ``"{source}: {where}: {reason}"`` messages.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import yaml

from .fields import SpecError

MAX_FILE_BYTES = 1 << 20
"""A sweep file is at most 1 MiB (it is kept whole in the store's root metadata)."""
MAX_NODES = 500_000
"""YAML nodes a document may hold once its aliases are expanded (a 1e5-value grid list is 1e5 nodes)."""


class Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and reads YAML 1.2 floats (``1e-3``)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, typing.Hashable):
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping", node.start_mark,
                            f"found duplicate key {key!r} (first at line {seen[key].line + 1})",
                            key_node.start_mark)
                    seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def yaml_error(e: yaml.YAMLError, source: str) -> str:
    """`{source}: line L, column C: YAML syntax error: ...` for a PyYAML error."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    return f"{source}: {where}: YAML syntax error: {problem}" + (f" ({context})" if context else "")


def expanded_size(node: yaml.Node, limit: int) -> int:
    """Nodes of the tree `node` stands for once every alias is expanded, counted over the node graph (an
    alias is the same node object, so each node's size is computed once); stops counting past `limit`."""
    sizes: dict[int, int] = {}
    order, stack = [], [node]
    while stack:  # children before parents, without recursion (a deep document must not overflow the stack)
        n = stack.pop()
        if id(n) in sizes:
            continue
        sizes[id(n)] = -1
        order.append(n)
        if isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
        elif isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack += [k, v]
    for n in reversed(order):
        total = 1
        if isinstance(n, yaml.SequenceNode):
            total += sum(sizes[id(c)] for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total += sum(sizes[id(k)] + sizes[id(v)] for k, v in n.value)
        sizes[id(n)] = min(total, limit + 1)
    return sizes[id(node)]


def load_text(text: str, source: str) -> Any:
    """The value of one YAML document (None when empty), refused (SpecError) when it is larger than
    MAX_FILE_BYTES, not valid YAML, or expands to more than MAX_NODES nodes."""
    if len(text) > MAX_FILE_BYTES:
        raise SpecError([f"{source}: (file): {len(text)} characters, more than the {MAX_FILE_BYTES} a sweep file "
                         "may hold"])
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = expanded_size(node, MAX_NODES)
        if size > MAX_NODES:
            raise SpecError([f"{source}: (file): its aliases expand to more than {MAX_NODES} YAML nodes; a sweep "
                             "file needs far fewer (is it an alias bomb?)"])
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise SpecError([yaml_error(e, source)]) from None
    except RecursionError:
        raise SpecError([f"{source}: (file): nested too deeply to be a sweep file"]) from None
    finally:
        loader.dispose()


def read_text(path: str | Path) -> str:
    """The text of a sweep file, refused (SpecError) when unreadable, not UTF-8 or larger than MAX_FILE_BYTES
    (checked before reading it whole)."""
    try:
        p = Path(path)
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError([f"{path}: (file): {size} bytes, more than the {MAX_FILE_BYTES} a sweep file may hold"])
        with open(p, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise SpecError([f"{path}: (file): cannot read: {reason}"]) from None
