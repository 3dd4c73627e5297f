"""The project's YAML loader: strict, and bounded in the work any file can cause.

- A ``yaml.SafeLoader`` subclass that refuses duplicate mapping keys and reads YAML 1.2 floats such as
  ``1e-3`` (PyYAML's YAML 1.1 reads them as strings).
- Bounded work: a file larger than MAX_FILE_BYTES is refused before it is parsed, and a document whose
  aliases would expand to more than MAX_NODES nodes (a "billion laughs" alias bomb: 440 bytes that
  expand to gigabytes) is refused after composing its node graph, before any Python value is built; so is
  an integer literal longer than MAX_INT_CHARS characters (every integer a sweep file takes fits 64 bits;
  Python refuses to convert one of more than 4300 digits anyway), named by its key.
- Text only: a NUL or another control character (PyYAML's non-printable set) is refused with its line and
  column, before parsing.
- Regular files only: :func:`read_text` refuses a FIFO, a device, a socket or a folder before opening it,
  opens without blocking (O_NONBLOCK: a FIFO swapped in between the two cannot block) and checks the opened
  file again (fstat).

Errors are :class:`sweep.config.fields.SpecError` with ``"{source}: {where}: {reason}"`` messages.
"""

from __future__ import annotations

import os
import re
import stat
import typing
from pathlib import Path
from typing import Any, Optional

import yaml

from .fields import NON_PRINTABLE, SpecError, printable

MAX_FILE_BYTES = 1 << 20
"""A sweep file is at most 1 MiB (it is kept whole in the store's root metadata)."""
MAX_NODES = 500_000
"""YAML nodes a document may hold once its aliases are expanded (a 1e5-value grid list is 1e5 nodes)."""
MAX_INT_CHARS = 80
"""Characters an integer literal may have (2**64 - 1 is 20 digits, 66 characters in binary with its 0b)."""
_INT_TAG = "tag:yaml.org,2002:int"


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


def _control_character(text: str, source: str) -> None:
    """Refuse (SpecError) text holding a character PyYAML refuses, naming its line, column and code."""
    m = NON_PRINTABLE.search(text)
    if m is None:
        return
    line = text.count("\n", 0, m.start()) + 1
    column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    what = "a NUL character" if m.group() == "\0" else f"the control character U+{ord(m.group()):04X}"
    raise SpecError([f"{source}: line {line}, column {column}: {what}, which the text of a sweep file never holds"])


def _long_integer(node: yaml.Node) -> Optional[tuple[str, int]]:
    """(key path, length) of the first integer literal longer than MAX_INT_CHARS in the document, or None.
    Walks the composed node graph once per node (aliases are the same node), without recursion."""
    seen, stack = set(), [(node, "")]
    while stack:
        n, path = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, yaml.ScalarNode):
            if n.tag == _INT_TAG and len(n.value) > MAX_INT_CHARS:
                return path or "(value)", len(n.value)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((c, f"{path}[{i}]") for i, c in reversed(list(enumerate(n.value))))
        elif isinstance(n, yaml.MappingNode):
            for k, v in reversed(n.value):
                name = printable(str(k.value))[:60] if isinstance(k, yaml.ScalarNode) else "?"
                stack += [(v, f"{path}.{name}" if path else name), (k, path or "(key)")]
    return None


def load_text(text: str, source: str) -> Any:
    """The value of one YAML document (None when empty), refused (SpecError) when it is larger than
    MAX_FILE_BYTES, holds a control character, is not valid YAML, expands to more than MAX_NODES nodes or holds an
    integer literal longer than MAX_INT_CHARS."""
    if len(text) > MAX_FILE_BYTES:
        raise SpecError([f"{source}: (file): {len(text)} characters, more than the {MAX_FILE_BYTES} a sweep file "
                         "may hold"])
    _control_character(text, source)
    loader = None
    try:
        loader = Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        size = expanded_size(node, MAX_NODES)
        if size > MAX_NODES:
            raise SpecError([f"{source}: (file): its aliases expand to more than {MAX_NODES} YAML nodes; a sweep "
                             "file needs far fewer (is it an alias bomb?)"])
        long = _long_integer(node)
        if long is not None:
            raise SpecError([f"{source}: {long[0]}: an integer of {long[1]} characters, longer than any a sweep "
                             "file takes (the largest, a seed, is below 2**64: 20 digits)"])
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise SpecError([yaml_error(e, source)]) from None
    except RecursionError:
        raise SpecError([f"{source}: (file): nested too deeply to be a sweep file"]) from None
    except ValueError as e:  # a conversion PyYAML does not guard (an integer Python refuses to convert)
        raise SpecError([f"{source}: (file): {printable(str(e))[:200]}"]) from None
    finally:
        if loader is not None:
            loader.dispose()


def file_kind(mode: int) -> str:
    """What a stat mode is, in words ("a FIFO (named pipe)", "a character device", ...)."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _not_regular(path, mode: int) -> SpecError:
    return SpecError([f"{printable(str(path))}: (file): {file_kind(mode)}, not a regular file; a sweep file is a "
                      "regular file (reading this one could block or never end)"])


def read_text(path: str | Path) -> str:
    """The text of a sweep file, refused (SpecError) when it is not a regular file (a FIFO, a device, a socket, a
    folder: checked before opening it, and again on the opened file, opened without blocking), unreadable, not
    UTF-8 or larger than MAX_FILE_BYTES (checked before reading it whole; at most MAX_FILE_BYTES + 1 bytes are
    read, whatever the file claims, as /proc files have size 0)."""
    name = printable(str(path))
    try:
        p = Path(path)
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode)
        if st.st_size > MAX_FILE_BYTES:
            raise SpecError([f"{name}: (file): {st.st_size} bytes, more than the {MAX_FILE_BYTES} a sweep file may "
                             "hold"])
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):  # swapped for something else between the stat and the open
                raise _not_regular(path, mode)
            raw = f.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise SpecError([f"{name}: (file): more than the {MAX_FILE_BYTES} bytes a sweep file may hold"])
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise SpecError([f"{name}: (file): cannot read: {printable(reason)}"]) from None
