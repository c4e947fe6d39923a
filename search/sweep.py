"""A Pareto sweep: one shared float warm-up, then one run per (method, strength | budget | bits | knob) point.

Folder: <out_dir>/<sweep name>/{sweep.json, warmup/, 00-..., 01-..., ...}. Re-running with
--resume skips finished points and continues unfinished ones from their checkpoints.
`vary` sweeps any method knob instead of the strength (`method_options.t_margin=0.02,0.05`),
so methods without a strength (importance, twonn, admm, ...) trace a front too.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from search.config import ConfigError, SearchConfig, parse_quantity
from search.errors import blame, did_you_mean
from search.methods import method_names, method_spec
from search.path import path_points
from search.ray_sweep import RayExecutor
from search.run import RESUME_OVERRIDABLE, RunInterrupted, load_data, run
from search.run_files import read_json_object, read_metrics
from search.rundir import RunFileError, atomic_write_json, new_run_dir, remove_stale_temporaries
from search.sweep_checks import check_sweep
from search.sweep_points import point_folders, point_label  # noqa: F401 - point_label: re-exported
from search.validate import check_name, safe_name
from search.warm_start import shared_warmup

log = logging.getLogger("bitgate")
OPTION_PREFIX = "method_options."
# SearchConfig fields a sweep may vary (numbers that change the result, not where it is written)
VARIABLE_FIELDS = (
    "strength",
    "budget",
    "lr",
    "arch_lr",
    "weight_decay",
    "tau0",
    "tau_decay",
    "warmup_epochs",
    "search_epochs",
    "finetune_epochs",
    "batch_size",
)


@dataclass(frozen=True)
class SweepConfig:
    methods: tuple[str, ...] = ("joint",)
    strengths: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)
    budgets: tuple[float, ...] = ()  # when given, budget points replace strength points
    uniform_bits: tuple[int, ...] = (8, 4, 2)  # the points of a method swept by bit-width (MethodSpec.points_from)
    name: str | None = None
    vary: str | None = None  # "method_options.<knob>" or a numeric setting; its values replace the strengths
    values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.name is not None:
            check_name(self.name, "sweep.name")
        if self.vary is not None:
            knob = self.vary[len(OPTION_PREFIX) :] if self.vary.startswith(OPTION_PREFIX) else None
            if knob is not None and not knob:
                raise ConfigError("sweep.vary: name the option, e.g. method_options.t_margin=0.02,0.05")
            if knob is None and self.vary not in VARIABLE_FIELDS:
                raise ConfigError(
                    f"sweep.vary: cannot vary {self.vary!r}{did_you_mean(self.vary, VARIABLE_FIELDS)}; "
                    "use method_options.<knob> or one of "
                    f"{', '.join(VARIABLE_FIELDS)}"
                )
            if not self.values or not all(math.isfinite(v) for v in self.values):
                raise ConfigError(f"sweep.vary {self.vary}: give finite values, e.g. {self.vary}=0.02,0.05,0.1")
        known = method_names()
        for m in self.methods:
            if m not in known:
                raise ConfigError(f"sweep.methods: unknown method {m!r}; known: {', '.join(known)}")
        if not self.methods:
            raise ConfigError("sweep.methods must name at least one method")
        if any(s < 0 for s in self.strengths) or any(b <= 0 for b in self.budgets):
            raise ConfigError("sweep.strengths must be >= 0 and sweep.budgets > 0")
        if not all(math.isfinite(v) for v in (*self.strengths, *self.budgets)):
            raise ConfigError("sweep.strengths and sweep.budgets must be finite numbers")
        for m in self.methods:
            if method_spec(m).needs_path_search and not self.budgets:
                raise ConfigError(f"sweep method {m} traces budgets: give them, e.g. --budgets 30kB,15kB,6kB")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepConfig:
        known = {"methods", "strengths", "budgets", "uniform_bits", "name", "vary", "values"}
        unknown = sorted(set(data) - known)
        if unknown:
            hint = did_you_mean(unknown[0], known)
            raise ConfigError(f"unknown sweep key {unknown[0]!r}" + (hint or f"; known: {', '.join(sorted(known))}"))

        def seq(key: str, conv) -> tuple:
            v = data.get(key)
            if v is None:
                return getattr(cls, key)
            items = v if isinstance(v, (list, tuple)) else [s for s in str(v).split(",") if s.strip()]
            try:
                return tuple(conv(x) for x in items)
            except (TypeError, ValueError, ConfigError):
                raise ConfigError(f"sweep.{key}: cannot read {v!r}") from None

        vary, values = _vary(data.get("vary"), data.get("values"))
        return cls(
            seq("methods", lambda s: str(s).strip()),
            seq("strengths", float),
            seq("budgets", parse_quantity),
            seq("uniform_bits", int),
            data.get("name"),
            vary,
            values,
        )

    def knob_name(self) -> str:
        """The varied setting as the table and folder names show it ('t_margin'), or '-'."""
        if self.vary is None:
            return "-"
        return self.vary[len(OPTION_PREFIX) :] if self.vary.startswith(OPTION_PREFIX) else self.vary

    def points(self, base: SearchConfig) -> list[SearchConfig]:
        return [p for p, _ in self.labelled_points(base)]

    def labelled_points(self, base: SearchConfig) -> list[tuple[SearchConfig, dict[str, float]]]:
        """Every point with what varies at it ({'strength': 0.1}, {'budget': 4000.0}, {'t_margin': 0.05}, ...)."""
        out: list[tuple[SearchConfig, dict[str, float]]] = []
        for method in self.methods:
            setting = method_spec(method).points_from  # uniform: one point per uniform_bits, no budget
            if setting is not None:
                out += [
                    (
                        replace(base, method=method, budget=None, ram_budget=None, fit_target=False, **{setting: v}),
                        {setting: v},
                    )
                    for v in getattr(self, setting)
                ]  # a baseline: no limit applies
            elif self.vary is not None:
                out += [(self.apply(replace(base, method=method), v), {self.knob_name(): v}) for v in self.values]
            elif self.budgets:
                out += [(replace(base, method=method, budget=b), {"budget": b}) for b in self.budgets]
            else:
                out += [
                    (replace(base, method=method, strength=s, budget=None), {"strength": s}) for s in self.strengths
                ]
        return out

    def apply(self, cfg: SearchConfig, value: float) -> SearchConfig:
        """`cfg` with the varied setting at `value`."""
        if self.vary.startswith(OPTION_PREFIX):
            options = dict(cfg.method_options)
            options[self.knob_name()] = float(value)
            return replace(cfg, method_options=tuple(sorted(options.items())))
        coerced = getattr(SearchConfig.from_dict({self.vary: value}), self.vary)
        return replace(cfg, **{self.vary: coerced})


def _vary(vary: Any, values: Any) -> tuple[str | None, tuple[float, ...]]:
    """'method_options.t_margin=0.02,0.05' or a table {method_options = {t_margin = [...]}} -> (key, values)."""
    if vary is None:
        return None, ()
    if isinstance(vary, dict):  # TOML: vary = { "method_options.t_margin" = [...] } or [sweep.vary.method_options]
        flat = _flatten(vary)
        if len(flat) != 1:
            raise ConfigError(f"sweep.vary varies one setting; got {', '.join(flat) or 'none'}")
        ((key, values),) = flat.items()
    else:
        key, sep, rest = str(vary).partition("=")
        if sep:
            values = rest
    items = values if isinstance(values, (list, tuple)) else [v for v in str(values or "").strip("[]").split(",")]
    try:
        return key.strip(), tuple(parse_quantity(v) for v in items if str(v).strip())
    except ConfigError:
        raise ConfigError(f"sweep.vary {key}: cannot read the values {values!r} as numbers") from None


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in table.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def load_sweep(folder: Path, overrides: dict[str, Any]) -> tuple[SearchConfig, dict[str, Any]]:
    """A sweep folder's base config (with the resume overrides: lr, ...) and its [sweep] table."""
    path = Path(folder) / "sweep.json"
    if not path.is_file():
        raise ConfigError(f"{folder} is not a sweep folder (no sweep.json)")
    saved = read_json_object(path, "sweep.json")
    base, table = saved.get("base"), saved.get("sweep")
    if not isinstance(base, dict) or not isinstance(table, dict):
        raise RunFileError(f'{path} is not a valid sweep.json ("base" and "sweep" must be tables of settings)')
    table = {k: v for k, v in table.items() if v is not None}  # asdict(SweepConfig): None is the default
    refused = sorted(k for k in overrides if k not in RESUME_OVERRIDABLE)
    if refused:
        raise ConfigError(
            f"--resume continues the sweep as it was configured; {refused[0]} cannot change "
            f"(only {', '.join(RESUME_OVERRIDABLE)} can)"
        )
    try:
        saved = SearchConfig.from_saved(base).to_dict()  # an older layout migrated (search/config_schema.py)
        SweepConfig.from_dict(table)
    except ConfigError as exc:
        raise RunFileError(f"{path}: {exc}") from None
    return SearchConfig.from_dict({**saved, **overrides}), table


