"""List the command-line flags that serving engines accept, read from their own sources.

The engines' argument-definition files are parsed with ``ast``; nothing of theirs is
imported or run, so no GPU stack is needed. For each engine a small spec names the entry
function (``vllm serve``'s parser builder, SGLang's ``ServerArgs.add_cli_args``, the router's
``parse_router_args``); the walker follows it into the helpers it calls with the parser and
collects every ``add_argument`` call: its ``--`` option strings and, where they are written as
literals (or as names bound to literals), its choices.

Two engines build most flags from dataclass fields rather than literal strings; the walker
derives those the way the engines' helpers do:

- vLLM: ``get_kwargs(SomeConfig)["field"]`` spread into ``add_argument`` — choices come from a
  ``Literal`` in the field's type (``Literal | str`` only suggests values: ``suggested``), and a
  ``bool`` field also accepts ``--no-<flag>``; ``for key, value in get_kwargs(cls).items()``
  loops (the frontend arguments) give one ``--<field-name>`` flag per dataclass field.
- SGLang (0.5.2x): fields annotated ``A[T, "help"]`` or ``A[T, Arg(...)]`` on the namespace
  classes that ``ServerArgs`` collects, registered by ``add_cli_args_from_dataclass``;
  ``Arg(cli_name=, aliases=, choices=, no_cli=)`` and ``Literal`` types are honoured.

Usage (a wheel from PyPI, a directory tree, or a bare git directory fetched from GitHub)::

    python benchmarks/engines/extract_flags.py vllm --wheel vllm-0.33.0-....whl \
        -o data/engines/vllm.yaml
    python benchmarks/engines/extract_flags.py smg --git-dir /work/.mirror/lightseekorg+smg/repo

The YAML it writes lists ``flags`` (every option string, sorted), ``choices`` and provenance.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

UNKNOWN = object()  # an expression whose value the walker cannot know statically
MAX_DEPTH = 8  # helper-call nesting followed from an entry point


# --------------------------------------------------------------------------- sources
class Source:
    """Read-only view of an engine's files: a directory, a wheel or a git revision."""

    def read(self, path: str) -> str | None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {}


class DirSource(Source):
    def __init__(self, root: Path):
        self.root = root

    def read(self, path: str) -> str | None:
        p = self.root / path
        return p.read_text(encoding="utf-8") if p.is_file() else None

    def describe(self) -> dict[str, Any]:
        return {"directory": str(self.root)}


class WheelSource(Source):
    def __init__(self, wheel: Path):
        self.wheel = wheel
        self.zip = zipfile.ZipFile(wheel)
        self.names = set(self.zip.namelist())

    def read(self, path: str) -> str | None:
        return self.zip.read(path).decode("utf-8") if path in self.names else None

    def built(self, path: str) -> str | None:
        if path not in self.names:
            return None
        y, mo, d, h, mi, _ = self.zip.getinfo(path).date_time
        if y == 1980:  # the zip epoch: the builder wrote no timestamp
            return None
        return f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}"

    def describe(self) -> dict[str, Any]:
        sha = hashlib.sha256(self.wheel.read_bytes()).hexdigest()
        return {"distribution": self.wheel.name, "sha256": sha}


