"""YAML the way repronotes reads it: strict for experiment.yaml, lenient for a site's mkdocs.yml.

Strict: a duplicate key is an error (PyYAML would silently keep the last one), and every error
names the file and the line. Lenient: MkDocs' own tags (`!ENV`, `!!python/name:`) load as plain
values, so the CLI can read the plugin's options without importing what the tags name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from repronotes import environ
from repronotes.errors import SpecError


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _LenientLoader(yaml.SafeLoader):
    """SafeLoader that turns unknown tags into plain scalars, sequences or mappings."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


def _env_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    """MkDocs' `!ENV VAR` / `!ENV [VAR, ..., default]`: the first variable set (typed as YAML), else the default."""
    children = list(node.value) if isinstance(node, yaml.SequenceNode) else [node]
    default = loader.construct_object(children.pop()) if len(children) > 1 else None
    for child in children:
        value = environ.get(str(loader.construct_scalar(child)))  # type: ignore[arg-type]
        if value is not None:
            tag = loader.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
            return loader.construct_object(yaml.ScalarNode(tag, value))
    return default


_LenientLoader.add_constructor("!ENV", _env_tag)
_LenientLoader.add_multi_constructor("!", _any_tag)
_LenientLoader.add_multi_constructor("tag:yaml.org,2002:python/", _any_tag)


def load_strict(path: Path, file: str) -> Any:
    """The document of a YAML file, or SpecError naming the file, the line and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(file, "<file>", f"cannot be read ({exc.__class__.__name__})") from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<document>"
        raise SpecError(file, where, f"not valid YAML ({getattr(exc, 'problem', None) or exc})") from exc


def load_lenient(path: Path) -> Any:
    """A YAML document with unknown tags loaded as plain values; None when it cannot be parsed."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LenientLoader)  # noqa: S506
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