def sweep(
    base: SearchConfig,
    spec: SweepConfig,
    resume: Path | None = None,
    warm_state: Path | None = None,
    executor: RayExecutor | None = None,
) -> tuple[Path, list[dict[str, Any]]]:
    """Run every point of the sweep; returns the sweep folder and the points' metrics.

    warm_state: a finished warm-up checkpoint to share (e.g. another target's sweep of the same model).
    executor: run the warm-up and the points as Ray tasks (search.ray_sweep); None: one after the other here.
    """
    points = spec.labelled_points(base)
    for method in map(method_spec, spec.methods):
        if executor is not None and method.needs_path_search:
            raise ConfigError(f"{method.name} runs its one search in this process: sweep it without --executor")
        many = spec.vary is None and not spec.budgets and len(spec.strengths) > 1
        if many and not method.reads_strength and method.knob is not None:
            log.warning(
                "%s does not use strength: its %d points will be the same; vary its knob instead, e.g. "
                "--vary method_options.%s=...",
                method.name,
                len(spec.strengths),
                method.knob,
            )
    data = load_data(base)  # every point splits the same data the same way: decode it once
    check_sweep(base, points, data, resume, remote=executor is not None)  # before anything is written
    if executor is not None:
        executor.connect()  # an unreachable cluster or resources no node has: one line, and no folder written
    if resume is not None:
        folder = Path(resume)
        if not (folder / "sweep.json").exists():
            raise ConfigError(f"{folder} is not a sweep folder (no sweep.json)")
        remove_stale_temporaries(folder)
        saved = {"base": base.to_dict(), "sweep": asdict(spec)}
        if read_json_object(folder / "sweep.json", "sweep.json") != json.loads(json.dumps(saved)):
            atomic_write_json(folder / "sweep.json", saved)  # e.g. a new lr; a finished sweep stays untouched
    else:
        name = spec.name or base.name or safe_name(f"sweep-{base.model}-{base.target}-seed{base.seed}")
        folder = new_run_dir(Path(base.out_dir), name)
        atomic_write_json(folder / "sweep.json", {"base": base.to_dict(), "sweep": asdict(spec)})
    command = f"bitgate sweep --resume {folder}"
    log.info("sweep folder: %s (%d points)", folder, len(points))
    named = point_folders(points, folder)
    try:
        with blame(folder):  # an unexpected failure's traceback goes to SWEEP/error.log
            if executor is not None:
                done = _sweep_on(executor, base, [(p, d) for p, d, _ in named], folder, warm_state)
                return folder, [{**m, "varied": varied} for m, (_, _, varied) in zip(done, named, strict=True)]
            if warm_state is None:
                (folder / "warmup").mkdir(exist_ok=True)
                warm_state = shared_warmup(base, folder / "warmup", data, command, reset_lr=resume is not None)
            # one path search for every joint-path point (search/path.py), then those points only fine-tune
            patched = path_points([p for p, _, _ in named], base, folder, warm_state, data)
            named = [(q, d, v) for q, (_, d, v) in zip(patched, named, strict=True)]
            results = []
            for i, (point, run_dir, varied) in enumerate(named):
                log.info("point %d/%d: %s", i + 1, len(points), point_label(point, varied))
                if (run_dir / "metrics.json").exists():
                    metrics = read_metrics(run_dir / "metrics.json")
                else:
                    metrics = run(
                        point,
                        resume=run_dir if run_dir.exists() else None,
                        warm_state=warm_state,
                        data=data,
                        resume_command=command,
                    )
                results.append({**metrics, "varied": varied})
    except RunInterrupted:
        raise RunInterrupted(command) from None
    except KeyboardInterrupt:
        raise RunInterrupted(command) from None
    return folder, results


def _sweep_on(
    executor: RayExecutor,
    base: SearchConfig,
    named: list[tuple[SearchConfig, Path]],
    folder: Path,
    warm_state: Path | None,
) -> list[dict[str, Any]]:
    """The same sweep with the warm-up and every unfinished point as an executor's task."""
    if warm_state is None:
        warm_state = folder / "warmup" / "checkpoints" / "warmup.pt"
        if not (folder / "warmup" / "metrics.json").exists():
            warm_state = executor.warmup(base, folder / "warmup")
    todo = [(p, d) for p, d in named if not (d / "metrics.json").exists()]
    fresh = iter(executor.run_points(todo, warm_state) if todo else [])
    return [read_metrics(d / "metrics.json") if (p, d) not in todo else next(fresh) for p, d in named]