class GitSource(Source):
    def __init__(self, git_dir: Path, rev: str):
        self.git_dir, self.rev = git_dir, rev

    def _git(self, *args: str) -> str:
        cmd = ["git", f"--git-dir={self.git_dir}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def read(self, path: str) -> str | None:
        try:
            return self._git("show", f"{self.rev}:{path}")
        except subprocess.CalledProcessError:
            return None

    def describe(self) -> dict[str, Any]:
        commit, date = self._git("log", "-1", "--format=%H %cI", self.rev).split()
        try:
            tag = self._git("describe", "--tags", self.rev).strip()
        except subprocess.CalledProcessError:
            tag = None
        return {"commit": commit, "commit_date": date, "git_describe": tag}


# --------------------------------------------------------------------------- modules
@dataclass
class Module:
    name: str  # dotted
    path: str  # inside the source
    tree: ast.Module
    is_package: bool


class Project:
    """Modules of one package tree, parsed on demand, with name resolution across imports."""

    def __init__(self, source: Source, prefix: str):
        self.source, self.prefix = source, prefix
        self.cache: dict[str, Module | None] = {}
        self.paths_read: set[str] = set()

    def module(self, dotted: str) -> Module | None:
        if dotted not in self.cache:
            self.cache[dotted] = self._load(dotted)
        return self.cache[dotted]

    def _load(self, dotted: str) -> Module | None:
        base = self.prefix + dotted.replace(".", "/")
        for path, is_pkg in ((base + ".py", False), (base + "/__init__.py", True)):
            text = self.source.read(path)
            if text is not None:
                return Module(dotted, path, ast.parse(text, filename=path), is_pkg)
        return None

    def note(self, mod: Module) -> None:
        self.paths_read.add(mod.path)

    @staticmethod
    def absolute(mod: Module, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = mod.name.split(".")
        keep = len(parts) - node.level + (1 if mod.is_package else 0)
        base = ".".join(parts[:keep])
        return f"{base}.{node.module}" if node.module else base

    def lookup(self, mod: Module, name: str, depth: int = 0) -> tuple[Module, Any] | None:
        """The top-level definition of ``name`` in ``mod``: (module, ClassDef/FunctionDef/expr)."""
        if depth > 12:
            return None
        found = None
        for node in _top_level(mod.tree):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.name == name:
                    found = (mod, node)
            elif isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                    found = _rebind(found, mod, node.value)
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                if isinstance(node.target, ast.Name) and node.target.id == name:
                    found = _rebind(found, mod, node.value)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        found = self._imported(mod, node, alias.name, depth) or found
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname == name:
                        found = ("module", alias.name)
        return found

    def _imported(self, mod: Module, node: ast.ImportFrom, name: str, depth: int):
        target = self.absolute(mod, node)
        src = self.module(target)
        if src is not None:
            hit = self.lookup(src, name, depth + 1)
            if hit is not None:
                return hit
        if self.module(f"{target}.{name}") is not None:
            return ("module", f"{target}.{name}")
        return None

    def resolve(self, mod: Module, expr: ast.expr) -> tuple[Module, Any] | None:
        """Follow a Name or dotted Attribute to its definition."""
        if isinstance(expr, ast.Name):
            return self.lookup(mod, expr.id)
        if isinstance(expr, ast.Attribute):
            base = self.resolve(mod, expr.value)
            if base is None:
                return None
            if base[0] == "module":
                sub = self.module(base[1])
                if sub is None:
                    return None
                return self.lookup(sub, expr.attr) or (
                    ("module", f"{base[1]}.{expr.attr}") if self.module(f"{base[1]}.{expr.attr}") else None
                )
            owner, node = base
            if isinstance(node, ast.ClassDef):
                return class_attr(self, owner, node, expr.attr)
        return None

    def resolve_class(self, mod: Module, expr: ast.expr) -> tuple[Module, ast.ClassDef] | None:
        hit = self.resolve(mod, expr)
        if hit and hit[0] != "module" and isinstance(hit[1], ast.ClassDef):
            return hit
        return None


def _rebind(found, mod: Module, value: ast.expr):
    """``C = rebuild(C)`` after ``class C`` (SGLang's msgspec.defstruct) keeps the class."""
    if found and found[0] != "module" and isinstance(found[1], ast.ClassDef) and isinstance(value, ast.Call):
        return found
    return (mod, value)


def _top_level(tree: ast.Module):
    """Top-level statements, looking inside module-level if/try (TYPE_CHECKING, fallbacks)."""
    for node in tree.body:
        if isinstance(node, ast.If):
            yield from node.body
            yield from node.orelse
        elif isinstance(node, ast.Try):
            yield from node.body
            for h in node.handlers:
                yield from h.body
        else:
            yield node


def mro(project: Project, mod: Module, cls: ast.ClassDef, seen=None) -> list[tuple[Module, ast.ClassDef]]:
    """The class followed by its resolvable bases, depth first (good enough for these files)."""
    seen = seen or set()
    out = [(mod, cls)]
    seen.add((mod.path, cls.name))
    for base in cls.bases:
        hit = project.resolve_class(mod, base)
        if hit and (hit[0].path, hit[1].name) not in seen:
            out += mro(project, hit[0], hit[1], seen)
    return out


def class_attr(project: Project, mod: Module, cls: ast.ClassDef, attr: str):
    for owner, c in mro(project, mod, cls):
        for node in c.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name == attr:
                    return owner, node
            elif isinstance(node, ast.Assign):
                if any(isinstance(t, ast.Name) and t.id == attr for t in node.targets):
                    return owner, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                if isinstance(node.target, ast.Name) and node.target.id == attr:
                    return owner, node.value
    return None


def dataclass_fields(project: Project, mod: Module, cls: ast.ClassDef) -> list[tuple[Module, ast.AnnAssign]]:
    """Annotated class attributes in field order (bases first), ClassVars left out."""
    fields: dict[str, tuple[Module, ast.AnnAssign]] = {}
    for owner, c in reversed(mro(project, mod, cls)):
        project.note(owner)
        for node in c.body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if "ClassVar" in ast.unparse(node.annotation):
                    continue
                fields[node.target.id] = (owner, node)
    return list(fields.values())


# --------------------------------------------------------------------------- values
def const_list(project: Project, mod: Module, expr: ast.expr, local: dict | None = None, depth: int = 0):
    """Literal values of a choices expression, or None when it is computed at run time."""
    if depth > 10:
        return None
    local = local or {}
    if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
        out = []
        for elt in expr.elts:
            if isinstance(elt, ast.Constant):
                out.append(elt.value)
            elif isinstance(elt, ast.Starred):
                sub = const_list(project, mod, elt.value, local, depth + 1)
                if sub is None:
                    return None
                out += sub
            else:
                return None
        return out
    if isinstance(expr, ast.Dict):  # choices=SOME_DICT iterates the keys
        keys = [k.value for k in expr.keys if isinstance(k, ast.Constant)]
        return keys if len(keys) == len(expr.keys) else None
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, (ast.Add, ast.BitOr)):
        a = const_list(project, mod, expr.left, local, depth + 1)
        b = const_list(project, mod, expr.right, local, depth + 1)
        return None if a is None or b is None else a + [x for x in b if x not in a]
    if isinstance(expr, ast.Call):
        fname = _call_name(expr.func)
        if fname in {"list", "tuple", "set", "sorted", "frozenset"} and len(expr.args) == 1:
            vals = const_list(project, mod, expr.args[0], local, depth + 1)
            return sorted(vals, key=str) if vals is not None and fname == "sorted" else vals
        if fname == "get_args" and len(expr.args) == 1:
            return literal_values(project, mod, expr.args[0], depth + 1)
        return None
    if isinstance(expr, ast.Name) and expr.id in local:
        return const_list(project, mod, local[expr.id], {}, depth + 1)
    if isinstance(expr, (ast.Name, ast.Attribute)):
        hit = project.resolve(mod, expr)
        if hit and hit[0] != "module" and isinstance(hit[1], ast.expr):
            project.note(hit[0])
            vals = const_list(project, hit[0], hit[1], {}, depth + 1)
            return vals if vals is not None else literal_values(project, hit[0], hit[1], depth + 1)
    return None


def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _subscript_parts(node: ast.Subscript) -> list[ast.expr]:
    s = node.slice
    return list(s.elts) if isinstance(s, ast.Tuple) else [s]


def type_members(project: Project, mod: Module, expr: ast.expr, depth: int = 0) -> list[tuple]:
    """Flatten a type annotation into members: ("bool",), ("literal", [...]), ("list", inner)..."""
    if depth > 12 or expr is None:
        return [("unknown",)]
    if isinstance(expr, ast.Constant):
        if expr.value is None:
            return [("none",)]
        if isinstance(expr.value, str):  # a forward reference
            try:
                return type_members(project, mod, ast.parse(expr.value, mode="eval").body, depth + 1)
            except SyntaxError:
                return [("unknown",)]
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.BitOr):
        return type_members(project, mod, expr.left, depth + 1) + type_members(
            project, mod, expr.right, depth + 1
        )
    if isinstance(expr, ast.Subscript):
        head = _call_name(expr.value)
        parts = _subscript_parts(expr)
        if head == "Literal":
            return [("literal", [p.value for p in parts if isinstance(p, ast.Constant)])]
        if head in {"Annotated", "A"}:
            return type_members(project, mod, parts[0], depth + 1)
        if head == "Union":
            return [m for p in parts for m in type_members(project, mod, p, depth + 1)]
        if head == "Optional":
            return type_members(project, mod, parts[0], depth + 1) + [("none",)]
        if head.lower() in {"list", "tuple", "set", "sequence", "frozenset"}:
            inner = [m for p in parts for m in type_members(project, mod, p, depth + 1)]
            kind = {"sequence": "list", "frozenset": "set"}.get(head.lower(), head.lower())
            return [(kind, inner)]
        if head.lower() in {"dict", "mapping"}:
            return [("dict",)]
        return [("unknown",)]
    if isinstance(expr, ast.Name) and expr.id in {"bool", "str", "int", "float", "dict", "list"}:
        return [(expr.id,)]
    if isinstance(expr, (ast.Name, ast.Attribute)):
        hit = project.resolve(mod, expr)
        if hit is None or hit[0] == "module":
            return [("unknown",)]
        owner, node = hit
        if isinstance(node, ast.ClassDef):
            return [(class_kind(project, owner, node),)]
        if isinstance(node, ast.expr):
            return type_members(project, owner, node, depth + 1)
    return [("unknown",)]


