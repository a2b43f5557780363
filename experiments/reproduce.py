"""The README's main job: install the data at hand, run every experiment, write results/REPORT.md.

    python -m experiments.reproduce [--profile quick|paper] [--only NAME ...] [--shared DIR]
    python -m experiments.reproduce --report-only [--profile ...]   # rebuild the report only

For each experiment its data script installs the data from ``--shared`` (a local folder such
as the project's ``../shared/data``) when that folder holds it, else from the canonical URL.
An experiment whose data cannot be had is not run and is reported as such, never replaced by
anything else; the command then exits with status 1 after the others have run.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from experiments._runner import (
    METRICS_FILE,
    DataMissingError,
    _git_commit,
    atomic_write_text,
    run_experiment,
)
from experiments._store import committed
from experiments.data_requirements import install_commands
from experiments.registry import EXPERIMENTS, load, register_configs
from experiments.report import write_report
from experiments.verdicts import replace_block, verdicts
from experiments.verdicts import table as verdict_table

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("quick", "paper")

def install_data(name, profile, shared):
    """Run the data scripts an experiment needs; returns a list of failure messages."""
    failures = []
    for script in install_commands(name, profile, shared):
        cmd = [sys.executable, "-m", *script]
        print(f"[reproduce] {name}: {' '.join(cmd[1:])}", flush=True)
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            message = (done.stderr.strip() or done.stdout.strip()).splitlines()
            failures.append(f"`{' '.join(cmd[2:])}` failed: {message[-1] if message else 'no output'}")
    return failures


def compose_config(name, profile, out_dir, overrides=()):
    from hydra import compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=[
            f"experiment={name}", f"profile={profile}", f"output_dir={out_dir}", *overrides])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, default="quick")
    parser.add_argument("--only", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS))
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data",
                        help="local folder holding the datasets (default ../shared/data)")
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--resume", action="store_true",
                        help="continue the runs already in results/ instead of rerunning them "
                             "from scratch")
    parser.add_argument("--overwrite", action="store_true",
                        help="rerun experiments whose results are committed (tracked by git) and "
                             "replace them once each run completes; without it they are kept "
                             "and not rerun")
    parser.add_argument("--report-only", action="store_true",
                        help="install and run nothing: rebuild the report from the finished runs")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides applied to every experiment")
    args = parser.parse_args(argv)
    shared = args.shared if args.shared.is_dir() else None
    if shared is None:
        print(f"[reproduce] {args.shared} not found: data scripts download from canonical URLs")

    missing, failed, rerun, kept = {}, {}, {}, []
    overrides = [*args.overrides, *([] if args.resume else ["resume=false"]),
                 *(["overwrite=true"] if args.overwrite else [])]
    for name in [] if args.report_only else args.only:
        if committed(args.results / name / args.profile) and not args.overwrite:
            kept.append(name)
            print(f"[reproduce] {name}: {args.results / name / args.profile} holds committed "
                  "results: kept, not rerun (--overwrite reruns and replaces them)", flush=True)
            continue
        started = time.perf_counter()
        problems = install_data(name, args.profile, shared)
        out_dir = args.results / name / args.profile
        previous = _read_bytes(out_dir / METRICS_FILE)
        try:
            cfg = compose_config(name, args.profile, out_dir, overrides)
            print(f"[reproduce] {name} ({args.profile}) -> {out_dir}", flush=True)
            run_module(cfg)
            print(f"[reproduce] {name} done in {time.perf_counter() - started:.0f} s", flush=True)
            if previous is not None and not args.resume:
                same = _read_bytes(out_dir / METRICS_FILE) == previous
                rerun[name] = "is byte-identical to" if same else "**differs from**"
        except DataMissingError as exc:
            missing[name] = "; ".join(problems + [str(exc)])
            print(f"[reproduce] {name}: NOT RUN, data missing: {missing[name]}", file=sys.stderr)
        except Exception as exc:  # report every experiment, then fail
            failed[name] = f"{type(exc).__name__}: {exc}"
            print(f"[reproduce] {name}: FAILED: {failed[name]}", file=sys.stderr)

    preamble = ["## The paper's claims here", "",
                "Computed from the committed runs by `experiments/verdicts.py` (the README "
                "holds the same table); a tie is not a failure.", "",
                verdict_table(verdicts(args.results), link_prefix="../"),
                f"Profile: **{args.profile}**. Commit: `{_git_commit()}`. "
                f"Regenerate with `make reproduce` (quick) or `make paper`; redraw figures from "
                f"the saved CSVs with `spahm-report results/<experiment>/<profile>`.", ""]
    for name, verdict in rerun.items():
        preamble.append(f"- **{name}:** rerun from scratch; its `metrics.csv` {verdict} the "
                        "one it replaced.")
    for name in kept:
        preamble.append(f"- **{name}:** the committed run was kept (not rerun; `--overwrite` "
                        "reruns it).")
    for name, why in missing.items():
        preamble.append(f"- **{name}: not reproduced, its data is missing.** {why}")
    for name, why in failed.items():
        preamble.append(f"- **{name}: failed.** {why}")
    # Every finished run of this profile goes into the report, not only those run now, so
    # that `--only NAME` refreshes one application without dropping the others.
    runs = [args.results / name / args.profile for name in EXPERIMENTS
            if (args.results / name / args.profile / "metrics.csv").is_file()
            and name not in missing and name not in failed]
    for name in EXPERIMENTS:
        if args.results / name / args.profile not in runs and name not in {**missing, **failed}:
            preamble.append(f"- **{name}:** no finished {args.profile} run in "
                            f"`{name}/{args.profile}/`.")
    report = args.results / report_name(args.profile)
    others = [f"[`{report_name(p)}`]({report_name(p)})" for p in PROFILES
              if p != args.profile and (args.results / report_name(p)).is_file()]
    if others:
        preamble += [""] * bool(preamble[-1]) + ["Other profiles' reports: " + ", ".join(others) + "."]
    write_report(runs, report, title=f"SPAHM reproduction report ({args.profile} profile)",
                 preamble="\n".join(preamble), plots=False, relative_to=report.parent)
    print(f"[reproduce] report: {report}")
    if args.results.resolve() == (ROOT / "results").resolve():
        readme = ROOT / "README.md"
        atomic_write_text(readme, replace_block(readme.read_text(),
                                                verdict_table(verdicts(args.results))))
        print(f"[reproduce] verdict table of {readme} rewritten from the runs")
    return 1 if (missing or failed) else 0


def _read_bytes(path):
    return Path(path).read_bytes() if Path(path).is_file() else None


def report_name(profile):
    """``REPORT.md`` for the quick profile (the README's main job), else ``REPORT_<profile>.md``."""
    return "REPORT.md" if profile == "quick" else f"REPORT_{profile}.md"


def run_module(cfg):
    """Run one experiment as ``spahm-experiment`` does."""
    return run_experiment(cfg, load(cfg.name))


if __name__ == "__main__":
    sys.exit(main())
