"""Hostile values: job names, parameters, variables and sweep values with shell syntax,
newlines, very long strings and Unicode reach a job as data, never as code or commands.

A replica is started with an argv list (no shell) whose items are the
interpreter and the program's path only; parameters become Python literals in
the injected cell; variables go into the process environment as they are.
Hand-picked values run end to end in real jobs (the job prints what it got,
and a marker file shows whether anything was executed); hypothesis then checks
the builders (argv, injected cell, job id) on generated values.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mofang_lab.backends.local.contract import launches
from mofang_lab.jobs.ids import JOB_ID_PATTERN, new_job_id
from mofang_lab.jobs.parameters import injected_source
from mofang_lab.jobs.request import SubmitRequest, build_spec, parse_model
from mofang_spawner.errors import InvalidRequestError
from tests.jobs.conftest import Fetch, api, log_of, wait_finished
from tests.jobs.notebooks import write_notebook
from tests.security.conftest import refusal, tally
from tests.security.notebooks import sweep_request
from tests.security.users import auth
from tests.sweeps.conftest import wait_sweep

ALICE = auth("alice")


def nasty(marker: Path) -> list[str]:
    """Strings that would run ``touch MARKER`` if anything put them in a shell or in code."""
    m = str(marker)
    return [
        f"$(touch {m})",
        f"`touch {m}`",
        f"'; touch {m}; echo '",
        f'"; touch {m}; echo "',
        f"x && touch {m}",
        f"x | touch {m}",
        f"x\ntouch {m}\n",
        f"\\'; __import__('os').system('touch {m}') #",
        f"''' + __import__('os').system('touch {m}') + '''",
        '{__import__("os").system("touch ' + m + '")}',
        "Ωμέγα 数据 🚀 \u202e\u200b",
        "\r\n\t\x0b\x0c",
        "a" * 100_000,
    ]


PRINTER = """\
import json, os
print("PARAMS=" + json.dumps({k: globals()[k] for k in sorted(PARAMETER_NAMES)}), flush=True)
print("ENV=" + json.dumps({k: os.environ.get(k) for k in sorted(ENV_NAMES)}), flush=True)
"""


async def test_hostile_values_reach_the_job_as_data(
    jp_fetch: Fetch, jp_root_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "executed"
    values = nasty(marker)
    parameters = {f"p{i}": value for i, value in enumerate(values)}
    parameters["nested"] = {"list": values[:4], "key with $(x)": values[5]}
    env = {f"E{i}": value for i, value in enumerate(values) if "\x00" not in value}
    names = sorted(parameters)
    write_notebook(
        jp_root_dir / "echo.ipynb",
        [
            (f"PARAMETER_NAMES = {names!r}\nENV_NAMES = {sorted(env)!r}", ["parameters"]),
            PRINTER,
        ],
    )
    body = {
        "notebook": "echo.ipynb",
        "name": "$(touch x) `id` ; rm -rf ~ Ωμέγα 数据 🚀",
        "parameters": parameters,
        "env": env,
        "idempotency_key": values[2],
    }
    dry = await api(jp_fetch, "jobs", method="POST", body={**body, "dry_run": True}, headers=ALICE)
    (process,) = dry["objects"]
    assert process["command"][1:] == [process["cwd"] + "/program.py"]  # no user text in argv
    for name, value in env.items():
        assert process["env"][name] == value
    job = await api(jp_fetch, "jobs", method="POST", body=body, headers=ALICE)
    assert JOB_ID_PATTERN.match(job["id"]) and job["name"] == body["name"]
    assert (jp_root_dir / job["folder"]).parent == jp_root_dir / "jobs"
    finished = await wait_finished(jp_fetch, job["id"], headers=ALICE)
    assert finished["state"] == "Succeeded", finished
    log = log_of(jp_root_dir, finished, "worker-0")
    printed = dict(line.split("=", 1) for line in log.splitlines() if line[:4] in ("PARA", "ENV="))
    assert json.loads(printed["PARAMS"]) == parameters
    assert json.loads(printed["ENV"]) == env
    assert not marker.exists()
    tally("hostile input", len(values) * 3 + 2)


async def test_hostile_sweep_values_reach_trials_as_data(
    jp_fetch: Fetch, jp_root_dir: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "executed"
    values = [v for v in nasty(marker) if len(v) < 1000]
    write_notebook(
        jp_root_dir / "tune.ipynb",
        [
            ("choice = 'a'\nlr = 0.1", ["parameters"]),
            "print(f'accuracy={lr}')\nprint('CHOICE=' + repr(choice))",
        ],
    )
    body = sweep_request(
        "tune.ipynb", max_trials=len(values), parallel_trials=4, algorithm={"name": "grid"}
    )
    body["settings"]["parameters"] = [{"type": "categorical", "name": "choice", "values": values}]
    body["trial"]["parameters"] = {}
    body["name"] = values[1][:80]
    created = await api(jp_fetch, "sweeps", method="POST", body=body, headers=ALICE)
    sweep = await wait_sweep(jp_fetch, created["id"], headers=ALICE)
    assert sweep["state"] == "Succeeded", sweep
    seen = set()
    for trial in sweep["trials"]:
        job = await api(jp_fetch, "jobs", trial["job_id"], headers=ALICE)
        log = log_of(jp_root_dir, job, "worker-0")
        # repr() escapes every line break, so the value is on one line.
        line = next(line for line in log.splitlines() if line.startswith("CHOICE="))
        seen.add(ast.literal_eval(line.removeprefix("CHOICE=")))
    assert seen == set(values), (seen, values)
    assert not marker.exists()
    tally("hostile input", len(values))


async def test_hostile_names_and_keys_out_of_bounds_are_refused(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "n.ipynb", ["print(1)"])
    cases = [
        ({"name": "x" * 101}, "name: String should have at most 100 characters"),
        ({"name": "two\nlines"}, "the job name must be printable text"),
        ({"name": "\x1b[31mred"}, "the job name must be printable text"),
        ({"name": "   "}, "the job name must be printable text"),
        ({"idempotency_key": "k" * 201}, "idempotency_key: String should have at most 200"),
        ({"env": {"A B": "1"}}, "is not a valid environment variable name"),
        ({"env": {"A=B": "1"}}, "is not a valid environment variable name"),
        ({"env": {"LD_PRELOAD\n": "x"}}, "is not a valid environment variable name"),
        ({"env": {"A": "nul\x00byte"}}, "contains a NUL character"),
        ({"parameters": {"__import__('os')": 1}}, "is not a valid Python variable name"),
        ({"parameters": {"x; import os": 1}}, "is not a valid Python variable name"),
        ({"parameters": {"class": 1}}, "is not a valid Python variable name"),
        ({"parameters": {"lr": float("nan")}}, "holds NaN or Infinity"),
        ({"parameters": {"lr": [1, {"x": float("inf")}]}}, "holds NaN or Infinity"),
        ({"roles": {"Worker; rm -rf /": {"replicas": 1}}}, "unknown role"),
        ({"kind": "bash"}, "kind: Input should be"),
    ]
    for fields, words in cases:
        code, answer = await refusal(
            jp_fetch, "jobs", method="POST", body={"notebook": "n.ipynb", **fields}, headers=ALICE
        )
        assert code == 400 and words in answer["message"], (fields, answer)
        tally("hostile input")
    assert (await api(jp_fetch, "jobs", headers=ALICE))["jobs"] == []


JSON_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60) | st.sampled_from(
    ["$(id)", "`id`", "';id;'", "\n", "\\", "'''", '"""', "{x}", "%s"]
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_TEXT, inner, max_size=4),
    max_leaves=12,
)
NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True).filter(
    lambda n: not __import__("keyword").iskeyword(n)
)


