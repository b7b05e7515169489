"""A 2-replica DDP job end to end: ``mofang submit --wait`` against ``torchrun`` directly.

The same program (the DDP training notebook of the job tests, converted by
Mofang) runs two ways, alternating so that drift on the machine hits both alike:

* ``mofang submit NOTEBOOK --kind pytorch --workers 2 --wait``: the CLI starts,
  finds the server, the server snapshots the notebook, the local backend starts
  a Master and a Worker with the PyTorchJob environment, and the CLI follows the
  event stream until the job has succeeded;
* ``torchrun --nproc-per-node 2 program.py``: the elastic agent and its two
  workers, as a user would run the same program by hand;
* the floor: the two processes started directly with the same environment.

The figure is the ratio of medians, Mofang over torchrun (target: at most
0.7). A Jupyter server with the extension runs during the benchmark (started
once, untimed), as the notebook server does in use; one untimed run of each
warms the caches.

    python -m benchmarks.submit_local            # 5 rounds
    python -m benchmarks.submit_local --quick    # 1 round: checks it runs, not how fast
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.stats import summary
from mofang_lab.client import MofangClient, ServerInfo
from tests.jobs.notebooks import DDP_TRAINING, write_notebook
from tests.jobs.server import Server, free_port, jupyter_server

BIN = Path(sys.executable).parent


def mofang_seconds(server: Server, notebook: Path, steps: int) -> float:
    command = [
        str(BIN / "mofang"),
        "submit",
        str(notebook),
        "--kind",
        "pytorch",
        "--workers",
        "2",
        "--env",
        "OMP_NUM_THREADS=1",
        "-p",
        f"steps={steps}",
        "--wait",
    ]
    elapsed, stdout = _timed(command, env={**os.environ, **server.env}, cwd=notebook.parent)
    # --wait prints states; the training's own output is in the job folder.
    submitted = next(line for line in stdout.splitlines() if line.startswith("Submitted "))
    folder = submitted.rsplit("Files and logs: ", 1)[1].rstrip("/")
    _check((server.root / folder / "logs" / "master-0.log").read_text(), command)
    return elapsed


def torchrun_seconds(program: Path) -> float:
    command = [str(BIN / "torchrun"), "--nproc-per-node", "2", str(program)]
    elapsed, stdout = _timed(
        command, env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=program.parent
    )
    _check(stdout, command)
    return elapsed


def by_hand_seconds(program: Path) -> float:
    """The floor: two processes started directly with the PyTorchJob environment."""
    port = free_port()
    start = time.perf_counter()
    processes = [
        subprocess.Popen(
            [sys.executable, str(program)],
            env={
                **os.environ,
                "OMP_NUM_THREADS": "1",
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(port),
                "WORLD_SIZE": "2",
                "RANK": str(rank),
            },
            cwd=program.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in range(2)
    ]
    outputs = [process.communicate() for process in processes]
    elapsed = time.perf_counter() - start
    if any(process.returncode for process in processes):
        raise RuntimeError(f"by hand failed: {outputs}")
    _check(outputs[0][0], ["by hand"])
    return elapsed


def _timed(command: list[str], *, env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"{command[0]} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return elapsed, result.stdout


def _check(output: str, command: list[str]) -> None:
    if "weights identical on 2 ranks" not in output:
        raise RuntimeError(f"{command[0]}: the training did not check out:\n{output[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="training steps per run")
    parser.add_argument("--quick", action="store_true", help="1 round, few steps")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rounds, steps = (1, 3) if args.quick else (args.rounds, args.steps)

    with tempfile.TemporaryDirectory(prefix="mofang-bench-") as tmp:
        base = Path(tmp)
        root = base / "home"
        notebook = write_notebook(root / "ddp.ipynb", DDP_TRAINING)
        # The product's defaults: no faster polling than a user's server has.
        with jupyter_server(root, base / "state", local_backend={}) as server:
            client = MofangClient(ServerInfo(server.url, server.token))
            dry = client.submit(
                {
                    "notebook": "ddp.ipynb",
                    "kind": "pytorch",
                    "parameters": {"steps": steps},
                    "dry_run": True,
                }
            )
            program = base / "direct" / "program.py"
            program.parent.mkdir()
            program.write_text(dry["program"])
            mofang_seconds(server, notebook, steps)  # warm-up, untimed
            torchrun_seconds(program)
            by_hand_seconds(program)
            times: dict[str, list[float]] = {"mofang": [], "torchrun": [], "by_hand": []}
            for _ in range(rounds):
                times["mofang"].append(mofang_seconds(server, notebook, steps))
                times["torchrun"].append(torchrun_seconds(program))
                times["by_hand"].append(by_hand_seconds(program))

    result = {name: summary(values) for name, values in times.items()}
    ratio = result["mofang"]["median"] / result["torchrun"]["median"]
    print(f"2-replica DDP, {steps} steps, {rounds} rounds, alternating:")
    labels = {
        "mofang": "mofang submit --wait",
        "torchrun": "torchrun --nproc-per-node 2",
        "by_hand": "2 processes by hand (floor)",
    }
    for name, label in labels.items():
        r = result[name]
        print(f"  {label:28s} median {r['median']:.2f} s  (min {r['min']:.2f}, max {r['max']:.2f})")
    print(f"  ratio mofang / torchrun: {ratio:.3f}")
    over_floor = result["mofang"]["median"] - result["by_hand"]["median"]
    print(f"  mofang - floor: {over_floor:+.2f} s")
    if args.json:
        args.json.write_text(json.dumps({"submit_local": result, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
