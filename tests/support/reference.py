"""The request examples of the LUNA Admin reference, read from the reference itself.

The reference (`luna-admin-reference.txt`, a text dump of the published
document) lost the method and path of every operation and renders JSON as
`{- "key": value,` lines. This module finds every operation that takes a JSON
body (a `Content-Type | string Value: "application/json"` line), its summary,
the example of each of its path parameters, and its request example, read back
as JSON. Nothing is changed: values are the reference's own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REFERENCE = Path("/work/shared/seed/luna-admin-reference.txt")
JSON_BODY = 'Content-Type | string Value: "application/json" |'


@dataclass
class Example:
    summary: str
    """The first line of the operation's description, as the reference writes it."""
    path_examples: dict[str, str]
    """Path parameter name -> the reference's example value."""
    text: str
    """The request example as the reference renders it."""
    line: int
    """1-based line of the example in the reference."""


def _is_json_line(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(("{-", "[-", "- ", "}", "]", "{", "["))


def _is_param_line(line: str) -> bool:
    return " | " in line or line.rstrip().endswith("|")


def examples(path: Path = REFERENCE) -> list[Example]:
    """Every request example of the reference, in the order it gives them."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found = []
    for index, line in enumerate(lines):
        if line.strip() != JSON_BODY:
            continue
        # The operation: the run of description lines above its parameter lines.
        top = index
        while top > 0 and _is_param_line(lines[top - 1]):
            top -= 1
        start = top
        while (
            start > 0
            and not _is_param_line(lines[start - 1])
            and not _is_json_line(lines[start - 1])
        ):
            start -= 1
        summary = lines[start].strip()
        path_examples = {}
        for param in lines[top:index]:
            match = re.match(r"^(\w+) required \| .*? Example: (\S+)", param)
            if match and "=" not in match[2]:
                path_examples[match[1]] = match[2]
        # The request example: the first JSON block after the body's fields.
        first = index + 1
        while first < len(lines) and not lines[first].lstrip().startswith(("{-", "[-")):
            first += 1
        last = first + 1
        while last < len(lines) and _is_json_line(lines[last]):
            if lines[last].lstrip().startswith(("{-", "[-")):
                break  # the next block: an answer
            last += 1
        text = "\n".join(lines[first:last])
        found.append(Example(summary, path_examples, text, first + 1))
    return found


TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<other>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?'
    r"|true|false|null|[{}\[\]:,])|(?P<marker>-(?=\s)))"
)


def parse(example: Example) -> Any:
    """The example as JSON: the reference's tokens without its `- ` markers (and
    without a comma before a closing bracket, which JSON does not allow)."""
    tokens: list[str] = []
    text, position = example.text.rstrip(), 0
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"line {example.line}: cannot read {text[position : position + 30]!r}")
        position = match.end()
        if match["marker"] is None:
            token = match["string"] or match["other"]
            if token in ("}", "]") and tokens and tokens[-1] == ",":
                tokens.pop()
            tokens.append(token)
    return json.loads("".join(tokens))
