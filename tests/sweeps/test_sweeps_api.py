"""Sweeps through the REST API of a real jupyter-server, with real local trials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from tests.jobs.conftest import Fetch, TokenUsers, api, server_config
from tests.jobs.notebooks import write_notebook
from tests.sweeps.conftest import digits_notebook, sweep_body, wait_sweep

ALICE = {"Authorization": "token alice-token"}
BOB = {"Authorization": "token bob-token"}

#: With this seed the random search tries lr 4.1e-2, 5.4e-3, 1.7e-2, then 2.0e-7,
#: 2.2e-7, 2.7e-7: three good trials first, then three that barely learn.
SEED = 465


async def error_of(jp_fetch: Fetch, *parts: str, **kw: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await api(jp_fetch, *parts, **kw)
    assert info.value.response is not None
    return info.value.code, json.loads(info.value.response.body)["message"]


def parameters_cell(path: Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return str(next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])).source)


async def test_a_sweep_finds_good_values_and_stops_bad_trials_early(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    digits_notebook(jp_root_dir / "digits.ipynb")
    body = sweep_body(
        "digits.ipynb",
        max_trials=6,
        seed=SEED,
        early_stopping={"min_trials_required": 2, "start_step": 2},
        pause=0.25,
    )
    created = await api(jp_fetch, "sweeps", method="POST", body=body)
    assert created["state"] == "Running" and created["name"] == "digits"
    sweep = await wait_sweep(jp_fetch, created["id"])
    assert (sweep["state"], sweep["reason"]) == ("Succeeded", "MaxTrialsReached"), sweep
    trials = sweep["trials"]
    assert [t["number"] for t in trials] == list(range(6))
    jobs = {job["id"]: job for job in (await api(jp_fetch, "jobs"))["jobs"]}
    assert sorted(jobs) == sorted(t["job_id"] for t in trials)  # one job per trial, no more
    for trial in trials:
        job = jobs[trial["job_id"]]
        assert job["spec"]["idempotency_key"] == f"{sweep['id']}-{trial['number']}"
        assert job["spec"]["parameters"] == {"pause": 0.25, "lr": trial["parameters"]["lr"]}
        accuracy = trial["reports"]["accuracy"]
        assert len(trial["reports"]["train_accuracy"]) == len(accuracy)
        assert trial["objective"] == max(accuracy)
    succeeded = [t for t in trials if t["state"] == "Succeeded"]
    stopped = [t for t in trials if t["state"] == "EarlyStopped"]
    assert len(succeeded) + len(stopped) == 6
    assert all(len(t["reports"]["accuracy"]) == 8 for t in succeeded)
    # The trials that barely learn were stopped before their 8 epochs; good ones never.
    assert len(stopped) >= 2, trials
    for trial in stopped:
        assert trial["early_stopped"] and trial["parameters"]["lr"] < 1e-5
        assert len(trial["reports"]["accuracy"]) < 8
        assert jobs[trial["job_id"]]["state"] == "Cancelled"
    best = max(succeeded, key=lambda t: t["objective"])
    assert sweep["best"] == {
        "number": best["number"],
        "parameters": best["parameters"],
        "objective": best["objective"],
    }
    assert best["parameters"]["lr"] > 1e-3 and best["objective"] > 0.9
    listed = (await api(jp_fetch, "sweeps"))["sweeps"]
    assert [s["id"] for s in listed] == [sweep["id"]] and "trials" not in listed[0]
    assert listed[0]["counts"] == {"Succeeded": len(succeeded), "EarlyStopped": len(stopped)}

    # apply-best writes the best lr into the parameters cell, keeping the rest.
    applied = await api(
        jp_fetch,
        "sweeps",
        sweep["id"],
        "apply-best",
        method="POST",
        body={"notebook": "digits.ipynb"},
    )
    assert applied["parameters"] == best["parameters"]
    assert applied["previous"] == {"lr": 0.01}  # what the cell held: what a client shows
    cell = parameters_cell(jp_root_dir / "digits.ipynb")
    assert cell.splitlines()[0] == f"lr = {best['parameters']['lr']!r}  # learning rate of SGD"
    assert cell.splitlines()[1:] == [
        "alpha = 0.0001  # L2 penalty",
        "epochs = 8",
        "pause = 0.0  # seconds after each epoch, so that tests can watch trials run",
        'loss = "hinge"',
    ]
    # A notebook whose parameters cell lacks the variable gets an assignment.
    write_notebook(jp_root_dir / "other.ipynb", [("# settings\nepochs = 2", ["parameters"])])
    await api(
        jp_fetch,
        "sweeps",
        sweep["id"],
        "apply-best",
        method="POST",
        body={"notebook": "other.ipynb"},
    )
    assert parameters_cell(jp_root_dir / "other.ipynb") == (
        f"# settings\nepochs = 2\nlr = {best['parameters']['lr']!r}\n"
    )
    code, message = await error_of(
        jp_fetch,
        "sweeps",
        sweep["id"],
        "apply-best",
        method="POST",
        body={"notebook": "../x.ipynb"},
    )
    assert code == 403 and "outside your files" in message


async def test_a_trial_without_the_objective_fails_and_so_does_the_sweep(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(
        jp_root_dir / "silent.ipynb", [("lr = 0.1", ["parameters"]), "print('no metrics here')"]
    )
    body = sweep_body("silent.ipynb", parallel_trials=1, max_trials=3, max_failed_trials=0)
    created = await api(jp_fetch, "sweeps", method="POST", body=body)
    sweep = await wait_sweep(jp_fetch, created["id"])
    assert (sweep["state"], sweep["reason"]) == ("Failed", "MaxFailedTrialsExceeded")
    assert len(sweep["trials"]) == 1 and sweep["best"] is None
    trial = sweep["trials"][0]
    assert trial["state"] == "Failed" and "never reported accuracy" in trial["message"]
    code, message = await error_of(
        jp_fetch, "sweeps", sweep["id"], "apply-best", method="POST", body={"notebook": "s.ipynb"}
    )
    assert code == 409 and "no succeeded trial" in message


async def test_reaching_the_goal_ends_the_sweep_and_cancels_the_rest(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    digits_notebook(jp_root_dir / "digits.ipynb")
    body = sweep_body("digits.ipynb", max_trials=4, parallel_trials=2, pause=0.2)
    body["settings"]["parameters"] = [{"type": "discrete", "name": "lr", "values": [0.05]}]
    body["settings"]["objective"]["goal"] = 0.5
    created = await api(jp_fetch, "sweeps", method="POST", body=body)
    sweep = await wait_sweep(jp_fetch, created["id"])
    assert (sweep["state"], sweep["reason"]) == ("Succeeded", "GoalReached"), sweep
    assert len(sweep["trials"]) == 2  # never more than were running when the goal was met
    assert sweep["best"]["objective"] >= 0.5
    states = {t["state"] for t in sweep["trials"]}
    assert states <= {"Succeeded", "Cancelled"} and "Succeeded" in states


async def test_cancel_stops_the_running_trials(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    digits_notebook(jp_root_dir / "digits.ipynb")
    body = sweep_body("digits.ipynb", max_trials=4, pause=30)
    created = await api(jp_fetch, "sweeps", method="POST", body=body)
    cancelled = await api(jp_fetch, "sweeps", created["id"], "cancel", method="POST")
    assert cancelled["state"] == "Cancelled" and cancelled["reason"] == "Cancelled"
    assert [t["state"] for t in cancelled["trials"]] == ["Cancelled", "Cancelled"]
    for trial in cancelled["trials"]:
        if trial["job_id"] is not None:
            job = await api(jp_fetch, "jobs", trial["job_id"])
            assert job["state"] == "Cancelled"
    # Cancelling again changes nothing; the sweep started no further trial.
    again = await api(jp_fetch, "sweeps", created["id"], "cancel", method="POST")
    assert again["trials"] == cancelled["trials"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"parameters": [{"type": "double", "name": "lrate", "min": 0.1, "max": 1}]},
            "does not assign lrate in its cell tagged 'parameters'",
        ),
        (
            {"parameters": [{"type": "double", "name": "lr", "min": 1, "max": 0.1}]},
            "min must be below max",
        ),
        ({"parallel_trials": 5, "max_trials": 4}, "parallel_trials must be at most max_trials"),
        ({"algorithm": {"name": "annealing"}}, "algorithm.name"),
        ({"algorithm": {"name": "tpe", "settings": {"gamma": "1"}}}, "does not take setting"),
    ],
)
async def test_bad_input_is_refused_and_starts_nothing(
    jp_fetch: Fetch, jp_root_dir: Path, change: dict[str, Any], expected: str
) -> None:
    digits_notebook(jp_root_dir / "digits.ipynb")
    body = sweep_body("digits.ipynb")
    body["settings"].update(change)
    code, message = await error_of(jp_fetch, "sweeps", method="POST", body=body)
    assert code == 400 and expected in message, message
    if "lrate" in expected:
        assert "That cell assigns: lr, alpha, epochs, pause, loss." in message
    assert (await api(jp_fetch, "sweeps"))["sweeps"] == []
    assert (await api(jp_fetch, "jobs"))["jobs"] == []


async def test_bad_trial_templates_are_refused(jp_fetch: Fetch, jp_root_dir: Path) -> None:
    digits_notebook(jp_root_dir / "digits.ipynb")
    write_notebook(jp_root_dir / "untagged.ipynb", ["lr = 0.1"])
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"trial": {"name": "x"}}, 400, "trial.name cannot be chosen"),
        ({"trial": {"parameters": {"lr": 0.1}}}, 400, "both searched and fixed"),
        ({"trial": {"kind": "caffe"}}, 400, "Invalid trial template: kind"),
        ({"trial": {"env": {"RANK": "1"}}}, 400, "RANK is set by Mofang"),
        ({"notebook": "untagged.ipynb"}, 400, "no code cell tagged 'parameters'"),
        ({"notebook": "missing.ipynb"}, 404, "There is no notebook 'missing.ipynb'"),
    ]
    for change, status, expected in cases:
        body = {**sweep_body("digits.ipynb"), **change}
        code, message = await error_of(jp_fetch, "sweeps", method="POST", body=body)
        assert (code, expected in message) == (status, True), (change, message)
    assert (await api(jp_fetch, "sweeps"))["sweeps"] == []
    assert (await api(jp_fetch, "jobs"))["jobs"] == []


async def test_a_dry_run_describes_a_trial_and_starts_nothing(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    digits_notebook(jp_root_dir / "digits.ipynb")
    result = await api(
        jp_fetch, "sweeps", method="POST", body={**sweep_body("digits.ipynb"), "dry_run": True}
    )
    assert result["trial"]["parameters"] == {"pause": 0.1, "lr": 1e-7}
    assert "lr = 1e-07" in result["program"]
    assert (await api(jp_fetch, "sweeps"))["sweeps"] == []


async def test_a_dry_run_of_a_notebook_alone_says_what_it_offers_to_search(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    """The sweep dialog starts from it: the parameters cell, the metrics, the algorithms."""
    digits_notebook(jp_root_dir / "digits.ipynb")
    offer = await api(
        jp_fetch, "sweeps", method="POST", body={"notebook": "digits.ipynb", "dry_run": True}
    )
    assert offer["notebook"] == "digits.ipynb"
    assert offer["metrics"] == ["accuracy", "train_accuracy"]
    assert {"tpe", "random", "grid", "hyperband"} <= set(offer["algorithms"])
    found = {p["name"]: p for p in offer["parameters"]}
    assert list(found) == ["lr", "alpha", "epochs", "pause", "loss"]
    assert found["lr"] == {
        "name": "lr",
        "value": 0.01,
        "search": {
            "type": "double",
            "name": "lr",
            "min": 0.001,
            "max": 0.1,
            "distribution": "logUniform",
        },
    }
    assert found["epochs"]["search"] == {"type": "int", "name": "epochs", "min": 4, "max": 16}
    assert found["pause"]["search"]["distribution"] == "uniform"  # 0.0: no log scale
    assert found["loss"]["search"] == {"type": "categorical", "name": "loss", "values": ["hinge"]}
    # Each suggestion is a parameter a sweep accepts as it is.
    body = sweep_body("digits.ipynb")
    body["settings"]["parameters"] = [p["search"] for p in offer["parameters"]]
    body["trial"]["parameters"] = {}
    checked = await api(jp_fetch, "sweeps", method="POST", body={**body, "dry_run": True})
    assert [p["name"] for p in checked["settings"]["parameters"]] == list(found)
    assert (await api(jp_fetch, "sweeps"))["sweeps"] == []

    write_notebook(jp_root_dir / "plain.ipynb", ["print('no parameters')"])
    for request, expected in [
        ({"notebook": "plain.ipynb", "dry_run": True}, "no code cell tagged 'parameters'"),
        ({"notebook": "", "dry_run": True}, "To see what a notebook offers"),
        ({"notebook": "digits.ipynb", "dry_run": True, "name": "x"}, 'add its "settings"'),
    ]:
        code, message = await error_of(jp_fetch, "sweeps", method="POST", body=request)
        assert code == 400 and expected in message, message


class TestPrivacy:
    @pytest.fixture
    def jp_server_config(self) -> dict[str, Any]:
        config = server_config()
        config["ServerApp"]["identity_provider_class"] = TokenUsers
        return config

    async def test_another_users_sweep_is_invisible(
        self, jp_fetch: Fetch, jp_root_dir: Path
    ) -> None:
        digits_notebook(jp_root_dir / "digits.ipynb")
        body = sweep_body("digits.ipynb", max_trials=2, pause=30)
        sweep = await api(jp_fetch, "sweeps", method="POST", body=body, headers=ALICE)
        assert sweep["owner"] == "alice"
        assert (await api(jp_fetch, "sweeps", headers=BOB))["sweeps"] == []
        for parts, method, payload in [
            (("sweeps", sweep["id"]), "GET", None),
            (("sweeps", sweep["id"], "cancel"), "POST", None),
            (("sweeps", sweep["id"], "apply-best"), "POST", {"notebook": "digits.ipynb"}),
        ]:
            code, _ = await error_of(jp_fetch, *parts, method=method, body=payload, headers=BOB)
            assert code == 404, parts
        mine = await api(jp_fetch, "sweeps", sweep["id"], "cancel", method="POST", headers=ALICE)
        assert mine["state"] == "Cancelled"


async def test_a_grid_sweep_tries_each_point_once_and_minimize_keeps_the_lowest(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    digits_notebook(jp_root_dir / "digits.ipynb")
    body = sweep_body("digits.ipynb", max_trials=5, pause=0.0)
    body["settings"]["parameters"] = [{"type": "discrete", "name": "lr", "values": [0.05, 1e-7]}]
    body["settings"]["algorithm"] = {"name": "grid"}
    body["settings"]["objective"] = {"type": "minimize", "metric": "accuracy"}
    body["trial"]["parameters"]["epochs"] = 2
    created = await api(jp_fetch, "sweeps", method="POST", body=body)
    sweep = await wait_sweep(jp_fetch, created["id"])
    assert (sweep["state"], sweep["reason"]) == ("Succeeded", "MaxTrialsReached"), sweep
    # Two grid points: two trials, however many max_trials allows.
    assert sorted(t["parameters"]["lr"] for t in sweep["trials"]) == [1e-7, 0.05]
    for trial in sweep["trials"]:
        assert trial["objective"] == min(trial["reports"]["accuracy"])
    assert sweep["best"]["parameters"] == {"lr": 1e-7}  # the one that learns least
