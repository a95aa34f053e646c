"""A plan document (Markdown or plain text) as lines that know their place.

Each line carries its section (the headings above it), whether it sits in a code block, and,
for a table row, its cells and the header above them. Markdown decoration (emphasis, list
markers, tree drawing, check marks) is stripped into `plain`; `label` is the text before a
`Label: value` colon. Nothing here interprets a number; numbers.py and phrases.py do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)")
_SEPARATOR_ROW = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_DECORATION = re.compile(r"\*\*|__|`|✅|✓|✗|❌|⚠️?|☑|\[[ xX]\]")
_LEAD = re.compile(r"^[\s>*+•·├└│─┬┼-]*(?:\d+[.)]\s+)?")
_DICT_ENTRY = re.compile(r"""^\s*['"]([A-Za-z_]\w*)['"]\s*:\s*(.+?),?\s*(?:#\s*(.*))?$""")
_ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)\s*=\s*([-+0-9.eE_]+)\s*(?:#\s*(.*))?$")  # top level only


@dataclass(frozen=True)
class Line:
    """One line of a document, with what a reader knows when reading it."""

    number: int  # 1-based, as an editor shows it
    text: str  # as written
    plain: str  # decoration stripped
    section: str = ""  # the headings above it, outermost first, joined by " > "
    heading: bool = False
    code: str = ""  # "" for prose; the fence language ("python", "text") inside a code block
    cells: tuple = ()  # a table row's cells
    header: tuple = ()  # the header row of the table it belongs to
    parent: str = ""  # the line this one continues (a tree item's parent, a code block's title)

    @property
    def label(self) -> str:
        """The text before 'Label: value', or the key of a code dict entry ('total batch size')."""
        entry = code_entry(self)
        if entry:
            return entry[0].replace("_", " ")
        if ":" in self.plain and not self.cells:
            head = self.plain.split(":", 1)[0].strip()
            if 0 < len(head) <= 60 and not re.search(r"https?$", head):
                return head
        return ""

    @property
    def last_heading(self) -> str:
        return self.section.split(" > ")[-1] if self.section else ""


def code_entry(line: Line) -> tuple[str, str, str] | None:
    """(key, value text, comment) of a code line that sets a number: `'key': 8, # why` or `key = 8`."""
    if not line.code:
        return None
    match = _DICT_ENTRY.match(line.text) or _ASSIGNMENT.match(line.text)
    if not match:
        return None
    key, value, comment = match.groups()
    if not re.match(r"^[-+]?[0-9][0-9_.,eE+-]*$", value.strip()):
        return None
    return key, value.strip(), comment or ""


def strip_markdown(text: str) -> str:
    """A line without emphasis, list markers, tree drawing or check marks."""
    text = _DECORATION.sub("", text)
    text = _LEAD.sub("", text, count=1)
    return re.sub(r"\s+", " ", text).strip()


def _is_code_block_text(language: str, lines: list[str]) -> bool:
    """Program text (only its `key: value` settings are read) rather than prose in a fence."""
    if language in ("python", "py", "bash", "sh", "json", "yaml", "cpp", "c", "rust", "go"):
        return True
    program = sum(
        bool(
            re.search(
                r"^\s*(def |class |import |from \w+ import|return\b|for .* in |if .*:$)"
                r"|self\.|torch\.|\)\s*:$",
                t,
            )
        )
        for t in lines
    )
    return program >= 2


def _cells(text: str) -> tuple:
    inner = text.strip()
    if inner.startswith("|"):
        inner = inner[1:]
    if inner.endswith("|"):
        inner = inner[:-1]
    return tuple(strip_markdown(c) for c in inner.split("|"))


def read_document(text: str) -> list[Line]:
    """Every line of `text` with its section, code block, table and parent."""
    raw = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines: list[Line] = []
    headings: list[tuple[int, str]] = []
    i = 0
    header: tuple = ()
    parent_stack: list[tuple[int, str]] = []  # (indent, plain) of lines that may own the next ones
    while i < len(raw):
        text_i = raw[i]
        fence = _FENCE.match(text_i)
        if fence:
            end = next((j for j in range(i + 1, len(raw)) if _FENCE.match(raw[j])), len(raw))
            body = raw[i + 1 : end]
            language = fence.group(2).lower() or "text"
            program = _is_code_block_text(fence.group(2).lower(), body)
            section = " > ".join(h for _, h in headings)
            title = ""
            block_header: tuple = ()
            for k, body_text in enumerate(body, start=i + 2):
                plain = strip_markdown(body_text)
                cells = _cells(body_text) if body_text.count("|") >= 2 and not program else ()
                if cells and not block_header and not any(re.search(r"\d", c) for c in cells):
                    block_header = cells
                    lines.append(Line(k, body_text, plain, section, code="table", cells=cells))
                    continue
                if _SEPARATOR_ROW.match(body_text):
                    continue
                owner = _owner(parent_stack, body_text) or title
                lines.append(
                    Line(
                        k,
                        body_text,
                        plain,
                        section,
                        code=language if program else "text",
                        cells=cells,
                        header=block_header if cells else (),
                        parent=owner,
                    )
                )
                if not title and plain.endswith(":") and not cells:
                    title = plain
                _push(parent_stack, body_text, plain)
            i = end + 1
            parent_stack = []
            continue
        heading = _HEADING.match(text_i)
        if heading:
            level = len(heading.group(1))
            headings = [h for h in headings if h[0] < level] + [(level, strip_markdown(heading.group(2)))]
            lines.append(
                Line(
                    i + 1,
                    text_i,
                    strip_markdown(heading.group(2)),
                    " > ".join(h for _, h in headings),
                    heading=True,
                )
            )
            header, parent_stack = (), []
            i += 1
            continue
        section = " > ".join(h for _, h in headings)
        plain = strip_markdown(text_i)
        if text_i.count("|") >= 2:
            cells = _cells(text_i)
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            if _SEPARATOR_ROW.match(nxt):
                header = cells
                lines.append(Line(i + 1, text_i, plain, section, cells=cells))
                i += 2
                continue
            if _SEPARATOR_ROW.match(text_i):
                i += 1
                continue
            lines.append(Line(i + 1, text_i, plain, section, cells=cells, header=header))
            i += 1
            continue
        header = () if plain else header
        owner = _owner(parent_stack, text_i)
        lines.append(Line(i + 1, text_i, plain, section, parent=owner))
        if plain:
            _push(parent_stack, text_i, plain)
        i += 1
    return lines


def _indent(text: str) -> int:
    lead = re.match(r"^[\s│]*", text).group(0)
    return len(lead.replace("\t", "    "))


def _is_tree_item(text: str) -> bool:
    return bool(re.match(r"^[\s│]*[├└]", text))


def _push(stack: list, text: str, plain: str) -> None:
    indent, tree = _indent(text), _is_tree_item(text)
    while stack and (stack[-1][0] > indent or (stack[-1][0] == indent and (not tree or stack[-1][2]))):
        stack.pop()
    stack.append((indent, plain, tree))


def _owner(stack: list, text: str) -> str:
    """The plain text of the line this one hangs from: the nearest less-indented line above, or for a
    tree item (├── └──) the nearest line above that is not itself a tree item at its depth."""
    indent, tree = _indent(text), _is_tree_item(text)
    for owner_indent, owner, owner_tree in reversed(stack):
        if owner_indent < indent or (tree and owner_indent == indent and not owner_tree):
            return owner
    return ""