def class_kind(project: Project, mod: Module, cls: ast.ClassDef) -> str:
    decorators = {_call_name(d.func if isinstance(d, ast.Call) else d) for d in cls.decorator_list}
    if decorators & {"dataclass", "config"}:
        return "dataclass"
    bases = {_call_name(b) for owner, c in mro(project, mod, cls) for b in c.bases}
    if bases & {"Enum", "StrEnum", "IntEnum"}:
        return "enum"
    if bases & {"BaseModel", "Struct"}:
        return "dataclass"
    return "class"


def literal_values(project: Project, mod: Module, expr: ast.expr, depth: int = 0):
    vals = [v for m in type_members(project, mod, expr, depth) if m[0] == "literal" for v in m[1]]
    return vals or None


# --------------------------------------------------------------------------- flags
@dataclass
class Flag:
    names: list[str]
    where: str
    choices: list | None = None
    suggested: list | None = None  # values a Literal|str type lists without enforcing
    negatable: bool = False  # argparse.BooleanOptionalAction: --no-<flag> too
    deprecated: bool = False
    dynamic_choices: bool = False  # choices= given, but computed at run time


@dataclass
class Walk:
    project: Project
    flags: list[Flag] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    visited: set = field(default_factory=set)


def evaluate(expr: ast.expr, env: dict) -> Any:
    """Value of a simple expression from known names, else UNKNOWN."""
    if isinstance(expr, ast.Constant):
        return expr.value
    if isinstance(expr, ast.Name):
        return env.get(expr.id, UNKNOWN)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
        v = evaluate(expr.operand, env)
        return UNKNOWN if v is UNKNOWN else not v
    if isinstance(expr, ast.IfExp):
        t = evaluate(expr.test, env)
        if t is UNKNOWN:
            return UNKNOWN
        return evaluate(expr.body if t else expr.orelse, env)
    if isinstance(expr, ast.BoolOp):
        vals = [evaluate(v, env) for v in expr.values]
        if UNKNOWN in vals:
            return UNKNOWN
        return all(vals) if isinstance(expr.op, ast.And) else any(vals)
    if isinstance(expr, ast.JoinedStr):
        out = []
        for part in expr.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
            else:
                v = evaluate(part.value, env)
                if v is UNKNOWN:
                    return UNKNOWN
                out.append(str(v))
        return "".join(out)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr == "replace":  # f"--{key.replace('_', '-')}"
            base = evaluate(expr.func.value, env)
            args = [evaluate(a, env) for a in expr.args]
            if isinstance(base, str) and all(isinstance(a, str) for a in args):
                return base.replace(*args)
    return UNKNOWN


