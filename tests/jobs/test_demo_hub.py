"""From the demo hub: a user submits the open notebook with the magic and follows it to the end.

A real JupyterHub with the local spawner spawns alice's JupyterLab; a kernel
is started for her notebook through her server's REST API (as JupyterLab
does), and the magics run in it over the kernel's websocket. The kernel finds
the server from what the hub gives every single-user server.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import websocket

from tests.e2e.hub import Hub, running_hub
from tests.jobs.notebooks import DDP_TRAINING, write_notebook

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with running_hub(tmp_path_factory.mktemp("hub"), OMP_NUM_THREADS="1") as running:
        yield running


class KernelSocket:
    """Execute code in a kernel through the Jupyter server's websocket, as JupyterLab does."""

    def __init__(self, url: str, token: str) -> None:
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: token {token}"], timeout=300
        )
        self.session = uuid.uuid4().hex

    def run(self, code: str) -> dict[str, Any]:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "username": "test",
            "session": self.session,
            "msg_type": "execute_request",
            "version": "5.3",
        }
        self.ws.send(
            json.dumps(
                {
                    "header": header,
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False},
                    "channel": "shell",
                }
            )
        )
        result: dict[str, Any] = {"stdout": "", "stderr": "", "html": [], "status": None}
        idle = False
        while not (idle and result["status"]):
            message = json.loads(self.ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                result[content["name"]] += content["text"]
            elif kind == "display_data":
                result["html"].append(content["data"].get("text/html", ""))
            elif kind == "execute_reply":
                result["status"] = content["status"]
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        return result


def test_submit_from_a_notebook_of_the_demo_hub_and_follow_it(hub: Hub) -> None:
    response, _events = hub.spawn("alice", {"template": "pytorch", "cpu": "2", "memory_gib": "4"})
    assert response.status_code in (201, 202), response.text
    hub.wait_ready("alice")
    workspace = hub.data_root / "users" / "alice"
    write_notebook(
        workspace / "train.ipynb",
        [*DDP_TRAINING, "%mofang_submit --kind pytorch --workers 2"],
    )
    session = hub.server_request(
        "POST",
        "alice",
        "api/sessions",
        json={"path": "train.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
    )
    assert session.status_code == 201, session.text
    kernel_id = session.json()["kernel"]["id"]
    ws_url = hub.url.replace("http", "ws", 1) + f"/user/alice/api/kernels/{kernel_id}/channels"
    kernel = KernelSocket(ws_url, hub.user_token("alice"))
    try:
        # Loaded already where the package is installed; loading again is harmless.
        assert kernel.run("%load_ext mofang_lab")["status"] == "ok"
        submitted = kernel.run(
            "%mofang_submit --kind pytorch --workers 2 -p steps=5 --env OMP_NUM_THREADS=1"
        )
        assert submitted["status"] == "ok", submitted
        job_id = submitted["stdout"].split()[1]
        followed = kernel.run(f"%mofang_logs {job_id} -f")
        assert "rank 0: weights identical on 2 ranks" in followed["stdout"], followed
        listed = kernel.run("%mofang_jobs")
        assert job_id in listed["html"][0] and "Succeeded" in listed["html"][0]
    finally:
        kernel.ws.close()
    job = hub.server_get("alice", f"mofang/api/jobs/{job_id}").json()
    assert job["owner"] == "alice" and job["state"] == "Succeeded"
    assert job["spec"]["image"] and job["spec"]["mounts"][0]["path"] == ""
    assert (workspace / "jobs" / job_id / "logs" / "worker-0.log").is_file()
    # Another user of the hub cannot reach alice's server, so not her jobs either.
    bobs_try = requests.get(
        f"{hub.url}/user/alice/mofang/api/jobs/{job_id}",
        headers={"Authorization": f"token {hub.user_token('bob')}"},
        timeout=30,
        allow_redirects=False,
    )
    assert bobs_try.status_code in (302, 403, 404), bobs_try.status_code
    assert job_id not in bobs_try.text
