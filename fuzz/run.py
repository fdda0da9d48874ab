"""Coverage-guided fuzzing of the decoders and the recording reader with atheris (libFuzzer),
for long runs.

    python fuzz/run.py stream --runs 1000000            # one target (stream, request, reply, bag)
    python fuzz/run.py all --seconds 60                  # every target, 60 s each
    python fuzz/run.py stream --seconds 20 --corpus DIR  # keep the corpus between runs

A crash is any exception but DecodeError; a hang is an input that takes over
--timeout-s (default 1); memory over --rss-mb (default 200) fails the run. libFuzzer
prints its stats (runs, peak RSS) at the end; the exit status is 0 when nothing was found.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def fuzz_one(target: str, argv: list[str]) -> None:
    """Runs inside the child process: instrument our decoders and hand over to libFuzzer."""
    import atheris

    with atheris.instrument_imports(include=["messages", "edge.bag", "mcap"]):
        from fuzz.targets import TARGETS
    logging.getLogger("edge.bag").setLevel(logging.ERROR)  # most bag inputs "end early": a warning
    atheris.Setup([sys.argv[0], *argv], TARGETS[target])
    atheris.Fuzz()


def write_seeds(target: str, directory: Path) -> None:
    from fuzz.targets import seeds

    directory.mkdir(parents=True, exist_ok=True)
    for index, data in enumerate(seeds()[target]):
        (directory / f"seed-{index}").write_bytes(data)


def write_dictionary(path: Path) -> None:
    """libFuzzer's -dict format: one quoted, \\x-escaped entry per line."""
    from fuzz.targets import dictionary

    lines = ['"' + "".join(f"\\x{b:02x}" for b in entry) + '"' for entry in dictionary()]
    path.write_text("\n".join(lines) + "\n")


def run(target: str, args: argparse.Namespace) -> int:
    corpus = (Path(args.corpus) / target if args.corpus
              else Path(tempfile.mkdtemp(prefix=f"fuzz-{target}-")))
    write_seeds(target, corpus)
    words = Path(tempfile.mkdtemp(prefix="fuzz-dict-")) / "wire.dict"
    write_dictionary(words)
    libfuzzer = [f"-dict={words}", f"-timeout={args.timeout_s}", f"-rss_limit_mb={args.rss_mb}",
                 "-print_final_stats=1", f"-max_len={args.max_len}",
                 f"-artifact_prefix={args.artifacts}/{target}-"]
    if args.runs:
        libfuzzer.append(f"-runs={args.runs}")
    if args.seconds:
        libfuzzer.append(f"-max_total_time={args.seconds}")
    Path(args.artifacts).mkdir(parents=True, exist_ok=True)
    command = [sys.executable, __file__, "--child", target, *libfuzzer, str(corpus)]
    print(f"fuzz {target}: {' '.join(command)}", flush=True)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run(command, env=env).returncode


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        fuzz_one(sys.argv[2], sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    from fuzz.targets import TARGETS

    parser.add_argument("target", choices=[*TARGETS, "all"])
    parser.add_argument("--runs", type=int, default=0, help="inputs per target (0: no limit)")
    parser.add_argument("--seconds", type=int, default=0, help="time per target (0: no limit)")
    parser.add_argument("--timeout-s", type=int, default=1)
    parser.add_argument("--rss-mb", type=int, default=200)
    parser.add_argument("--max-len", type=int, default=4096)
    parser.add_argument("--corpus", help="directory to keep corpora in (default: temporary)")
    parser.add_argument("--artifacts", default=str(ROOT / "fuzz" / "artifacts"),
                        help="where crashing inputs are written")
    args = parser.parse_args()
    if not args.runs and not args.seconds:
        parser.error("give --runs or --seconds")
    targets = list(TARGETS) if args.target == "all" else [args.target]
    failed = [t for t in targets if run(t, args) != 0]
    if failed:
        print(f"fuzz: findings in {', '.join(failed)} (see {args.artifacts})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