@dataclass
class Frame:
    mod: Module
    cls: tuple[Module, ast.ClassDef] | None  # bound class for cls./super()
    env: dict  # known constant values
    local: dict = field(default_factory=dict)  # local name -> expr (for choices=)
    kwvars: dict = field(default_factory=dict)  # name -> (Module, ClassDef) from get_kwargs(C)
    fieldkw: dict = field(default_factory=dict)  # name -> (Module, ClassDef, field) in loops
    parsers: set = field(default_factory=set)  # names bound to a parser or argument group


def walk_function(w: Walk, mod: Module, fn: ast.FunctionDef, cls, env: dict, depth: int) -> None:
    key = (mod.path, fn.name, cls[1].name if cls else None, tuple(sorted(env.items(), key=str)))
    if key in w.visited or depth > MAX_DEPTH:
        return
    w.visited.add(key)
    w.project.note(mod)
    frame = Frame(mod, cls, dict(env))
    params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    for name in params:
        if name not in {"self", "cls"}:
            frame.parsers.add(name)
            break
    frame.parsers |= {p for p in params if "parser" in p or "group" in p}
    walk_body(w, frame, fn.body, depth)


def walk_body(w: Walk, frame: Frame, body: list[ast.stmt], depth: int) -> None:
    for stmt in body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(stmt, ast.If):
            test = evaluate(stmt.test, frame.env)
            if test is UNKNOWN or test:
                walk_body(w, frame, stmt.body, depth)
            if test is UNKNOWN or not test:
                walk_body(w, frame, stmt.orelse, depth)
            continue
        if isinstance(stmt, ast.For) and (
            walk_kwargs_loop(w, frame, stmt, depth) or walk_literal_loop(w, frame, stmt, depth)
        ):
            continue
        if isinstance(stmt, (ast.For, ast.While, ast.With, ast.AsyncWith, ast.Try)):
            for sub in ("body", "orelse", "finalbody"):
                walk_body(w, frame, getattr(stmt, sub, []) or [], depth)
            for h in getattr(stmt, "handlers", []):
                walk_body(w, frame, h.body, depth)
            continue
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            note_assignment(w, frame, stmt)
        for call in _calls(stmt):
            handle_call(w, frame, call, depth)


def _calls(stmt: ast.stmt):
    """Calls in one simple statement, outermost first, not inside lambdas."""
    stack = [stmt]
    while stack:
        node = stack.pop(0)
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Call):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def note_assignment(w: Walk, frame: Frame, stmt: ast.Assign | ast.AnnAssign) -> None:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    names = [t.id for t in targets if isinstance(t, ast.Name)]
    value = stmt.value
    if value is None or not names:
        return
    for name in names:
        frame.local[name] = value
        v = evaluate(value, frame.env)
        if v is not UNKNOWN:
            frame.env[name] = v
        else:
            frame.env.pop(name, None)
    if isinstance(value, ast.Call):
        fname = _call_name(value.func)
        if fname == "get_kwargs" and value.args:
            target = bound_class(w, frame, value.args[0])
            for name in names:
                if target:
                    frame.kwvars[name] = target
        elif any(isinstance(a, ast.Name) and a.id in frame.kwvars for a in value.args):
            src = next(a.id for a in value.args if isinstance(a, ast.Name) and a.id in frame.kwvars)
            for name in names:  # x = cls._customize_cli_kwargs(x) keeps the mapping
                frame.kwvars[name] = frame.kwvars[src]
        if fname in {"add_argument_group", "add_mutually_exclusive_group", "add_parser"} or any(
            isinstance(a, ast.Name) and a.id in frame.parsers for a in value.args
        ):
            frame.parsers.update(names)


