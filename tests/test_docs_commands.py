"""The shell commands written in README.md and docs/*.md, checked for real without running the pipeline, so
that a reader who copies one gets something that runs.

What is read: every line of a ```bash / ```sh / ```shell / ```console block (in a console block, the `$ `
lines), and the inline `code` spans that are a command of the project (`scripts/...`, `.ci/run`,
`.venv/bin/...`, `python ...`, `dagster ... <args>`). Lines are taken apart as a shell would: `\\` continuations
and quotes over several lines, `# comments`, `&&` / `||` / `;` / `|` / `&`, leading `NAME=value` assignments
(for that command) and `export` lines (for the rest of the block). One test case per (file, line).

What is checked, per command:

- `scripts/<x>`, `.ci/run`: the file exists and is executable; its arguments are ones it handles, read from the
  script: its own flags (`[ "${1:-}" = "--all" ]`), the rest as part of each command it passes `"$@"` on to,
  checked as such (scripts/pipeline.sh: `python -m assets.build`, the model run's options;
  scripts/test.sh: pytest, whose options are checked against `pytest --help`); a script that reads neither
  takes no arguments.
- `python -m <module>`: the module is found (importlib.util.find_spec); for a module of the project, the
  arguments parse with its argparse parser, rebuilt from the source's `add_argument` calls (those of its
  `__main__` path and the project functions it calls, e.g. benchmarks/chain.py's `chain_arguments`; flags,
  abbreviations, `type=int/float`, literal `choices`, `nargs`, `action`), without importing the module (some
  import TensorFlow); a module without argparse that does not read sys.argv takes no arguments.
- `python <file>.py` (benchmarks/, scripts/): the file exists, its arguments parse the same way, and a file that
  imports a package of the project that is not installed (benchmarks, tests) is given `PYTHONPATH=.`.
- `dagster`, `dagster-daemon`, `dagster-webserver`, `dagster-celery`: the installed CLI (its click commands,
  in this process) parses the command line without running it: the subcommands and flags exist, the values
  convert. Then against the project: modules (`-m`, `-A`) are found and a `-m` of the project holds
  Definitions; a workspace (`-w`) exists and the modules it loads are found; `--select` resolves in those
  definitions as the CLI resolves it, to assets one run can hold, with a day given when one of them is
  partitioned by day; `--partition`, `--partition-range a...b`, `--from`, `--to` are days (YYYY-MM-DD) not before
  the first day partition ($PIPELINE_FIRST_DAY as the block sets it, else the default); a range is only over
  assets that run a range in one run; `--config-json` is JSON that Dagster's own validation accepts for the
  selected assets (their Config classes' fields and types), with only selected assets under "ops" (the CLI
  would silently ignore the others); `-j` names a job;
  `dagster-celery`'s arguments after `--` parse as `celery worker` ones and `-y` names a file.
- `export` / `NAME=value`: a `PIPELINE_*` or `DAGSTER_PG_*` variable is one the project reads (named in assets/,
  pipeline/, deploy/ or scripts/); a `$PWD/<path>` value exists in the checkout.

Not checked (the case is skipped with the reason, which `pytest -rs` lists): other programs. At the time of
writing: `mkdir` and `cp` (docs/deploying.md, the production DAGSTER_HOME), `docker build` / `docker run`
(docs/deploying.md), `apt-get` (docs/ui_and_nightly.md), `python -c` (an inline span of docs/benchmarks.md).
Not checked either: the words of pytest's command line other than its options (paths, -k expressions), the
arguments of other modules outside the project, and those of a module that reads sys.argv by hand
(pipeline.list_days)."""

from __future__ import annotations

import argparse
import ast
import fnmatch
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_FENCES = {"bash", "sh", "shell", "console"}
DAGSTER_CLIS = {"dagster", "dagster-daemon", "dagster-webserver", "dagster-celery"}
PYTHONS = {"python", "python3", "python3.11", "python3.12"}
ENV_READ_BY_PROJECT = ("PIPELINE_", "DAGSTER_PG_")  # variables the project itself must read
ENV_SOURCES = ("assets", "pipeline", "deploy", "scripts")


