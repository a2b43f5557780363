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
    ("1,2\n3,abc\n", "not a numeric table"),
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


def test_console_entry_point_runs(silo_files, tmp_path):
    _, paths = silo_files
    out = tmp_path / "fused.npz"
    proc = subprocess.run([sys.executable, "-m", "spahm.cli", "fuse", *map(str, paths), "-o",
                           str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "global atoms" in proc.stdout and out.exists()