def bound_class(w: Walk, frame: Frame, expr: ast.expr):
    if isinstance(expr, ast.Name) and expr.id == "cls" and frame.cls:
        return frame.cls
    return w.project.resolve_class(frame.mod, expr)


def walk_kwargs_loop(w: Walk, frame: Frame, stmt: ast.For, depth: int) -> bool:
    """``for key, value in get_kwargs(C).items(): add_argument(f"--{key...}", **value)``."""
    it = stmt.iter
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr == "items"):
        return False
    src = it.func.value
    if not (isinstance(src, ast.Name) and src.id in frame.kwvars):
        return False
    if not (isinstance(stmt.target, ast.Tuple) and len(stmt.target.elts) == 2):
        return False
    key_name, value_name = (e.id for e in stmt.target.elts)
    owner, cls = frame.kwvars[src.id]
    for fmod, node in dataclass_fields(w.project, owner, cls):
        inner = Frame(
            frame.mod,
            frame.cls,
            {**frame.env, key_name: node.target.id},
            dict(frame.local),
            dict(frame.kwvars),
            {value_name: (fmod, node)},
            set(frame.parsers),
        )
        walk_body(w, inner, stmt.body, depth)
    return True


def walk_literal_loop(w: Walk, frame: Frame, stmt: ast.For, depth: int) -> bool:
    """``for arg, type in [("--a", str), ("--b", bool)]: add_argument(arg, ...)``, unrolled."""
    if not isinstance(stmt.iter, (ast.List, ast.Tuple)):
        return False
    targets = stmt.target.elts if isinstance(stmt.target, ast.Tuple) else [stmt.target]
    if not all(isinstance(t, ast.Name) for t in targets):
        return False
    for item in stmt.iter.elts:
        values = item.elts if isinstance(item, ast.Tuple) and len(targets) > 1 else [item]
        env = dict(frame.env)
        for t, v in zip(targets, values, strict=False):
            env[t.id] = evaluate(v, frame.env)
        inner = Frame(
            frame.mod,
            frame.cls,
            env,
            dict(frame.local),
            dict(frame.kwvars),
            dict(frame.fieldkw),
            set(frame.parsers),
        )
        walk_body(w, inner, stmt.body, depth)
    return True


def handle_call(w: Walk, frame: Frame, call: ast.Call, depth: int) -> None:
    fname = _call_name(call.func)
    if fname == "add_argument":
        record_argument(w, frame, call)
    elif fname == "add_cli_args_from_dataclass" and len(call.args) >= 2:
        target = bound_class(w, frame, call.args[1])
        if target:
            w.flags += sglang_dataclass_flags(w.project, *target)
    elif _passes_parser(frame, call):
        follow(w, frame, call, depth)


def _passes_parser(frame: Frame, call: ast.Call) -> bool:
    args = list(call.args) + [k.value for k in call.keywords]
    return any(isinstance(a, ast.Name) and a.id in frame.parsers for a in args)


def follow(w: Walk, frame: Frame, call: ast.Call, depth: int) -> None:
    """Walk into a helper that receives the parser: f(parser), C.add_cli_args(parser), super()..."""
    target = callee(w, frame, call.func)
    if target is None:
        return
    mod, fn, cls = target
    env = bind(fn, call, frame.env)
    walk_function(w, mod, fn, cls, env, depth + 1)


def callee(w: Walk, frame: Frame, func: ast.expr):
    p = w.project
    if isinstance(func, ast.Name):
        hit = p.lookup(frame.mod, func.id)
        if hit and hit[0] != "module" and isinstance(hit[1], ast.FunctionDef):
            return hit[0], hit[1], None
        return None
    if not isinstance(func, ast.Attribute):
        return None
    base = func.value
    if isinstance(base, ast.Call) and _call_name(base.func) == "super" and frame.cls:
        chain = mro(p, *frame.cls)[1:]
        for owner, c in chain:
            hit = class_attr(p, owner, c, func.attr)
            if hit and isinstance(hit[1], ast.FunctionDef):
                return hit[0], hit[1], frame.cls
        return None
    if isinstance(base, ast.Name) and base.id in frame.parsers:
        return None
    cls = bound_class(w, frame, base) if isinstance(base, (ast.Name, ast.Attribute)) else None
    if cls:
        hit = class_attr(p, cls[0], cls[1], func.attr)
        if hit and isinstance(hit[1], ast.FunctionDef):
            return hit[0], hit[1], cls
        return None
    hit = p.resolve(frame.mod, func)
    if hit and hit[0] != "module" and isinstance(hit[1], ast.FunctionDef):
        return hit[0], hit[1], None
    return None


def bind(fn: ast.FunctionDef, call: ast.Call, env: dict) -> dict:
    """Constant parameter values for a call: defaults, then the call's own arguments."""
    args = fn.args.posonlyargs + fn.args.args
    out: dict = {}
    defaults = fn.args.defaults
    for a, d in zip(args[len(args) - len(defaults) :], defaults, strict=True):
        v = evaluate(d, {})
        if v is not UNKNOWN:
            out[a.arg] = v
    for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults, strict=True):
        if d is not None and evaluate(d, {}) is not UNKNOWN:
            out[a.arg] = evaluate(d, {})
    names = [a.arg for a in args if a.arg not in {"self", "cls"}]
    for name, value in zip(names, call.args, strict=False):
        v = evaluate(value, env)
        if v is not UNKNOWN:
            out[name] = v
        else:
            out.pop(name, None)
    for kw in call.keywords:
        if kw.arg:
            v = evaluate(kw.value, env)
            if v is not UNKNOWN:
                out[kw.arg] = v
            else:
                out.pop(kw.arg, None)
    return out


