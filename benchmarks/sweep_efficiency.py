"""Sweep efficiency: the cost of reaching a target with Mofang's default search, against random.

The same fixed problem is searched two ways, over many seeds, with the
product's own search code (the Optuna sampler and pruner that
:func:`mofang_lab.sweeps.algorithms.create_search` builds for an algorithm
name, and Katib's ``medianstop`` rule of :mod:`mofang_lab.sweeps.early_stopping`):

* **Mofang**: the default algorithm (``tpe``) with early stopping (``medianstop``
  with its default settings);
* **baseline**: ``random`` without early stopping, the most common choice in
  Katib experiments.

Both get the same budget (``max_trials``, ``parallel_trials``, epochs per trial)
and the same goal: the sweep ends as the product ends it, when a trial has
succeeded with an objective at or above the target (``GoalReached``). The
figure is the trial-seconds spent until then: every epoch that any trial ran,
times a fixed cost per epoch. The median over seeds of Mofang / random is the
ratio (target: at most 0.5).

The problem is a deterministic model of training curves (:func:`accuracy_curve`),
not a real training: a trial's validation accuracy rises each epoch toward a
final value set by its hyperparameters (learning rate, momentum, weight
decay, depth), converging more slowly far from the best learning rate and
diverging to chance above it. Time is simulated in epochs, so a run of the
benchmark is exact and repeatable, takes seconds, and measures the search,
not the machine. The trials run as the sweep runner runs them (see
:mod:`mofang_lab.sweeps.runner`): up to ``parallel_trials`` at once, a new one
asked of the study when one ends, every report given to the study
(``trial.report``) and checked against ``medianstop`` and the algorithm's own
pruner, stopped trials told ``PRUNED``, finished ones told their best report.
The CPU time the search itself takes per trial is measured too.

    python -m benchmarks.sweep_efficiency               # 50 seeds, 100 trials each
    python -m benchmarks.sweep_efficiency --others      # also the other algorithms
    python -m benchmarks.sweep_efficiency --quick       # checks it runs, not how well
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from benchmarks.stats import summary
from mofang_lab.sweeps.algorithms import create_search, suggest
from mofang_lab.sweeps.early_stopping import median_threshold, should_stop
from mofang_lab.sweeps.spec import SweepSettings

#: Seconds one epoch of one trial costs (a small CNN epoch on one GPU): trial-seconds
#: are epochs times this, so the ratio does not depend on it.
EPOCH_SECONDS = 30.0
CHANCE = 0.1  # ten classes
PARAMETERS: list[dict[str, Any]] = [
    {"name": "lr", "type": "double", "min": 1e-5, "max": 1.0, "distribution": "logUniform"},
    {"name": "momentum", "type": "double", "min": 0.0, "max": 0.99},
    {
        "name": "weight_decay",
        "type": "double",
        "min": 1e-6,
        "max": 1e-1,
        "distribution": "logUniform",
    },
    {"name": "layers", "type": "int", "min": 1, "max": 8},
]


def final_accuracy(p: dict[str, Any]) -> float:
    """Where a trial's accuracy converges: at best 0.95, near lr/(1-momentum) = 0.03."""
    effective = p["lr"] / (1 - p["momentum"])
    if effective > 1.0:
        return CHANCE  # diverges
    offset = math.log10(effective) - math.log10(0.03)
    value = (
        0.95
        - 0.05 * offset**2
        - 0.008 * (math.log10(p["weight_decay"]) + 4) ** 2
        - 0.006 * (p["layers"] - 4) ** 2
    )
    return max(CHANCE, value)


def accuracy_curve(p: dict[str, Any], epochs: int, noise: random.Random) -> list[float]:
    """The validation accuracy after each epoch: rising toward :func:`final_accuracy`."""
    final = final_accuracy(p)
    effective = p["lr"] / (1 - p["momentum"])
    # A small learning rate converges slowly; the best one in about 3 epochs.
    tau = 3.0 * 10 ** max(0.0, math.log10(0.03) - math.log10(max(effective, 1e-9))) ** 0.7
    return [
        min(
            1.0,
            max(0.0, CHANCE + (final - CHANCE) * (1 - math.exp(-e / tau)) + noise.gauss(0, 0.004)),
        )
        for e in range(1, epochs + 1)
    ]


def settings(algorithm: str, *, early_stopping: bool, seed: int, budget: Budget) -> SweepSettings:
    return SweepSettings.model_validate(
        {
            "parameters": PARAMETERS,
            "objective": {"type": "maximize", "metric": "accuracy", "goal": budget.target},
            "algorithm": {"name": algorithm},
            "parallel_trials": budget.parallel,
            "max_trials": budget.trials,
            "early_stopping": {} if early_stopping else None,
            "seed": seed,
        }
    )


@dataclass(frozen=True)
class Budget:
    target: float = 0.94
    trials: int = 100
    parallel: int = 3
    epochs: int = 20


@dataclass
class Running:
    number: int
    live: optuna.trial.Trial
    curve: list[float]
    reports: list[float] = field(default_factory=list)


@dataclass
class Outcome:
    epochs: int  # trial-epochs run until the goal was reached (or the budget spent)
    hours: float  # simulated wall time, with parallel_trials at once
    reached: bool
    trials: int
    stopped: int
    best: float
    search_ms: float  # CPU milliseconds of the search (ask, tell, report) per trial


