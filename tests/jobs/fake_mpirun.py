"""A stand-in for Open MPI's mpirun, for machines without it: ``fake_mpirun.py -np N CMD...``.

It checks what the local backend gives the Launcher (the hostfile named by
``OMPI_MCA_orte_default_hostfile``, with enough slots) and starts N copies of
the command with the rank variables Open MPI sets. Like mpirun, it reads each
rank's output through a pipe and forwards it a whole line at a time, so lines
of different ranks never interleave. It stands for mpirun only in tests: the
contract around it is what is tested, not MPI.
"""

import os
import subprocess
import sys
import threading

args = sys.argv[1:]
assert args[0] == "-np", args
ranks, command = int(args[1]), args[2:]
hostfile = os.environ["OMPI_MCA_orte_default_hostfile"]  # noqa: SIM112 - Open MPI's spelling
with open(hostfile) as lines:
    host, slots = lines.read().split()
assert host == "localhost" and int(slots.split("=")[1]) >= ranks, (host, slots)
children = [
    subprocess.Popen(
        command,
        env={**os.environ, "OMPI_COMM_WORLD_RANK": str(rank), "OMPI_COMM_WORLD_SIZE": str(ranks)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    for rank in range(ranks)
]
one_writer = threading.Lock()


def forward(child: subprocess.Popen[bytes]) -> None:
    assert child.stdout is not None
    for line in child.stdout:
        with one_writer:
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()


forwarders = [threading.Thread(target=forward, args=(child,)) for child in children]
for forwarder in forwarders:
    forwarder.start()
for forwarder in forwarders:
    forwarder.join()
sys.exit(max(child.wait() for child in children))