# -- reading the docs: fences, inline spans, and a shell's idea of words and commands ----------------------------
class ShellSyntaxError(ValueError):
    pass


def shell_lines(text: str, first_line: int = 1) -> list[tuple[int, int, list[list[str]]]]:
    """The logical lines of `text` as a POSIX shell reads them: (the line numbers where it starts and ends, its
    simple commands as lists of words, quotes removed, nothing expanded). Handles '...' and "..." (also across lines),
    backslash escapes and continuations, comments starting a word, and the operators && || ; | &."""
    out: list[tuple[int, int, list[list[str]]]] = []
    commands: list[list[str]] = []
    words: list[str] = []
    word: list[str] | None = None
    start, line, i = None, first_line, 0

    def end_word():
        nonlocal word
        if word is not None:
            words.append("".join(word))
            word = None

    def end_command():
        nonlocal words
        end_word()
        if words:
            commands.append(words)
        words = []

    def in_word(chars: str):
        nonlocal word, start
        word = (word or []) + [chars]
        start = line if start is None else start

    while i < len(text):
        c = text[i]
        if c == "\\":
            if text[i + 1:i + 2] == "\n":
                line += 1
            else:
                in_word(text[i + 1:i + 2])
            i += 2
        elif c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise ShellSyntaxError(f"line {line}: a ' that is never closed")
            in_word(text[i + 1:j])
            line += text.count("\n", i, j)
            i = j + 1
        elif c == '"':
            j, chars = i + 1, []
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and text[j + 1:j + 2] in ('"', "\\", "$", "`", "\n"):
                    j += 1
                    if text[j] == "\n":
                        line, j = line + 1, j + 1
                        continue
                line += text[j] == "\n"
                chars.append(text[j])
                j += 1
            if j >= len(text):
                raise ShellSyntaxError(f'line {line}: a " that is never closed')
            in_word("".join(chars))
            i = j + 1
        elif c == "#" and word is None:
            while i < len(text) and text[i] != "\n":
                i += 1
        elif c == "\n":
            end_command()
            if commands:
                out.append((start, line, commands))
            commands, start, line, i = [], None, line + 1, i + 1
        elif c in " \t":
            end_word()
            i += 1
        elif c in "&|;":
            end_command()
            i += 2 if text[i + 1:i + 2] == c and c != ";" else 1
        else:
            in_word(c)
            i += 1
    end_command()
    if commands:
        out.append((start, line, commands))
    return out


ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def split_assignments(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """`A=1 B=2 prog args` -> ({A: 1, B: 2}, [prog, args])."""
    env, i = {}, 0
    while i < len(words) and ASSIGNMENT.match(words[i]):
        name, _, value = words[i].partition("=")
        env[name], i = value, i + 1
    return env, words[i:]


def program(words: list[str]) -> str:
    """The program's name as this test sorts it: `.venv/bin/dagster` -> `dagster`; a path otherwise kept."""
    return words[0].removeprefix(".venv/bin/") if words else ""


@dataclass
class Case:
    file: str
    line: int
    text: str
    commands: list[list[str]]
    env: dict[str, str] = field(default_factory=dict)  # what the block exported before this line
    inline: bool = False
    problem: str | None = None  # the shell could not read it


def fenced_blocks(path: Path):
    """(language, first line number, lines) of each fenced block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    fence, lang, body, first = None, "", [], 0
    for no, text in enumerate(lines, 1):
        m = re.match(r"\s*(`{3,}|~{3,})\s*([\w+-]*)", text)
        if fence is None and m:
            fence, lang, body, first = m.group(1), m.group(2).lower(), [], no + 1
        elif fence is not None and text.strip().startswith(fence) and not text.strip().strip(fence[0]):
            yield lang, first, body
            fence = None
        elif fence is not None:
            body.append(text)


def outside_fences(path: Path):
    """(line number, text) of the lines outside fenced blocks."""
    inside = set()
    for _, first, body in fenced_blocks(path):
        inside.update(range(first - 1, first + len(body) + 1))
    for no, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if no not in inside:
            yield no, text


def looks_like_project_command(words: list[str], inline: bool = False) -> bool:
    """Whether an inline span (or an untagged block's line) is a command of this project. Inline, a bare path
    to a folder or a .py file is a reference to it, not a command."""
    _, words = split_assignments(words)
    if not words:
        return False
    prog = program(words)
    if words[0].startswith(("scripts/", ".ci/", ".venv/bin/")):
        return not (inline and len(words) == 1 and words[0].endswith(("/", ".py")))
    return (prog in PYTHONS or prog in DAGSTER_CLIS) and len(words) > 1


def collect_cases() -> list[Case]:
    cases = []
    for path in DOCS:
        rel = str(path.relative_to(ROOT))
        for lang, first, body in fenced_blocks(path):
            if lang not in SHELL_FENCES:
                continue
            if lang == "console":  # only the prompt lines are commands; the rest is output
                body = [ln.split("$ ", 1)[1] if ln.lstrip().startswith("$ ") else "" for ln in body]
            try:
                logical = shell_lines("\n".join(body), first)
            except ShellSyntaxError as exc:
                cases.append(Case(rel, first, "\n".join(body), [], problem=str(exc)))
                continue
            env: dict[str, str] = {}
            for no, last, commands in logical:
                text = "\n".join(body[no - first:last - first + 1])
                cases.append(Case(rel, no, text, commands, dict(env)))
                for words in commands:  # what the rest of the block runs with
                    assigned, rest = split_assignments(words)
                    if not rest:
                        env.update(assigned)
                    elif rest[0] == "export":
                        env.update(split_assignments(rest[1:])[0])
        for no, text in outside_fences(path):
            for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", text):
                try:
                    logical = shell_lines(m.group(1), no)
                except ShellSyntaxError:
                    continue
                if len(logical) == 1 and all(looks_like_project_command(c, inline=True) for c in logical[0][2]):
                    cases.append(Case(rel, no, m.group(1), logical[0][2], inline=True))
    return cases


CASES = collect_cases()


def case_id(case: Case) -> str:
    text = " && ".join(" ".join(c) for c in case.commands) or case.text
    text = text if len(text) <= 80 else text[:77] + "..."
    skipped = sorted({program(split_assignments(c)[1]) for c in case.commands if skip_reason(c)})
    return f"{case.file}:{case.line}{' inline' if case.inline else ''} {text}" + (
        f" [not checked: {', '.join(skipped)}]" if skipped else "")


# -- the project: what is installed, which variables it reads ------------------------------------------------------
@cache
def uninstalled_packages() -> frozenset[str]:
    """Top-level packages of the checkout that `pip install -e .` does not install (importable only with the
    checkout on sys.path, e.g. PYTHONPATH=.)."""
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    return frozenset(p for p in packages if not any(fnmatch.fnmatch(p, pat) for pat in find.get("include", ["*"])))


@cache
def project_text() -> str:
    parts = []
    for folder in ENV_SOURCES:
        for p in sorted((ROOT / folder).rglob("*")):
            if p.is_file() and p.suffix in {".py", ".sh", ".yaml", ".yml", ""} and "__pycache__" not in p.parts:
                try:
                    parts.append(p.read_text(encoding="utf-8"))
                except UnicodeDecodeError:
                    continue
    return "\n".join(parts)


def check_env(env: dict[str, str], problems: list[str]) -> None:
    for name, value in env.items():
        if name.startswith(ENV_READ_BY_PROJECT) and not re.search(rf"\b{name}\b", project_text()):
            problems.append(f"${name} is read nowhere in {', '.join(ENV_SOURCES)}/")
        if value.startswith(("$PWD/", "${PWD}/")) and not (ROOT / value.split("/", 1)[1]).exists():
            problems.append(f"{name}={value}: {value.split('/', 1)[1]} is not in the checkout")


def first_day(env: dict[str, str]) -> date:
    from assets.partitions import DEFAULT_FIRST_DAY, FIRST_DAY_ENV

    return date.fromisoformat(env.get(FIRST_DAY_ENV) or DEFAULT_FIRST_DAY)


def check_day(flag: str, value: str, env: dict[str, str], problems: list[str]) -> None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        problems.append(f"{flag} {value}: not a day (YYYY-MM-DD)")
        return
    try:
        day = date.fromisoformat(value)
    except ValueError:
        problems.append(f"{flag} {value}: no such day")
        return
    if day < first_day(env):
        problems.append(f"{flag} {value}: before the first day partition, {first_day(env)} "
                        f"(set PIPELINE_FIRST_DAY before the command)")


# -- python: modules, files, and their argparse parsers rebuilt from the source -----------------------------------
class ArgumentsRefused(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise ArgumentsRefused(message)

    def exit(self, status=0, message=None):
        raise ArgumentsRefused(message or f"exit {status}")


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _module_file(module: str) -> Path | None:
    base = ROOT / module.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _function(path: Path, name: str) -> tuple[Path, ast.FunctionDef] | None:
    """The function `name` as seen from module `path`: defined there, or imported from a module of the checkout."""
    for node in _tree(path).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return path, node
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name and (source := _module_file(node.module)):
                    return _function(source, alias.name)
    return None


def _literal(node: ast.AST, path: Path):
    """A literal argument, or a module-level constant of `path` (`FORMATS`, `list(FORMATS)`)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"list", "tuple"}:
        return _literal(node.args[0], path)
    if isinstance(node, ast.Name):
        for stmt in _tree(path).body:
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == node.id for t in stmt.targets):
                return _literal(stmt.value, path)
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == node.id:
                return _literal(stmt.value, path)
        raise ValueError(node.id)
    return ast.literal_eval(node)