def record_argument(w: Walk, frame: Frame, call: ast.Call) -> None:
    names = []
    for a in call.args:
        if isinstance(a, ast.Starred):
            continue
        v = evaluate(a, frame.env)
        if v is UNKNOWN:
            w.unresolved.append(f"{frame.mod.path}:{a.lineno}: {ast.unparse(a)}")
        elif isinstance(v, str) and v.startswith("-"):
            names.append(v)
    if not names:
        return
    flag = Flag(names, frame.mod.path)
    for kw in call.keywords:
        if kw.arg is None:
            apply_spread(w, frame, kw.value, flag)
        elif kw.arg == "choices":
            vals = const_list(w.project, frame.mod, kw.value, frame.local)
            flag.choices, flag.dynamic_choices = vals, vals is None
        elif kw.arg == "action":
            action = ast.unparse(kw.value)
            flag.negatable |= "BooleanOptionalAction" in action
            flag.deprecated |= "Deprecated" in action
        elif kw.arg == "deprecated":
            flag.deprecated |= evaluate(kw.value, frame.env) is True
        elif kw.arg == "help":
            text = evaluate(kw.value, frame.env)
            flag.deprecated |= isinstance(text, str) and text.lstrip("([").lower().startswith("deprecated")
    w.flags.append(flag)


def apply_spread(w: Walk, frame: Frame, expr: ast.expr, flag: Flag) -> None:
    """``**parallel_kwargs["field"]`` (vLLM) or ``**value`` inside a get_kwargs loop."""
    target = None
    if isinstance(expr, ast.Dict):  # **{**kwargs["field"], "default": None}
        for key, value in zip(expr.keys, expr.values, strict=True):
            if key is None:
                apply_spread(w, frame, value, flag)
        return
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
        key = evaluate(expr.slice, frame.env)
        if expr.value.id in frame.kwvars and isinstance(key, str):
            owner, cls = frame.kwvars[expr.value.id]
            target = next(
                ((m, n) for m, n in dataclass_fields(w.project, owner, cls) if n.target.id == key), None
            )
            if target is None:
                w.unresolved.append(f"{frame.mod.path}: no field {key} in {cls.name}")
    elif isinstance(expr, ast.Name) and expr.id in frame.fieldkw:
        target = frame.fieldkw[expr.id]
    if target is not None:
        vllm_field_kwargs(w.project, target[0], target[1], flag)


def vllm_field_kwargs(project: Project, mod: Module, node: ast.AnnAssign, flag: Flag) -> None:
    """What vLLM's get_kwargs makes of one dataclass field, in the order its helper checks."""
    members = type_members(project, mod, node.annotation)
    kinds = {m[0] for m in members}
    if "dataclass" in kinds:
        return  # a JSON object (or dotted --flag.key=value)
    if kinds == {"bool", "str", "none"}:
        return  # bare flag means True, or a value
    if "bool" in kinds:
        flag.negatable = True
        return
    literal = [v for m in members if m[0] == "literal" for v in m[1]]
    if not literal:
        literal = [
            v
            for m in members
            if m[0] in {"list", "tuple", "set"}
            for inner in m[1]
            if inner[0] == "literal"
            for v in inner[1]
        ]
        if literal:
            flag.choices = sorted(literal, key=str)
        return
    if "str" in kinds:
        flag.suggested = sorted(literal, key=str)
    else:
        flag.choices = sorted(literal, key=str)


def sglang_dataclass_flags(project: Project, mod: Module, cls: ast.ClassDef) -> list[Flag]:
    """Flags SGLang's add_cli_args_from_dataclass registers from ``A[T, Arg(...)]`` fields."""
    classes = [(mod, cls)] + namespace_classes(project, mod)
    out = []
    for cmod, c in classes:
        for fmod, node in dataclass_fields(project, cmod, c):
            flag = sglang_field_flag(project, fmod, node)
            if flag:
                out.append(flag)
    return out


def namespace_classes(project: Project, mod: Module) -> list[tuple[Module, ast.ClassDef]]:
    """Classes passed as a list to ``collect_input_fields(...)`` in the ServerArgs module."""
    out = []
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Call) and _call_name(node.func) == "collect_input_fields" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Name):
                hit = project.lookup(mod, arg.id)
                arg = hit[1] if hit and hit[0] != "module" else arg
            for elt in getattr(arg, "elts", []):
                hit = project.resolve_class(mod, elt)
                if hit:
                    out.append(hit)
    return out


