"""Strict parsing of config files: duplicate keys refused, YAML aliases bounded, only regular files read.

`yaml.safe_load` and `json.loads` keep the last of two equal keys and drop the first without a word
(`grid:` twice: half a sweep gone); YAML aliases let a few hundred bytes expand to billions of nodes (an
"anchor bomb"), which hangs whatever walks the config; and reading a FIFO or a device as a config blocks
or never ends. `strict_loader()` is PyYAML's SafeLoader with two checks added (a subclass is enough: the
composer already sees every mapping key and every alias; a second YAML library would add a dependency
for the same two checks): a key repeated in one mapping is an error naming its line, and a document
whose aliases expand to more than MAX_NODES nodes, or that uses more than MAX_ALIASES aliases, is
refused before anything is constructed.
"""
from __future__ import annotations

import functools
import json
import os
import stat

from syncgap.theory.checks import InputError, unique_keys

MAX_ALIASES = 100        # alias uses in one document (a hand-written sweep needs a handful)
MAX_NODES = 100_000      # nodes of the document with every alias expanded
MAX_CONFIG_BYTES = 16 * 2**20


@functools.lru_cache(maxsize=None)
def strict_loader():
    """The StrictLoader class: PyYAML's SafeLoader refusing duplicate keys and bounding aliases (module
    docstring); built on first use, so JSON configs need no PyYAML."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate mapping keys and bounds aliases (module docstring)."""

        def __init__(self, stream):
            super().__init__(stream)
            self.aliases_used = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self.aliases_used += 1
                if self.aliases_used > MAX_ALIASES:
                    mark = self.peek_event().start_mark
                    raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (*name) at line {mark.line + 1}: "
                                         "refused (a config that expands without bound)")
            return super().compose_node(parent, index)

        def construct_document(self, node):
            size = expanded_size(node)
            if size > MAX_NODES:
                raise yaml.YAMLError(f"its aliases expand it to {size:.3g} nodes, more than {MAX_NODES}: refused "
                                     "(an anchor bomb)")
            return super().construct_document(node)

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = {}
                for key_node, _ in node.value:
                    if not isinstance(key_node, yaml.ScalarNode):
                        continue
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {key_node.value!r} appears twice in one mapping (first at line "
                            f"{seen[key_node.value] + 1}; the second would silently replace the first)",
                            key_node.start_mark)
                    seen[key_node.value] = key_node.start_mark.line
            return super().construct_mapping(node, deep)
    return StrictLoader


def expanded_size(node, memo: dict | None = None) -> int:
    """Nodes of a composed YAML graph with every alias expanded (shared nodes counted at each use)."""
    import yaml
    memo = {} if memo is None else memo
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1                      # a recursive alias: counted once, PyYAML constructs it as a cycle
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(expanded_size(v, memo) for v in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(expanded_size(k, memo) + expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def load_yaml(text: str):
    """yaml.load with StrictLoader (yaml.YAMLError on a duplicate key or an anchor bomb)."""
    import yaml
    return yaml.load(text, Loader=strict_loader())


def load_json(text: str):
    """json.loads that refuses duplicate keys (InputError) and reads NaN/Infinity as floats (checked later)."""
    return json.loads(text, parse_constant=lambda c: float(c), object_pairs_hook=unique_keys)


def read_regular_file(path, what: str = "CONFIG") -> bytes:
    """The bytes of `path` when it is a regular file of at most MAX_CONFIG_BYTES; InputError otherwise
    (a FIFO, a socket or a device would block or never end)."""
    shown = repr(str(path))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{what}: no such file {shown}") from None
    except OSError as exc:
        raise InputError(f"{what}: cannot read {shown}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{what}: {shown} is a directory, not a config file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or \
            stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
        raise InputError(f"{what}: {shown} is {kind}, not a regular file: give a config file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise InputError(f"{what}: {shown} has {st.st_size} bytes, more than a config's {MAX_CONFIG_BYTES}")
    try:
        with open(path, "rb") as f:
            return f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{what}: cannot read {shown}: {exc.strerror}") from None


__all__ = ["strict_loader", "load_yaml", "load_json", "read_regular_file", "expanded_size", "MAX_ALIASES",
           "MAX_NODES"]
