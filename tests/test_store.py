import json
import os

import pytest

from rlhf_nb.store import DONE_MARKER, RunStore, make_run_id


def test_run_id_is_stable_and_depends_on_every_part():
    base = {"config": {"lr": 1e-3, "steps": 5}, "upstream": {"sft": "sft-abc"}, "seed": 0}
    assert make_run_id("rl", base) == make_run_id("rl", json.loads(json.dumps(base)))
    assert make_run_id("rl", base) == make_run_id("rl", {"seed": 0, "upstream": {"sft": "sft-abc"},
                                                          "config": {"steps": 5, "lr": 1e-3}})
    assert make_run_id("rl", base) != make_run_id("rl", {**base, "seed": 1})
    assert make_run_id("rl", base) != make_run_id("rl", {**base, "upstream": {"sft": "sft-def"}})
    assert make_run_id("rl", base) != make_run_id("sft", base)
    assert make_run_id("rl", base).startswith("rl-")


def test_finished_run_is_loaded_not_recomputed(tmp_path):
    store = RunStore(tmp_path)
    calls = []

    def compute(out):
        calls.append(out)
        (out / "artifact.txt").write_text("x")
        return {"m/value": 1.5}

    first = store.execute("stage", {"seed": 0}, compute)
    second = store.execute("stage", {"seed": 0}, compute)
    assert len(calls) == 1
    assert not first.cached and second.cached
    assert second.metrics == {"m/value": 1.5}
    assert (second.path / "artifact.txt").read_text() == "x"
    assert (second.path / DONE_MARKER).exists()
    counts = store.access_counts().set_index("cached")["requests"]
    assert counts[True] == 1 and counts[False] == 1


def test_failed_run_leaves_no_run_and_records_the_error(tmp_path):
    store = RunStore(tmp_path)

    def boom(out):
        (out / "partial.bin").write_text("half")
        raise RuntimeError("exploded")

    with pytest.raises(RuntimeError):
        store.execute("stage", {"seed": 1}, boom)
    run_id = make_run_id("stage", {"seed": 1})
    assert not store.run_dir("stage", run_id).exists()
    assert not [p for p in (tmp_path / "stage").iterdir() if p.name.endswith(".tmp")]
    record = json.loads((tmp_path / "stage" / f"{run_id}.FAILED.json").read_text())
    assert "exploded" in record["error"]
    # a later success replaces the failure record
    store.execute("stage", {"seed": 1}, lambda out: {"ok": 1})
    assert not (tmp_path / "stage" / f"{run_id}.FAILED.json").exists()


def test_half_written_run_without_marker_is_not_trusted(tmp_path):
    store = RunStore(tmp_path)
    run_id = make_run_id("stage", {"seed": 2})
    stale = store.run_dir("stage", run_id)
    stale.mkdir(parents=True)
    (stale / "metrics.json").write_text("{}")
    run = store.execute("stage", {"seed": 2}, lambda out: {"fresh": 1})
    assert run.metrics == {"fresh": 1} and not run.cached


def test_table_is_tidy_with_namespaced_columns(tmp_path):
    store = RunStore(tmp_path)
    for seed in range(3):
        store.execute("stage", {"config": {"lr": 0.1}, "seed": seed}, lambda out, s=seed: {"m/acc": s / 10})
    table = store.table()
    assert len(table) == 3
    assert {"stage", "run_id", "param/config/lr", "param/seed", "metric/m/acc"} <= set(table.columns)
    assert sorted(table["metric/m/acc"]) == [0.0, 0.1, 0.2]


def test_no_temporary_files_left_after_success(tmp_path):
    store = RunStore(tmp_path)
    store.execute("stage", {"seed": 0}, lambda out: {"a": 1})
    leftovers = [p for p in (tmp_path / "stage").rglob("*") if p.name.startswith(".")]
    assert leftovers == []
    assert os.listdir(tmp_path / "stage")


def _refuse_constant(name):
    raise ValueError(f"non-standard JSON constant {name}")


def test_undefined_numbers_are_written_as_null_and_read_back_as_nan(tmp_path):
    import json
    import math

    from rlhf_nb.store import RunStore

    store = RunStore(tmp_path)
    run = store.execute("rl", {"seed": 0}, lambda out: {"proxy/mean": float("nan"), "kl": float("inf"), "gold": 0.5})
    for name in ("metrics.json", "params.json"):
        json.loads((run.path / name).read_text(encoding="utf-8"), parse_constant=_refuse_constant)  # strict readers
    assert json.loads((run.path / "metrics.json").read_text())["proxy/mean"] is None
    loaded = store.load("rl", run.run_id)
    assert math.isnan(loaded.metrics["proxy/mean"]) and math.isnan(loaded.metrics["kl"])
    assert loaded.metrics["gold"] == 0.5


def test_a_computed_run_records_its_cost_apart_from_its_identity(tmp_path):
    import time

    from rlhf_nb.store import TIMING_FILE

    store = RunStore(tmp_path)
    run = store.execute("s", {"x": 1}, lambda out: (time.sleep(0.05), {"m": 1})[1])
    timing = json.loads((run.path / TIMING_FILE).read_text())
    assert timing["wall_seconds"] >= 0.05 and timing["cpu_seconds"] >= 0
    assert run.run_id == make_run_id("s", {"x": 1}) and run.metrics == {"m": 1}