TYPES = {"int": int, "float": float}


def _collect(path: Path, nodes: list[ast.AST], found: dict, seen: set) -> None:
    for node in (n for top in nodes for n in ast.walk(top)):
        if isinstance(node, ast.Attribute) and node.attr == "argv" and getattr(node.value, "id", "") == "sys":
            found["argv"] = True
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "add_argument":
            found["arguments"].append((path, node))
        elif getattr(func, "attr", getattr(func, "id", "")) == "ArgumentParser":
            found["argparse"] = True
        elif isinstance(func, ast.Name) and (path, func.id) not in seen:
            seen.add((path, func.id))
            if target := _function(path, func.id):
                _collect(target[0], target[1].body, found, seen)


def own_parser(path: Path) -> argparse.ArgumentParser | None:
    """A module of pipeline/ that builds its parser in a `_parser()` function: that very parser, made to raise
    ArgumentsRefused instead of exiting (pipeline/ never imports TensorFlow at import time)."""
    try:
        rel = path.relative_to(ROOT / "pipeline")
    except ValueError:
        return None
    module = importlib.import_module(".".join(("pipeline", *rel.with_suffix("").parts)))
    make = getattr(module, "_parser", None)
    if not callable(make):
        return None
    parser = make()

    def refuse(message=None, status=0):
        raise ArgumentsRefused(message or f"exit {status}")

    parser.error = refuse
    parser.exit = lambda status=0, message=None: refuse(message, status)
    return parser


