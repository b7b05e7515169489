"""Notebooks for job tests, written as files the way JupyterLab saves them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbformat

Cell = str | tuple[str, Sequence[str]]


def write_notebook(path: Path, cells: Sequence[Cell]) -> Path:
    """A notebook of code cells; ``(source, tags)`` gives a cell tags."""
    notebook = nbformat.v4.new_notebook()
    for cell in cells:
        source, tags = (cell, ()) if isinstance(cell, str) else cell
        notebook.cells.append(
            nbformat.v4.new_code_cell(source=source, metadata={"tags": list(tags)} if tags else {})
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


#: Trains a small model with DDP (gloo, CPU) and checks, on every rank, that all
#: ranks end with identical weights; exits non-zero otherwise.
DDP_TRAINING = [
    ("steps = 20", ["parameters"]),
    """\
import os
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

torch.set_num_threads(1)
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
local_rank = os.environ.get("LOCAL_RANK")
print(f"rank {rank} of {world}; RANK={os.environ['RANK']} LOCAL_RANK={local_rank}")
torch.manual_seed(1234 + rank)  # different data per rank, same initial weights via DDP
model = DistributedDataParallel(torch.nn.Linear(8, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(steps):
    x = torch.randn(16, 8)
    y = x.sum(dim=1, keepdim=True)
    loss = torch.nn.functional.mse_loss(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
""",
    """\
flat = torch.cat([p.detach().flatten() for p in model.parameters()])
gathered = [torch.zeros_like(flat) for _ in range(world)]
dist.all_gather(gathered, flat)
assert all(torch.equal(gathered[0], other) for other in gathered), "ranks diverged"
print(f"rank {rank}: weights identical on {world} ranks, loss {loss.item():.4f}", flush=True)
dist.barrier()  # no rank tears gloo down while another still uses it
dist.destroy_process_group()
# torch 2.13's CPU build can abort at interpreter exit under torchrun ("terminate
# called without an active exception"; about 1 run in 8, with or without Mofang).
# Leaving without running C++ destructors sidesteps it; the output is flushed.
sys.stdout.flush()
os._exit(0)
""",
]


#: Every replica of a TensorFlow-style job checks that its TF_CONFIG is complete and
#: consistent, and that it reaches every peer at the address given (plain sockets:
#: no TensorFlow needed). Each replica serves on its own address; when it has reached
#: every peer and been reached by every peer, it tells the Chief, which exits once it
#: has heard from all. Parameter servers then wait to be stopped, as real ones do.
TF_CHECK = [
    """\
import json, os, socket, threading, time

config = json.loads(os.environ["TF_CONFIG"])
assert set(config) == {"cluster", "task", "environment"}, config
assert config["environment"] == "cloud"
cluster, task = config["cluster"], config["task"]
me = f"{task['type']}-{task['index']}"
assert task["type"] in cluster and 0 <= task["index"] < len(cluster[task["type"]]), config
assert task["type"] == os.environ["MOFANG_REPLICA_TYPE"].lower()
assert str(task["index"]) == os.environ["MOFANG_REPLICA_INDEX"]
everyone = {f"{kind}-{i}": address for kind, addresses in cluster.items()
            for i, address in enumerate(addresses)}
assert len(set(everyone.values())) == len(everyone), "two replicas share an address"
peers = {name: address for name, address in everyone.items() if name != me}
print(f"{me}: TF_CONFIG complete and consistent, {len(peers)} peers", flush=True)

host, port = everyone[me].rsplit(":", 1)
server = socket.create_server((host, int(port)))
heard, done = set(), set()

def serve():
    while True:
        connection, _ = server.accept()
        with connection:
            word, name = connection.recv(100).decode().split(":")
            (heard if word == "hello" else done).add(name)

threading.Thread(target=serve, daemon=True).start()

def send(address, message):
    host, port = address.rsplit(":", 1)
    deadline = time.time() + 60
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=2) as connection:
                connection.sendall(message.encode())
                return
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)

for address in peers.values():
    send(address, f"hello:{me}")
while heard != set(peers):
    time.sleep(0.05)
print(f"{me}: all {len(peers)} peers reachable, and reached me", flush=True)
""",
    """\
if me == "chief-0":
    while done != set(peers):
        time.sleep(0.05)
    print("chief-0: every replica checked in", flush=True)
else:
    send(cluster["chief"][0], f"done:{me}")
    if task["type"] == "ps":
        while True:
            time.sleep(1)
""",
]

#: Ranks of an MPI job sum their rank + 1 with an allreduce under mpirun.
MPI_ALLREDUCE = [
    """\
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
total = comm.allreduce(rank + 1)
assert total == size * (size + 1) // 2, (total, size)
print(f"rank {rank} of {size}: allreduce {total}", flush=True)
""",
]

#: A job whose replicas branch on their role: for failure, cancel and timeout tests.
ROLE_SCRIPT = """\
import os, subprocess, sys, time

role = os.environ["MOFANG_REPLICA_TYPE"]
index = int(os.environ["MOFANG_REPLICA_INDEX"])
print(f"{role}-{index} started", flush=True)
behaviour = BEHAVIOUR.get(f"{role}-{index}", BEHAVIOUR.get(role, "sleep"))
if behaviour == "sleep":
    # A child process too, which must be stopped with its replica.
    child = subprocess.Popen(["sleep", "600"])
    open(f"child-{role}-{index}.pid", "w").write(str(child.pid))
    time.sleep(600)
elif behaviour.startswith("exit"):
    time.sleep(0.3)
    print(f"{role}-{index} exits with {behaviour[4:]}", flush=True)
    sys.exit(int(behaviour[4:]))
elif behaviour == "fail-once":
    marker = f"failed-once-{role}-{index}"
    if not os.path.exists(marker):
        open(marker, "w").close()
        sys.exit(5)
    print("second attempt succeeds", flush=True)
"""


def role_notebook(path: Path, behaviour: dict[str, str]) -> Path:
    return write_notebook(path, [(f"BEHAVIOUR = {behaviour!r}", ["parameters"]), ROLE_SCRIPT])
