"""A stand-in for Open MPI's mpirun, for machines without it: ``fake_mpirun.py -np N CMD...``.

It checks what the local backend gives the Launcher (the hostfile named by
``OMPI_MCA_orte_default_hostfile``, with enough slots) and starts N copies of
the command with the rank variables Open MPI sets. It stands for mpirun only
in tests: the contract around it is what is tested, not MPI.
"""

import os
import subprocess
import sys

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
    )
    for rank in range(ranks)
]
sys.exit(max(child.wait() for child in children))