def rebuilt_parser(path: Path) -> _Parser | str | None:
    """The parser the file's `__main__` path builds (its own `_parser()` where it has one, else rebuilt from its
    add_argument calls); "argv" for a file that reads sys.argv by hand; None for one that reads no arguments."""
    made = own_parser(path)
    if made is not None:
        return made
    main = [n for n in _tree(path).body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    found = {"arguments": [], "argparse": False, "argv": False}
    _collect(path, main, found, set())
    if not found["argparse"]:
        return "argv" if found["argv"] else None
    parser = _Parser(prog=str(path.relative_to(ROOT)))
    for source, call in found["arguments"]:
        kwargs = {}
        for kw in call.keywords:
            if kw.arg in {"action", "nargs", "required", "dest", "const"}:
                kwargs[kw.arg] = _literal(kw.value, source)
            elif kw.arg == "type":
                kwargs["type"] = TYPES.get(getattr(kw.value, "id", ""), str)
            elif kw.arg == "choices":
                try:
                    kwargs["choices"] = _literal(kw.value, source)
                except ValueError:
                    pass  # choices computed at run time: not checked
        parser.add_argument(*(_literal(a, source) for a in call.args), **kwargs)
    return parser


def check_arguments(path: Path, args: list[str], problems: list[str], notes: list[str]) -> None:
    parser = rebuilt_parser(path)
    rel = path.relative_to(ROOT)
    if parser is None:
        if args:
            problems.append(f"{rel} reads no arguments (no argparse, no sys.argv): {' '.join(args)} would be ignored")
    elif parser == "argv":
        if args:
            notes.append(f"{rel} reads sys.argv by hand: {' '.join(args)} not checked")
    else:
        try:
            parser.parse_args(args)
        except ArgumentsRefused as exc:
            problems.append(f"{rel} refuses {' '.join(args)!r}: {exc}")


@cache
def pytest_options() -> frozenset[str]:
    """The options `pytest --help` lists here (its plugins' and the conftest's included)."""
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [ln for ln in run.stdout.splitlines() if re.match(r"  -", ln)]
    return frozenset(o for ln in lines for o in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", ln.split("  ", 2)[1]))


def check_pytest_arguments(args: list[str], problems: list[str]) -> None:
    """Each option given to pytest is one it has (pytest takes no abbreviations); other words are paths,
    expressions or values, not checked."""
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("--"):
            known = arg.split("=", 1)[0] in pytest_options()
        elif arg.startswith("-") and len(arg) > 1:
            known = arg[:2] in pytest_options()
        else:
            continue
        if not known:
            problems.append(f"pytest has no option {arg}")


def check_python(args: list[str], env: dict[str, str], problems: list[str], notes: list[str]) -> None:
    i = 0
    while i < len(args) and args[i].startswith("-") and args[i] not in {"-m", "-c"}:
        i += 2 if args[i] in {"-X", "-W"} else 1
    if i >= len(args):
        problems.append("python with nothing to run")
    elif args[i] == "-m":
        if i + 1 >= len(args):
            problems.append("python -m with no module")
            return
        module, rest = args[i + 1], args[i + 2:]
        spec = importlib.util.find_spec(module)
        if spec is None:
            problems.append(f"no module {module}")
        elif spec.origin and Path(spec.origin).is_relative_to(ROOT):
            origin = Path(spec.origin)
            check_arguments(origin.parent / "__main__.py" if origin.name == "__init__.py" else origin, rest, problems,
                            notes)
        elif module == "pytest":
            check_pytest_arguments(rest, problems)
        elif rest:
            notes.append(f"the arguments of {module} (not of this project) not checked: {' '.join(rest)}")
    else:
        script, rest = ROOT / args[i], args[i + 1:]
        if not script.is_file():
            problems.append(f"no file {args[i]}")
            return
        imported = {a.name.split(".")[0] for n in ast.walk(_tree(script)) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(_tree(script))
                     if isinstance(n, ast.ImportFrom) and n.level == 0 and n.module}
        needs = sorted(imported & uninstalled_packages())
        if needs and not {".", "$PWD", "${PWD}"} & set(env.get("PYTHONPATH", "").split(":")):
            problems.append(f"{args[i]} imports {', '.join(needs)}, which only PYTHONPATH=. makes importable")
        check_arguments(script, rest, problems, notes)


# -- the Dagster CLIs: parsed by their own click commands, then checked against the definitions ------------------
@cache
def click_command(prog: str):
    from importlib.metadata import entry_points

    import click

    (ep,) = entry_points(group="console_scripts", name=prog)
    command = ep.load()
    return command if isinstance(command, click.Command) else importlib.import_module(ep.module).cli


def click_parse(prog: str, args: list[str], obj=None):
    """(the subcommand path, the leaf's parameters): the CLI's own parsing, its callbacks, nothing invoked."""
    import click

    command, path = click_command(prog), [prog]
    ctx = command.make_context(prog, list(args), obj=obj)
    while isinstance(command, click.Group):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, command, rest = command.resolve_command(ctx, rest)
        path.append(name)
        ctx = command.make_context(name, rest, parent=ctx)
    return path, ctx.params


@cache
def repository(module: str):
    """The repository of the Definitions that module `module` holds (as the CLI's -m finds them), or None."""
    import dagster as dg

    found = [v for v in vars(importlib.import_module(module)).values() if isinstance(v, dg.Definitions)]
    return found[0].get_repository_def() if len(found) == 1 else None


def check_module(module: str, problems: list[str]):
    if importlib.util.find_spec(module) is None:
        problems.append(f"no module {module}")
        return None
    if module.split(".")[0] in {p.parent.name for p in ROOT.glob("*/__init__.py")}:
        repo = repository(module)
        if repo is None:
            problems.append(f"module {module} holds no single Definitions object")
        return repo
    return None


def check_workspace(file: str, problems: list[str]):
    import yaml

    if not (ROOT / file).is_file():
        problems.append(f"no workspace file {file}")
        return []
    repos = []
    for entry in yaml.safe_load((ROOT / file).read_text()).get("load_from", []):
        if "python_module" in entry:
            target = entry["python_module"]
            repos.append(check_module(target if isinstance(target, str) else target["module_name"], problems))
        elif "python_file" in entry:
            target = entry["python_file"]
            if not (ROOT / (target if isinstance(target, str) else target["relative_path"])).is_file():
                problems.append(f"{file}: no file {target}")
    return repos


def _flat(value) -> list:
    return [] if value is None else list(value) if isinstance(value, tuple | list) else [value]


def check_selection(repo, params: dict, env: dict[str, str], problems: list[str]) -> None:
    import dagster as dg
    from dagster._core.definitions.backfill_policy import BackfillPolicyType

    try:
        keys = dg.AssetSelection.from_coercible(params["select"].split(",")).resolve(repo.asset_graph)
    except Exception as exc:  # noqa: BLE001 (the CLI's own refusal, whatever its type)
        problems.append(f"--select {params['select']}: {str(exc).splitlines()[0]}")
        return
    job = repo.get_implicit_job_def_for_assets(keys)
    if job is None:
        problems.append(f"--select {params['select']}: assets of different partitions, not one run")
        return
    partitioned = [k for k in keys if job.asset_layer.get(k).partitions_def is not None]
    if partitioned and not (params.get("partition") or params.get("partition_range")):
        problems.append(f"--select {params['select']}: {', '.join(k.to_user_string() for k in partitioned)} "
                        f"partitioned by day, but no --partition or --partition-range")
    if params.get("partition") and params.get("partition_range"):
        problems.append("both --partition and --partition-range")
    if params.get("partition"):
        check_day("--partition", params["partition"], env, problems)
        if not partitioned:
            problems.append(f"--partition, but none of {params['select']} is partitioned")
    if params.get("partition_range"):
        ends = params["partition_range"].split("...")
        if len(ends) != 2:
            problems.append(f"--partition-range {params['partition_range']}: not <first>...<last>")
        for end in ends:
            check_day("--partition-range", end, env, problems)
        for key in keys:
            policy = job.asset_layer.get(key).backfill_policy
            if policy is None or policy.policy_type != BackfillPolicyType.SINGLE_RUN:
                problems.append(f"--partition-range: {key.to_user_string()} does not run a range in one run "
                                f"(the CLI refuses a range for it)")
    if params.get("config_json") is not None:
        try:
            run_config = json.loads(params["config_json"])
        except json.JSONDecodeError as exc:
            problems.append(f"--config-json is not JSON: {exc}")
            return
        subset = job.get_subset(asset_selection=set(keys))
        selected = set(subset.graph.node_dict)
        for op in run_config.get("ops", {}):
            if op not in selected:
                problems.append(f"--config-json configures {op}, which --select {params['select']} does not run "
                                f"(the CLI would ignore it)")
        try:
            dg.validate_run_config(subset, run_config)
        except dg.DagsterInvalidConfigError as exc:
            problems.append(f"--config-json: {' '.join(str(e.message) for e in exc.errors)}")


def check_dagster(prog: str, args: list[str], env: dict[str, str], inline: bool, problems: list[str],
                  notes: list[str]) -> None:
    import click

    try:
        path, params = click_parse(prog, args)
    except click.MissingParameter as exc:
        if not inline:  # an inline span may name a command without all it needs; a block must not
            problems.append(f"{prog}: {exc.format_message()}")
            return
        notes.append(f"a fragment: {exc.format_message()}")
        path, params = [prog], {}
    except click.ClickException as exc:
        problems.append(f"{prog} refuses it: {exc.format_message()}")
        return
    repos = [check_module(m, problems) for m in _flat(params.get("module_name"))]
    for file in _flat(params.get("workspace")):
        repos += check_workspace(file, problems)
    repos = [r for r in repos if r is not None]
    for repo in repos[:1]:
        if params.get("select"):
            check_selection(repo, params, env, problems)
        if params.get("job_name") and not repo.has_job(params["job_name"]):
            problems.append(f"-j {params['job_name']}: no such job (jobs: "
                            f"{', '.join(sorted(j.name for j in repo.get_all_jobs()))})")
        elif path[1:3] == ["job", "backfill"] and repo.get_job(params["job_name"]).partitions_def is None:
            problems.append(f"-j {params['job_name']}: not partitioned, nothing to backfill")
    for flag, name in (("--from", "start_partition"), ("--to", "end_partition")):
        if params.get(name):
            check_day(flag, params[name], env, problems)
    if path[:3] == ["dagster-celery", "worker", "start"]:
        check_celery_worker(params, problems)


def check_celery_worker(params: dict, problems: list[str]) -> None:
    from types import SimpleNamespace

    import click
    from celery import Celery
    from celery.bin.worker import worker

    if params.get("app") and importlib.util.find_spec(params["app"]) is None:
        problems.append(f"-A {params['app']}: no such module")
    if params.get("config_yaml") and not (ROOT / params["config_yaml"]).is_file():
        problems.append(f"-y {params['config_yaml']}: no such file")
    try:
        worker.make_context("worker", list(params.get("additional_args", ())),
                            obj=SimpleNamespace(app=Celery(set_as_current=False)))
    except click.ClickException as exc:
        problems.append(f"celery worker refuses the arguments after --: {exc.format_message()}")


# -- scripts/*.sh and .ci/run: what they do with their arguments, read from the script ------------------------------
def forwarded(text: str) -> list[list[str]]:
    """The commands the script passes "$@" on to (words before it, shell functions expanded)."""
    functions, out = {}, []
    for m in re.finditer(r"^\s*(\w+)\s*\(\)\s*\{(.*)\}\s*$", text, re.MULTILINE):
        for _, _, commands in shell_lines(m.group(2)):
            for words in commands:
                if "$@" in words:
                    functions[m.group(1)] = words[:words.index("$@")]
    for line in text.splitlines():
        if re.match(r"^\s*\w+\s*\(\)", line) or '"$@"' not in line:
            continue
        for _, _, commands in shell_lines(line):
            for words in commands:
                if "$@" in words:
                    before = [w for w in split_assignments(words[:words.index("$@")])[1] if "$" not in w]
                    if before and before[0] in functions:
                        before = functions[before[0]] + before[1:]
                    out.append(before)
    return out


def check_script(words: list[str], env: dict[str, str], inline: bool, problems: list[str], notes: list[str]):
    path, args = ROOT / words[0], words[1:]
    if not path.is_file():
        problems.append(f"no file {words[0]}")
        return
    if not os.access(path, os.X_OK):
        problems.append(f"{words[0]} is not executable")
    text = path.read_text(encoding="utf-8")
    own = set(re.findall(r'\[\s*"\$\{?1(?::-)?\}?"\s*==?\s*"?(-[\w-]+)"?\s*\]', text))
    if args and args[0] in own:
        args = args[1:]
    # options the script parses itself in a `case` (each with a value: `--x v` or `--x=v`), the rest forwarded
    patterns = re.findall(r"(?m)^\s*((?:--[\w-]+(?:=\*)?\s*\|\s*(?:\\\s*)?)*--[\w-]+(?:=\*)?)\s*\)", text)
    valued = {o for p in patterns for o in re.findall(r"--[\w-]+", p)}
    rest, i = [], 0
    while i < len(args):
        if args[i] in valued:
            i += 2
        elif args[i].split("=", 1)[0] in valued and "=" in args[i]:
            i += 1
        else:
            rest.append(args[i])
            i += 1
    if len(rest) < len(args) and not rest:
        return
    args = rest
    if not args:
        return
    targets = forwarded(text)
    if not targets:
        handled = f"it handles only {', '.join(sorted(own))} as its first argument" if own else "it takes none"
        problems.append(f"{words[0]} does not read {' '.join(args)}: {handled}")
    for target in targets:
        inner: list[str] = []
        check_command(target + args, env, inline, inner, notes)
        problems += [f"{words[0]} passes {' '.join(args)} on to `{' '.join(target)} ...`: {p}" for p in inner]


# -- one command ---------------------------------------------------------------------------------------------------
def skip_reason(words: list[str]) -> str | None:
    _, words = split_assignments(words)
    if not words:
        return None
    prog = program(words)
    if words[0].startswith(("scripts/", ".ci/")) or prog in DAGSTER_CLIS or prog == "export":
        return None
    if prog in PYTHONS:
        return "python -c: not checked" if "-c" in words[1:2] else None
    return f"{prog}: not a command of this project"


def check_command(words: list[str], env: dict[str, str], inline: bool, problems: list[str], notes: list[str]):
    assigned, words = split_assignments(words)
    check_env(assigned, problems)
    env = {**env, **assigned}
    if not words:
        return
    if words[0] == "export":
        check_env(split_assignments(words[1:])[0], problems)
    elif words[0].endswith(".py"):
        check_python(words, env, problems, notes)  # a script run as an executable: python's rules
    elif words[0].startswith(("scripts/", ".ci/")):
        check_script(words, env, inline, problems, notes)
    elif program(words) in PYTHONS:
        check_python(words[1:], env, problems, notes)
    elif program(words) in DAGSTER_CLIS:
        check_dagster(program(words), words[1:], env, inline, problems, notes)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_doc_command(case: Case):
    assert case.problem is None, f"{case.file}:{case.line}: the shell cannot read the block: {case.problem}"
    problems: list[str] = []
    notes: list[str] = []
    env = dict(case.env)
    skipped = []
    for words in case.commands:
        if reason := skip_reason(words):
            skipped.append(reason)
            continue
        check_command(words, env, case.inline, problems, notes)
        assigned, rest = split_assignments(words)
        if rest and rest[0] == "export":  # for the commands after it on the line
            env.update(split_assignments(rest[1:])[0])
        elif not rest:
            env.update(assigned)
    where = f"{case.file}:{case.line}: `{case.text.strip()}`"
    assert not problems, where + "\n" + "\n".join(f"  - {p}" for p in problems)
    if skipped and len(skipped) == len(case.commands):
        pytest.skip(f"{where}: " + "; ".join(skipped))


def test_commands_outside_shell_blocks_are_tagged():
    """A command in an untagged (or ```text) block is not checked: tag the block ```bash."""
    untagged = []
    for path in DOCS:
        for lang, first, body in fenced_blocks(path):
            if lang not in {"", "text", "txt"}:
                continue
            for offset, text in enumerate(body):
                try:
                    logical = shell_lines(text)
                except ShellSyntaxError:
                    continue
                if logical and looks_like_project_command(logical[0][2][0]):
                    untagged.append(f"{path.relative_to(ROOT)}:{first + offset}: {text.strip()}")
    assert not untagged, "commands in blocks that are not ```bash:\n" + "\n".join(untagged)


def test_the_docs_have_commands_of_every_kind_checked():
    """The parametrisation above is not empty by accident (a changed fence, a moved doc)."""
    kinds = set()
    for case in CASES:
        for words in case.commands:
            _, rest = split_assignments(words)
            if rest and not skip_reason(words):
                kinds.add("script" if rest[0].startswith(("scripts/", ".ci/")) else
                          "python" if program(rest) in PYTHONS else program(rest))
    assert {"script", "python", "dagster", "export"} <= kinds, kinds
    assert len(CASES) >= 30, len(CASES)
