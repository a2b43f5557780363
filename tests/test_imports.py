"""The library stays light: ``import spahm`` pulls in none of the experiment suite's packages."""
import subprocess
import sys

from conftest import ROOT


def test_import_spahm_imports_no_experiment_dependencies():
    code = ("import sys, spahm; "
            "heavy = {'hydra', 'GPy', 'matplotlib', 'nltk', 'omegaconf', 'tqdm', 'gensim'}; "
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