@settings(max_examples=300, deadline=None)
@given(parameters=st.dictionaries(NAMES, JSON_VALUES, max_size=5))
def test_the_injected_cell_assigns_exactly_the_values_and_nothing_else(
    parameters: dict[str, Any],
) -> None:
    tally("hostile input")
    source = injected_source(parameters)
    tree = ast.parse(source)
    for statement in tree.body:  # assignments of literals only: no call, no name read
        assert isinstance(statement, ast.Assign), ast.dump(statement)
        assert not any(
            isinstance(node, ast.Call | ast.Attribute | ast.Name)
            and not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store))
            for node in ast.walk(statement)
        ), source
    namespace: dict[str, Any] = {}
    exec(compile(tree, "<injected>", "exec"), {"__builtins__": {}}, namespace)  # noqa: S102 - literals only, checked above
    assert namespace == parameters


@settings(max_examples=200, deadline=None)
@given(
    name=JSON_TEXT.filter(str.strip),
    env=st.dictionaries(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True), JSON_TEXT, max_size=3
    ),
    kind=st.sampled_from(["python", "pytorch", "tensorflow"]),
)
def test_no_user_text_reaches_a_replicas_argv(name: str, env: dict[str, str], kind: str) -> None:
    tally("hostile input")
    try:
        request = parse_model(
            SubmitRequest,
            {"notebook": "n.ipynb", "name": name, "env": env, "kind": kind},
            what="job request",
        )
        spec = build_spec(request, notebook="n.ipynb", plan=None, backend="local")
    except InvalidRequestError:
        return  # refused: a reserved variable, a control character, ...
    job_id = new_job_id(spec.name)
    assert JOB_ID_PATTERN.match(job_id)
    job_dir = Path("/work/jobs") / job_id
    for launch in launches(
        spec,
        job_id=job_id,
        job_dir=job_dir,
        notebook_dir=Path("/work"),
        python="/usr/bin/python3",
        mpirun=["mpirun"],
        ports=list(range(29500, 29500 + spec.total_replicas)),
    ):
        assert launch.argv[0] == "/usr/bin/python3"
        assert set(launch.argv[1:]) <= {str(job_dir / "program.py"), "-m", "torch.distributed.run"}
        for variable, value in env.items():
            assert launch.env[variable] == value