def _is_help(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _is_arg_call(node: ast.expr) -> bool:
    return isinstance(node, ast.Call) and _call_name(node.func) == "Arg"


def sglang_field_flag(project: Project, mod: Module, node: ast.AnnAssign) -> Flag | None:
    ann = node.annotation
    if not (isinstance(ann, ast.Subscript) and _call_name(ann.value) in {"A", "Annotated"}):
        return None
    parts = _subscript_parts(ann)
    meta = next((p for p in parts[1:] if _is_help(p) or _is_arg_call(p)), None)
    if meta is None:
        return None
    kw = {k.arg: k.value for k in meta.keywords} if isinstance(meta, ast.Call) else {}
    if "no_cli" in kw and evaluate(kw["no_cli"], {}) is True:
        return None
    name = evaluate(kw["cli_name"], {}) if "cli_name" in kw else "--" + node.target.id.replace("_", "-")
    aliases = const_list(project, mod, kw["aliases"]) if "aliases" in kw else []
    flag = Flag([name] + list(aliases or []), mod.path)
    help_text = (
        meta.value if isinstance(meta, ast.Constant) else evaluate(kw.get("help", ast.Constant("")), {})
    )
    flag.deprecated = isinstance(help_text, str) and help_text.lower().startswith("deprecated")
    if "action" in kw:
        flag.deprecated |= "Deprecated" in ast.unparse(kw["action"])
        return flag
    if "choices" in kw:
        flag.choices = const_list(project, mod, kw["choices"])
        flag.dynamic_choices = flag.choices is None
    else:
        flag.choices = literal_values(project, mod, parts[0])
    return flag


# --------------------------------------------------------------------------- engines
@dataclass
class EngineSpec:
    engine: str
    repo: str  # upstream repository, as GitHub names it
    prefixes: list[str]  # package roots tried inside a source: wheel/dir "" or repo subfolder
    entries: list[tuple[str, str]]  # (module, "Class.method" | "function"); each one present is walked
    version: list[tuple[str, str]]  # (module path, regex) tried in order
    commit: list[tuple[str, str]] = field(default_factory=list)
    launch: str = ""
    notes: str = ""


SPECS = {
    "vllm": EngineSpec(
        "vllm",
        "vllm-project/vllm",
        [""],
        [
            ("vllm.entrypoints.common.cli_args", "make_arg_parser"),
            ("vllm.entrypoints.openai.cli_args", "make_arg_parser"),
            ("vllm.engine.arg_utils", "EngineArgs.add_cli_args"),
        ],
        [("vllm/_version.py", r"__version__ = version = '([^']+)'")],
        [("vllm/_version.py", r"__commit_id__ = commit_id = '([^']+)'")],
        launch="vllm serve MODEL [flags]",
        notes="vLLM's parser also takes --flag.key=value for JSON config flags and accepts "
        "underscores for dashes; neither form is listed.",
    ),
    "sglang": EngineSpec(
        "sglang",
        "sgl-project/sglang",
        ["", "python/"],
        [("sglang.srt.server_args", "ServerArgs.add_cli_args")],
        [
            ("sglang/_version.py", r"__version__ = version = '([^']+)'"),
            ("sglang/version.py", r'__version__ = "([^"]+)"'),
        ],
        [("sglang/_version.py", r"__commit_id__ = commit_id = '([^']+)'")],
        launch="python -m sglang.launch_server --model-path MODEL [flags]",
    ),
    "sglang-router": EngineSpec(
        "sglang-router",
        "sgl-project/sglang (sgl-router/)",
        ["", "sgl-router/py_src/"],
        [
            ("sglang_router.launch_router", "parse_router_args"),
            ("sglang_router.router_args", "RouterArgs.add_cli_args"),
        ],
        [("sglang_router/version.py", r'__version__ = "([^"]+)"')],
        launch="python -m sglang_router.launch_router --pd-disaggregation "
        "--prefill URL [BOOTSTRAP_PORT] --decode URL [flags]",
    ),
    "smg": EngineSpec(
        "smg",
        "lightseekorg/smg",
        ["bindings/python/src/", ""],
        [("smg.launch_router", "parse_router_args"), ("smg.router_args", "RouterArgs.add_cli_args")],
        [
            ("bindings/python/pyproject.toml", r'(?m)^version = "([^"]+)"'),
            ("smg/version.py", r'__version__ = "([^"]+)"'),
        ],
        launch="python -m smg.launch_router --pd-disaggregation "
        "--prefill URL [BOOTSTRAP_PORT] --decode URL [flags]",
    ),
}


def find_entry(project: Project, module: str, qualname: str):
    mod = project.module(module)
    if mod is None:
        return None
    head, _, method = qualname.partition(".")
    hit = project.lookup(mod, head)
    if hit is None or hit[0] == "module":
        return None
    owner, node = hit
    if not method:
        return (owner, node, None) if isinstance(node, ast.FunctionDef) else None
    if not isinstance(node, ast.ClassDef):
        return None
    fn = class_attr(project, owner, node, method)
    return (fn[0], fn[1], (owner, node)) if fn and isinstance(fn[1], ast.FunctionDef) else None


def first_match(source: Source, prefix: str, patterns: list[tuple[str, str]]) -> str | None:
    for path, rx in patterns:
        for candidate in (prefix + path, path, prefix + path.split("/", 1)[-1]):
            text = source.read(candidate)
            m = re.search(rx, text) if text else None
            if m:
                return m.group(1)
    return None


def extract(spec: EngineSpec, source: Source, note: str | None = None) -> dict[str, Any]:
    entry_module = spec.entries[0][0]
    prefix = next((p for p in spec.prefixes if Project(source, p).module(entry_module)), spec.prefixes[0])
    project = Project(source, prefix)
    walk = Walk(project)
    entries_used = []
    for module, qualname in spec.entries:
        hit = find_entry(project, module, qualname)
        if hit is None:
            continue
        mod, fn, cls = hit
        entries_used.append(f"{module}:{qualname}")
        walk_function(walk, mod, fn, cls, bind(fn, ast.Call(ast.Name("x"), [], []), {}), 0)
    if not entries_used:
        sys.exit(f"{spec.engine}: none of the entry points {spec.entries} is in this source")
    return summarise(spec, source, project, walk, entries_used, note)


def summarise(spec, source, project, walk, entries_used, note=None) -> dict[str, Any]:
    merged: dict[str, Flag] = {}
    for f in walk.flags:
        canonical = next((n for n in f.names if n.startswith("--")), f.names[0])
        prev = merged.get(canonical)
        if prev is None:
            merged[canonical] = f
        else:  # the same flag reached twice: keep what either occurrence knows
            prev.names += [n for n in f.names if n not in prev.names]
            prev.choices = prev.choices or f.choices
            prev.negatable |= f.negatable
            prev.deprecated |= f.deprecated
    names, choices, suggested, aliases = set(), {}, {}, {}
    for canonical, f in merged.items():
        names.update(f.names)
        if f.negatable:
            names.update("--no-" + n[2:] for n in f.names if n.startswith("--"))
        if f.choices:
            choices[canonical] = [c for c in f.choices if c is not None]
        if f.suggested:
            suggested[canonical] = f.suggested
        if len(f.names) > 1:
            aliases[canonical] = [n for n in f.names if n != canonical]
    version = first_match(source, project.prefix, spec.version)
    commit = first_match(source, project.prefix, spec.commit) if spec.commit else None
    src = {"repo": f"https://github.com/{spec.repo.split(' ')[0]}", **source.describe()}
    if commit and "commit" not in src:  # setuptools-scm writes the short hash as g<hash>
        src["commit"] = commit[1:] if re.fullmatch(r"g[0-9a-f]{7,40}", commit) else commit
        src["commit_note"] = "short hash recorded in the distribution's _version.py"
    src.setdefault("commit", None)
    src.setdefault("commit_date", None)
    if isinstance(source, WheelSource):
        ver_file = next(
            (project.prefix + p for p, _ in spec.version if source.read(project.prefix + p)), None
        )
        src["built"] = source.built(ver_file) if ver_file else None
    src["paths"] = sorted(project.paths_read)
    if note:
        src["note"] = note
    out = {
        "engine": spec.engine,
        "version": version,
        "source": src,
        "extracted_by": "benchmarks/engines/extract_flags.py",
        "entry_points": entries_used,
        "launch": spec.launch,
        "flags": sorted(names),
        "choices": dict(sorted(choices.items())),
        "suggested_values": dict(sorted(suggested.items())),
        "aliases": dict(sorted(aliases.items())),
        "negatable": sorted(k for k, f in merged.items() if f.negatable),
        "deprecated": sorted(k for k, f in merged.items() if f.deprecated),
        "dynamic_choices": sorted(k for k, f in merged.items() if f.dynamic_choices),
    }
    if spec.notes:
        out["notes"] = spec.notes
    if walk.unresolved:
        out["unresolved"] = sorted(set(walk.unresolved))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("engine", choices=sorted(SPECS))
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--wheel", type=Path, help="a wheel (.whl) of the engine, e.g. from PyPI")
    where.add_argument("--dir", type=Path, help="a directory holding the package (or the repo root)")
    where.add_argument("--git-dir", type=Path, help="a bare git directory (e.g. from fetch)")
    ap.add_argument("--rev", default="HEAD", help="git revision with --git-dir")
    ap.add_argument("--note", help="a line on how the source was obtained, kept in source.note")
    ap.add_argument("-o", "--output", type=Path, help="YAML file to write (default: stdout)")
    args = ap.parse_args(argv)
    if args.wheel:
        source: Source = WheelSource(args.wheel)
    elif args.dir:
        source = DirSource(args.dir)
    else:
        source = GitSource(args.git_dir, args.rev)
    result = extract(SPECS[args.engine], source, args.note)
    text = yaml.safe_dump(result, sort_keys=False, width=100, allow_unicode=True)
    if args.output:
        args.output.write_text(text)
        print(
            f"{args.engine} {result['version']}: {len(result['flags'])} flags, "
            f"{len(result['choices'])} with choices -> {args.output}"
        )
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
