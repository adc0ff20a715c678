"""Generate the per-stack configuration reference (docs/configuration.md) and the architecture
diagram (docs/architecture.md).

    .venv/bin/python scripts/config_reference.py           # print both sections
    .venv/bin/python scripts/config_reference.py --write   # replace the docs' sections
    .venv/bin/python scripts/config_reference.py --check   # exit 1 when a section is stale

It walks `stacks.settings.PlatformSettings`: one row per setting with its key (as written under
`trading-platform:` in `Pulumi.<stack>.yaml`), its type, the value each stack resolves to (its
profile's default merged with the stack's overrides) and the comment written next to the field in
the model. docs/configuration.md holds the output between the `config-reference` markers; a test
fails when it differs, so the reference cannot drift from the models.

The architecture diagram (between the `architecture` markers) is drawn from the production
stack's dependency graph (`stacks.graph.build_graph`): every service in the subgraph of the tier
component that deploys it, an arrow per declared call, the public entry points marked.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import json
import sys
import textwrap
import tokenize
import types
import typing
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from stacks.config import load_settings, project_values  # noqa: E402
from stacks.graph import build_graph  # noqa: E402
from stacks.settings import PlatformSettings  # noqa: E402
from tools.offline import Recording, engine_value, run_stack, stack_config  # noqa: E402

REFERENCE_DOC = ROOT / "docs" / "configuration.md"
ARCHITECTURE_DOC = ROOT / "docs" / "architecture.md"
START = "<!-- config-reference:start -->"
END = "<!-- config-reference:end -->"
ARCH_START = "<!-- architecture:start -->"
ARCH_END = "<!-- architecture:end -->"
DIAGRAM_STACK = "prod"
STACKS = ("dev", "staging", "prod", "adopt")  # adopt: seed 000's release, docs/adoption.md
MAX_VALUE = 48  # longer values are shortened in the table; the stack files hold them in full


def stack_values(stack: str) -> dict[str, Any]:
    """The stack's resolved settings as YAML would spell them (camelCase keys)."""
    values = project_values({k: engine_value(v) for k, v in stack_config(stack).items()})
    settings = load_settings(values)
    dumped: dict[str, Any] = settings.model_dump(mode="json", by_alias=True)
    return dumped


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return Union[tuple(args)], optional  # noqa: UP007 - built at run time
    return annotation, False


def _model(annotation: Any) -> type[BaseModel] | None:
    annotation, _ = _unwrap_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _map_of_models(annotation: Any) -> type[BaseModel] | None:
    annotation, _ = _unwrap_optional(annotation)
    if typing.get_origin(annotation) in (dict, Mapping):
        args = typing.get_args(annotation)
        return _model(args[1]) if len(args) == 2 else None
    return None


def type_name(annotation: Any) -> str:
    inner, optional = _unwrap_optional(annotation)
    origin = typing.get_origin(inner)
    if origin is typing.Annotated:
        return type_name(typing.get_args(inner)[0]) + (" \\| null" if optional else "")
    if origin is Literal:
        text = " \\| ".join(f"`{a}`" for a in typing.get_args(inner))
    elif origin in (Union, types.UnionType):
        text = " \\| ".join(type_name(a) for a in typing.get_args(inner))
    elif origin in (list, tuple):
        items = [a for a in typing.get_args(inner) if a is not Ellipsis]
        text = f"list of {type_name(items[0])}" if items else "list"
    elif origin in (dict, Mapping):
        args = typing.get_args(inner)
        text = f"map of {type_name(args[1])}" if len(args) == 2 else "map"
    elif isinstance(inner, type) and issubclass(inner, BaseModel):
        text = "object"
    elif isinstance(inner, type):
        text = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
            inner.__name__, inner.__name__
        )
    else:
        text = str(inner).replace("typing.", "")
    return text + (" \\| null" if optional else "")


