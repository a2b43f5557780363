"""Every command line the README and docs/*.md show runs as written after the two set-up
commands: each is taken from the text, its program must be on the venv's PATH (or be a make
target), and each cheap one is run (experiments composed with ``--cfg job``: every key and
value checked without running, in this process; the others with ``--help``)."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAMS = ("spahm-experiment", "spahm-report", "spahm", "python", "make")
BIN = Path(sys.executable).parent


def documented_commands():
    """(file, command) for every line of a code block (fenced or indented) that starts with one
    of our programs, ``.venv/bin/`` prefix or not, comment and continuation lines joined."""
    found = []
    for path in DOCS:
        lines = path.read_text().splitlines()
        fenced = False
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.lstrip().startswith("```"):
                fenced = not fenced
                i += 1
                continue
            if fenced or line.startswith("    "):
                text = line.split(" #")[0].strip()
                while text.endswith("\\") and i + 1 < len(lines):
                    i += 1
                    text = text[:-1] + " " + lines[i].split(" #")[0].strip()
                word = text.split(" ")[0].removeprefix(".venv/bin/") if text else ""
                if word in PROGRAMS and not text.startswith("spahm/"):
                    found.append((path.relative_to(ROOT).as_posix(), text))
            i += 1
    return found


COMMANDS = documented_commands()


def test_the_docs_show_commands():
    assert any("spahm-experiment" in c for _, c in COMMANDS)
    assert any(c.startswith("make") for _, c in COMMANDS)


def _make_targets():
    return set(re.findall(r"^([a-z-]+):", (ROOT / "Makefile").read_text(), re.M))


def _runnable(command):
    """The argument list that checks ``command`` cheaply, or None (placeholders, make)."""
    if "<" in command or "..." in command or "[" in command:
        return None
    words = shlex.split(command)
    words[0] = words[0].removeprefix(".venv/bin/")
    if words[0] == "spahm-experiment":
        args = [w for w in words[1:] if w not in ("-m", "--multirun")]
        args = [re.sub(r"=([^=(]*?),.*$", r"=\1", a) if "=" in a and "(" not in a else a
                for a in args]  # a sweep: its first point
        args = [a for a in args if "interval(" not in a]
        return ["compose", *args]
    if words[0] in ("spahm", "spahm-report"):
        return [str(BIN / words[0]), "--help"]
    if words[0] == "python":
        if words[1:2] == ["-m"]:
            return [sys.executable, "-m", words[2], "--help"]
        return None
    return None


@pytest.mark.parametrize("where,command", COMMANDS, ids=[c for _, c in COMMANDS])
def test_every_documented_command_runs_as_written(where, command):
    word = command.split(" ")[0].removeprefix(".venv/bin/")
    if word == "make":
        target = command.split()[1] if len(command.split()) > 1 else ""
        assert target in _make_targets(), f"{where}: `{command}`: no make target {target!r}"
        return
    if word != "python":
        assert (BIN / word).is_file(), f"{where}: `{command}`: {word} is not in {BIN}"
    argv = _runnable(command)
    if argv is None:
        return
    if argv[0] == "compose":  # in this process: Hydra composes exactly what the command would
        from hydra import compose, initialize_config_dir

        from experiments.registry import register_configs

        register_configs()
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            compose(config_name="config", overrides=argv[1:], return_hydra_config=True)
        return
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"})
    assert done.returncode == 0, f"{where}: `{command}` failed:\n{done.stderr[-2000:]}"
