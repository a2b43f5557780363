"""The ``spahm fuse`` command line."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, planted_problem
from spahm import cli, match


@pytest.fixture
def silo_files(tmp_path):
    _, silos, _ = planted_problem(seed=0, J=3, L=4, D=2)
    paths = []
    for j, s in enumerate(silos):
        if j == 0:
            p = tmp_path / "a.npy"
            np.save(p, s)
        elif j == 1:
            p = tmp_path / "b.csv"
            p.write_text("x,y\n" + "\n".join(f"{float(r[0])!r},{float(r[1])!r}" for r in s) + "\n")
        else:
            p = tmp_path / "c.txt"
            np.savetxt(p, s, fmt="%.17g")
        paths.append(p)
    return silos, paths


def test_fuse_writes_atoms_popularity_assignments(silo_files, tmp_path, capsys):
    silos, paths = silo_files
    out = tmp_path / "out" / "fused.npz"
    assert cli.main(["fuse", *map(str, paths), "-o", str(out), "--seed", "3"]) == 0
    expected = match(silos, random_state=3)
    printed = capsys.readouterr().out
    assert f"{expected.n_global_atoms} global atoms" in printed
    with np.load(out) as z:
        np.testing.assert_allclose(z["global_atoms"], expected.global_atoms)
        np.testing.assert_array_equal(z["popularity"], expected.popularity)
        np.testing.assert_array_equal(z["assignments"], np.concatenate(expected.assignments))
        np.testing.assert_array_equal(z["silo_sizes"], [len(s) for s in silos])
        np.testing.assert_array_equal(z["assignments_1"], expected.assignments[1])
        assert list(z["files"]) == [str(p) for p in paths]
        assert float(z["hp_gamma0"]) == 1.0
    assert [p.name for p in out.parent.iterdir()] == ["fused.npz"]  # no temporary left


def test_fuse_with_variances_and_family(tmp_path):
    rng = np.random.default_rng(0)
    counts = [rng.poisson([2.0, 30.0, 5.0], size=(1, 3)).astype(float) for _ in range(3)]
    paths = []
    for j, c in enumerate(counts):
        paths.append(tmp_path / f"s{j}.npy")
        np.save(paths[-1], c)
    out = tmp_path / "f.npz"
    assert cli.main(["fuse", *map(str, paths), "-o", str(out), "--family", "poisson"]) == 0
    var = tmp_path / "v.npy"
    np.save(var, np.array([[0.1]]))
    assert cli.main(["fuse", *map(str, paths), "-o", str(out),
                     "--variances", str(var), str(var), str(var)]) == 0


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("1,2\n3,abc\n", "line 2, field 2: 'abc' is not a decimal number"),
    ("", "holds no atoms"),
    ("1,2,3\n", "atoms have dimension 3, but"),
    ("1,nan\n", "atom 0 has a non-finite value in column 1"),
])
def test_bad_files_name_the_file(silo_files, tmp_path, capsys, content, message):
    _, paths = silo_files
    bad = tmp_path / "bad.csv"
    if content is not None:
        bad.write_text(content)
    out = tmp_path / "fused.npz"
    assert cli.main(["fuse", str(paths[0]), str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv" in err and message in err
    assert not out.exists()


def test_other_bad_inputs(tmp_path, capsys):
    p = tmp_path / "x.json"
    p.write_text("[]")
    assert cli.main(["fuse", str(p), "-o", str(tmp_path / "o.npz")]) == 2
    assert "unknown file type .json" in capsys.readouterr().err
    one_d = tmp_path / "v.npy"
    np.save(one_d, np.ones(3))
    assert cli.main(["fuse", str(one_d), "-o", str(tmp_path / "o.npz")]) == 2
    assert "expected a 2-D array" in capsys.readouterr().err
    neg = tmp_path / "neg.npy"
    np.save(neg, -np.ones((2, 2)))
    assert cli.main(["fuse", str(neg), "-o", str(tmp_path / "o.npz"), "--family", "poisson"]) == 2
    assert f"silo 0 ({neg})" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["fuse", str(neg)])  # -o is required
    assert cli.main(["fuse", str(neg), "-o", str(tmp_path / "o.npz"), "--seed", "-1"]) == 2
    assert "--seed must be a non-negative integer, got -1" in capsys.readouterr().err


def test_console_entry_point_runs(silo_files, tmp_path):
    _, paths = silo_files
    out = tmp_path / "fused.npz"
    proc = subprocess.run([sys.executable, "-m", "spahm.cli", "fuse", *map(str, paths), "-o",
                           str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "global atoms" in proc.stdout and out.exists()


# ------------------------------------------------------------------ the output path
def _bad_outputs(tmp_path, paths):
    existing_dir = tmp_path / "existing"
    existing_dir.mkdir()
    return [
        ("an input file", str(paths[0]), "is one of the input files"),
        ("an input by another spelling", str(paths[1].parent / "." / paths[1].name),
         "is one of the input files"),
        ("an existing directory", str(existing_dir), "is a directory; give a file name"),
        ("an empty name", "", "-o/--output is empty"),
        ("a blank name", "  ", "-o/--output is empty"),
        ("a file with a trailing slash", str(paths[0]) + "/", "ends with '/' but is a file"),
        # a directory that cannot be made (its parent is a file): fails for root as well
        ("an unwritable place", str(paths[2]) + "/sub/f.npz", "cannot be written"),
    ]


BAD_OUTPUT_IDS = ["an input file", "an input by another spelling", "an existing directory",
                  "an empty name", "a blank name", "a file with a trailing slash",
                  "an unwritable place"]


@pytest.mark.parametrize("case", range(len(BAD_OUTPUT_IDS)), ids=BAD_OUTPUT_IDS)
def test_bad_outputs_get_one_clear_line(silo_files, tmp_path, capsys, case):
    _, paths = silo_files
    before = {p: p.read_bytes() for p in paths}
    name, output, message = _bad_outputs(tmp_path, paths)[case]
    assert cli.main(["fuse", *map(str, paths), "-o", output]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert {p: p.read_bytes() for p in paths} == before  # inputs untouched


def test_output_dir_with_trailing_slash_writes_into_it(silo_files, tmp_path):
    _, paths = silo_files
    assert cli.main(["fuse", *map(str, paths), "-o", str(tmp_path / "new") + "/"]) == 0
    with np.load(tmp_path / "new" / cli.DEFAULT_OUTPUT_NAME) as z:
        assert z["global_atoms"].ndim == 2 and bool(z["converged"]) in (True, False)


def test_fuse_help_is_complete_and_plain():
    proc = subprocess.run([sys.executable, "-m", "spahm.cli", "fuse", "--help"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    text = proc.stdout
    assert proc.returncode == 0
    for needle in ("global_atoms", "popularity", "assignments", "hp_<name>", "one value per pass",
                   "Example:", "--sigma0", "--gamma0", "--seed", "DIR/"):
        assert needle in text, needle
    assert "``" not in text and ":func:" not in text and ":class:" not in text