@cache
def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Comments written next to each field in the model's source (above it or trailing)."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):
            continue
        lines = source.splitlines()
        comments: dict[int, tuple[str, bool]] = {}  # row -> (text, whole line)
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                row = token.start[0]
                whole = lines[row - 1].strip().startswith("#")
                comments[row] = (token.string.lstrip("#").strip(), whole)
        tree = ast.parse(source)
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node in body:
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            above: list[str] = []
            row = node.lineno - 1
            while row in comments and comments[row][1]:
                above.insert(0, comments[row][0])
                row -= 1
            trailing = [
                comments[r][0]
                for r in range(node.lineno, (node.end_lineno or node.lineno) + 1)
                if r in comments and not comments[r][1]
            ]
            text = " ".join(above + trailing).strip()
            if text:
                found[node.target.id] = text
    return found


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if value == "":
        return '`""`'
    text = json.dumps(value, separators=(", ", ": ")) if not isinstance(value, str) else value
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + "…"
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def describe(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


Row = tuple[str, str, list[Any], str]


def rows(model: type[BaseModel], values: list[Any], prefix: str = "") -> Iterator[Row]:
    """(key, type, value per stack, comment) for every leaf setting under `model`."""
    comments = field_comments(model)
    for name, info in model.model_fields.items():
        yield from _field_rows(name, info, model, values, prefix, comments)


def _field_rows(
    name: str,
    info: FieldInfo,
    model: type[BaseModel],
    values: list[Any],
    prefix: str,
    comments: Mapping[str, str],
) -> Iterator[Row]:
    key = info.alias or name
    path = f"{prefix}.{key}" if prefix else key
    mine = [v.get(key) if isinstance(v, Mapping) else None for v in values]
    nested = _model(info.annotation)
    entries = _map_of_models(info.annotation)
    note = comments.get(name) or (info.description or "")
    if nested is not None and any(isinstance(v, Mapping) for v in mine):
        if note:
            yield (path, type_name(info.annotation), [None] * len(values), note)
        yield from rows(nested, mine, path)
    elif entries is not None:
        # A map of objects: its entry names per stack, then the fields every entry takes
        # (values per entry are in the stack files and profiles, not repeated here).
        names = [sorted(v) if isinstance(v, Mapping) else None for v in mine]
        yield (path, type_name(info.annotation), names, note)
        for sub_key, sub_type, _, sub_note in rows(entries, [{}] * len(values)):
            yield (f"{path}.<name>.{sub_key}", sub_type, [None] * len(values), sub_note)
    else:
        yield (path, type_name(info.annotation), mine, note)


def generate(stacks: tuple[str, ...] = STACKS) -> str:
    values = [stack_values(s) for s in stacks]
    header = "| key | type | " + " | ".join(f"`{s}`" for s in stacks) + " | notes |"
    lines = [
        "Generated by `scripts/config_reference.py` from `stacks/settings/` and the stack files;",
        "do not edit by hand (`.venv/bin/python scripts/config_reference.py --write`). Values are",
        "what each stack resolves to: its profile's defaults merged with `Pulumi.<stack>.yaml`.",
        "A key with no values is an object whose settings follow; `-` is unset (null).",
        "",
        header,
        "|" + "---|" * (len(stacks) + 3),
    ]
    for key, kind, per_stack, note in rows(PlatformSettings, values):
        cells = " | ".join(cell(v) for v in per_stack)
        lines.append(f"| `{key}` | {kind} | {cells} | {describe(note)} |")
    return "\n".join(lines) + "\n"


SERVING_KINDS = ("Service", "Deployment", "StatefulSet", "Job", "CronJob")


def _node_id(name: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in name)


def _tier_of_host(recording: Recording) -> dict[str, str]:
    """Object name -> the tier component (type token and logical name) that declares it."""
    root = f"::trading-platform-{recording.stack}"
    tiers = {
        r.name: r.type for r in recording.resources if not r.custom and r.parent.endswith(root)
    }
    found: dict[str, str] = {}
    # Sorted: resources register concurrently, so their recorded order varies between runs.
    for registration in sorted(recording.kubernetes_objects(), key=lambda r: r.urn):
        if registration.kind not in SERVING_KINDS:
            continue  # e.g. a ServiceMonitor named after the service it scrapes
        tier = recording.tier_of(registration)
        found.setdefault(registration.object_name or "", f"{tiers.get(tier, tier)} ({tier})")
    return found


def architecture(stack: str = DIAGRAM_STACK, recording: Recording | None = None) -> str:
    """Mermaid: tiers as subgraphs of the services they deploy, one arrow per declared call.
    `recording`: the stack's offline run, when the caller has one already."""
    values = project_values({k: engine_value(v) for k, v in stack_config(stack).items()})
    graph = build_graph(load_settings(values))
    recording = recording or run_stack(stack)
    tier_of = _tier_of_host(recording)
    by_tier: dict[str, list[str]] = {}
    for name in sorted(graph.names):
        node = graph[name]
        tier = tier_of.get(node.host) or tier_of.get(f"{node.host}-{name}") or "other"
        by_tier.setdefault(tier, []).append(name)
    tiers_with_nodes = set(by_tier)
    components = [
        f"{r.type} ({r.name})"
        for r in recording.resources
        if not r.custom and r.parent.endswith(f"::trading-platform-{stack}")
    ]
    lines = [
        f"Generated from the `{stack}` stack by `scripts/config_reference.py` (do not edit by",
        "hand). Boxes are the tier components, nodes the services of the dependency graph, arrows",
        "the declared calls (NetworkPolicies, Istio AuthorizationPolicies, `SERVICE_*_URL` and the",
        "startup order all derive from them). Every tier is created after the namespace tier.",
        "",
        "```mermaid",
        "flowchart LR",
        '  clients(["clients"])',
    ]
    for index, tier in enumerate(sorted(by_tier)):
        lines.append(f'  subgraph tier{index}["{tier}"]')
        lines.extend(f'    {_node_id(n)}["{n}"]' for n in by_tier[tier])
        lines.append("  end")
    others = sorted(c for c in components if c not in tiers_with_nodes)
    for index, component in enumerate(others):
        lines.append(f'  other{index}[["{component}"]]')
    for name in sorted(graph.names):
        if graph[name].public:
            lines.append(f"  clients --> {_node_id(name)}")
    for caller, callee in sorted(graph.pairs()):
        lines.append(f"  {_node_id(caller)} --> {_node_id(callee)}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def section(readme: str, start: str = START, end: str = END) -> str | None:
    if start not in readme or end not in readme:
        return None
    return readme.split(start, 1)[1].split(end, 1)[0].strip("\n") + "\n"


def replace_section(readme: str, text: str, start: str = START, end: str = END) -> str:
    head, rest = readme.split(start, 1)
    tail = rest.split(end, 1)[1]
    return f"{head}{start}\n{text}{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="replace the docs' sections")
    mode.add_argument("--check", action="store_true", help="exit 1 when a section is stale")
    options = parser.parse_args(argv)
    # (document, start marker, end marker) -> the generated text.
    texts = {
        (REFERENCE_DOC, START, END): generate(),
        (ARCHITECTURE_DOC, ARCH_START, ARCH_END): architecture(),
    }
    if not (options.write or options.check):
        print("\n".join(texts.values()), end="")
        return 0
    for (doc, start, end), text in texts.items():
        current = doc.read_text()
        name = doc.relative_to(ROOT)
        if section(current, start, end) is None:
            print(f"{name} lacks the {start} / {end} markers", file=sys.stderr)
            return 2
        if options.check:
            if section(current, start, end) != text:
                print(
                    f"{name}'s generated section is stale: run "
                    ".venv/bin/python scripts/config_reference.py --write",
                    file=sys.stderr,
                )
                return 1
            continue
        doc.write_text(replace_section(current, text, start, end))
        print(f"{name}: generated section updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