def run_sweep(sweep: SweepSettings, budget: Budget, seed: int) -> Outcome:
    """One sweep on the simulated problem, driven as the sweep runner drives it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler, pruner = create_search(sweep)
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    rule, objective = sweep.early_stopping, sweep.objective
    noise = random.Random(seed)  # noqa: S311 - a repeatable simulation, not a secret
    running: list[Running] = []
    succeeded: list[list[float]] = []
    created = stopped = epochs = ticks = 0
    best = 0.0
    search = 0.0
    while True:
        while len(running) < sweep.parallel_trials and created < sweep.max_trials:
            start = time.process_time()
            live = study.ask()
            values = suggest(live, sweep.parameters)
            search += time.process_time() - start
            running.append(Running(created, live, accuracy_curve(values, budget.epochs, noise)))
            created += 1
        if not running:
            break  # budget spent without reaching the goal
        ticks += 1
        reached = False
        for trial in list(running):
            value = trial.curve[len(trial.reports)]
            trial.reports.append(value)
            epochs += 1
            start = time.process_time()
            trial.live.report(value, len(trial.reports))
            stop = False
            if rule is not None:
                threshold = median_threshold(succeeded, rule)
                stop = should_stop(trial.reports, threshold, rule, objective)
            if not stop:
                stop = trial.live.should_prune()
            if stop:
                study.tell(trial.live, state=optuna.trial.TrialState.PRUNED)
                running.remove(trial)
                stopped += 1
            elif len(trial.reports) == budget.epochs:
                result = max(trial.reports)
                study.tell(trial.live, result)
                running.remove(trial)
                succeeded.append(trial.reports)
                best = max(best, result)
                reached = reached or result >= budget.target
            search += time.process_time() - start
        if reached:
            return Outcome(
                epochs,
                ticks * EPOCH_SECONDS / 3600,
                True,
                created,
                stopped,
                best,
                search * 1000 / created,
            )
    return Outcome(
        epochs, ticks * EPOCH_SECONDS / 3600, False, created, stopped, best, search * 1000 / created
    )


#: (label, algorithm, early stopping); the first is Mofang's default, the second the baseline.
DEFAULT = ("tpe + medianstop (Mofang's default)", "tpe", True)
BASELINE = ("random, no early stopping (baseline)", "random", False)
OTHERS = [
    ("random + medianstop", "random", True),
    ("tpe, no early stopping", "tpe", False),
    ("multivariate-tpe + medianstop", "multivariate-tpe", True),
    ("cmaes + medianstop", "cmaes", True),
    ("hyperband", "hyperband", False),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--trials", type=int, default=Budget.trials, help="max_trials")
    parser.add_argument("--target", type=float, default=Budget.target)
    parser.add_argument("--others", action="store_true", help="also other algorithms")
    parser.add_argument("--quick", action="store_true", help="3 seeds, 30 trials")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    seeds, trials = (3, 30) if args.quick else (args.seeds, args.trials)
    budget = Budget(target=args.target, trials=trials)
    variants = [DEFAULT, BASELINE, *(OTHERS if args.others else [])]

    outcomes: dict[str, list[Outcome]] = {label: [] for label, _, _ in variants}
    for seed in range(seeds):
        for label, algorithm, early in variants:  # alternating, seed by seed
            sweep = settings(algorithm, early_stopping=early, seed=seed, budget=budget)
            outcomes[label].append(run_sweep(sweep, budget, seed))

    def seconds(label: str) -> list[float]:
        return [o.epochs * EPOCH_SECONDS for o in outcomes[label]]

    results: dict[str, Any] = {}
    for label, algorithm, early in variants:
        runs = outcomes[label]
        results[label] = {
            "algorithm": algorithm,
            "early_stopping": early,
            "trial_seconds": summary(seconds(label)),
            "reached": sum(o.reached for o in runs),
            "trials": summary([float(o.trials) for o in runs]),
            "stopped_early": sum(o.stopped for o in runs),
            "wall_hours": summary([o.hours for o in runs]),
            "best": summary([o.best for o in runs]),
            "search_ms_per_trial": summary([o.search_ms for o in runs]),
        }
    default, baseline = DEFAULT[0], BASELINE[0]
    per_seed = [a / b for a, b in zip(seconds(default), seconds(baseline), strict=True)]
    ratio = statistics.median(per_seed)
    ratio_of_medians = (
        results[default]["trial_seconds"]["median"] / results[baseline]["trial_seconds"]["median"]
    )

    print(
        f"sweep efficiency: {seeds} seeds; target accuracy >= {budget.target}; budget "
        f"{budget.trials} trials, {budget.parallel} at once, {budget.epochs} epochs of "
        f"{EPOCH_SECONDS:g} s each"
    )
    for label, r in results.items():
        t = r["trial_seconds"]
        print(
            f"  {label:38s} trial-hours to the target: median {t['median'] / 3600:.1f} "
            f"(min {t['min'] / 3600:.1f}, max {t['max'] / 3600:.1f}); reached {r['reached']}/"
            f"{seeds}; trials median {r['trials']['median']:g}; stopped early "
            f"{r['stopped_early']}; search {r['search_ms_per_trial']['median']:.1f} ms/trial"
        )
    print(f"  ratio Mofang / random (median of {seeds} seeds): {ratio:.3f}")
    print(f"  ratio of the medians: {ratio_of_medians:.3f}")
    print(f"  target <= 0.5: {'met' if ratio <= 0.5 else 'NOT met'}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "sweep_efficiency": results,
                    "budget": vars(budget) | {"epoch_seconds": EPOCH_SECONDS, "seeds": seeds},
                    "per_seed_ratio": per_seed,
                    "ratio": ratio,
                    "ratio_of_medians": ratio_of_medians,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
