"""The runner's timing logic without a GPU: Kineto events attributed to calls, stage segments, math modes,
and the end-to-end CPU run of a small exported graph."""

import json

import pytest
import torch

from mmbench_torch import graph, run


def annotation(name, ts, dur, tid=1):
    return {"ph": "X", "cat": "user_annotation", "name": name, "ts": ts, "dur": dur, "tid": tid}


def launch(ts, corr, tid=1):
    return {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": ts, "dur": 3, "tid": tid, "args": {"correlation": corr}}


def kernel(ts, dur, corr, cat="kernel"):
    return {"ph": "X", "cat": cat, "name": "k", "ts": ts, "dur": dur, "tid": 7, "args": {"correlation": corr}}


def test_kernels_are_attributed_to_the_call_that_launched_them():
    events = [
        annotation("mmb_iter:0", 0, 100),
        annotation("mmb:0", 0, 10),
        launch(2, 1),
        annotation("mmb:1", 10, 20),
        launch(12, 2),
        launch(20, 3),
        kernel(15, 4, 1),  # call 0's kernel, late on the device
        kernel(30, 5, 2),
        kernel(40, 6, 3),
        kernel(41, 1, 99),  # launched outside any call: ignored
        kernel(50, 2, 2, cat="gpu_memcpy"),
    ]
    p = run.attribute(events, ncalls=2, iterations=1)
    c0, c1 = p["calls"][0]
    assert (c0["kernels"], c0["busy_us"], c0["span_us"]) == (1, 4.0, 19.0)
    # The copy counts as device work of call 1, not as a kernel.
    assert (c1["kernels"], c1["copies"]) == (2, 1)
    assert c1["busy_us"] == 13.0
    # Call 1 adds from call 0's end (19) to its own last device work's end (52).
    assert c1["span_us"] == 33.0
    assert sorted(p["kernel_us"]) == [4.0, 5.0, 6.0]


def test_calls_without_device_work_are_spanned_by_their_host_time():
    events = [annotation("mmb_iter:0", 0, 30), annotation("mmb:0", 0, 10), annotation("mmb:1", 10, 20)]
    p = run.attribute(events, ncalls=2, iterations=1)
    assert [c["span_us"] for c in p["calls"][0]] == [10.0, 20.0]


class FakeCall:
    def __init__(self, stage, modality):
        self.stage, self.modality = stage, modality


def test_segments_join_consecutive_calls_of_one_stage():
    calls = [FakeCall("encoder", "a"), FakeCall("encoder", "a"), FakeCall("encoder", "b"), FakeCall("fusion", None), FakeCall("head", None)]
    assert graph.segments(calls) == [("encoder", "a", [0, 1]), ("encoder", "b", [2]), ("fusion", None, [3]), ("head", None, [4])]


def test_math_modes_set_the_tf32_flags():
    run.set_math("fp32")
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert torch.get_float32_matmul_precision() == "highest"
    run.set_math("default")
    assert torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    run.set_math("tf32")
    assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    with pytest.raises(run.RunError):
        run.set_math("bf16")
    run.set_math("fp32")


def test_a_document_of_another_version_is_refused():
    with pytest.raises(graph.GraphError, match="version 99"):
        graph.check({"schema": graph.SCHEMA, "version": 99, "nodes": []})
    with pytest.raises(graph.GraphError, match="not an `mmbench export`"):
        graph.check({"nodes": []})


def test_no_cuda_device_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(run.RunError, match="no CUDA device"):
        run.device_of("cuda")


def small_doc():
    """input [2, 3] -> linear 4 -> relu: a two-call graph in the export schema."""
    node = lambda i, name, op, **kw: {  # noqa: E731
        "index": i, "name": name, "op": op, "attrs": kw.pop("attrs", {}), "inputs": kw.pop("inputs", []),
        "output": kw.pop("output"), "stage": kw.pop("stage", "encoder"), "modality": kw.pop("modality", "x"),
        "call": i, "weight_owner": name, "device": None, "kernels": 1, "flops": 0, "bytes": 0, "param_count": 0,
        "params": kw.pop("params", []), **kw,
    }
    return {
        "schema": graph.SCHEMA, "version": 1, "workload": "tiny", "description": "", "batch": 2, "modalities": ["x"],
        "params": 16, "flops": 0, "kernels": 2, "outputs": [2],
        "nodes": [
            node(0, "x/input", "input", output={"shape": [2, 3], "dtype": "f32"}, fill={"fill": "uniform", "low": -1.0, "high": 1.0, "key": "x/input"}),
            node(1, "x/fc", "linear", attrs={"out": 4, "bias": True}, inputs=[0], output={"shape": [2, 4], "dtype": "f32"},
                 params=[{"name": "weight", "shape": [3, 4], "init": {"uniform": {"low": -0.5, "high": 0.5}}, "key": "x/fc/weight"},
                         {"name": "bias", "shape": [4], "init": {"const": 0.25}, "key": "x/fc/bias"}]),
            node(2, "head/relu", "relu", attrs={"func": "relu"}, inputs=[1], output={"shape": [2, 4], "dtype": "f32"}, stage="head", modality=None),
        ],
    }


def test_a_cpu_run_times_every_segment_and_saves_values(tmp_path):
    r = run.run(small_doc(), device_name="cpu", iters=3, warmup=1, profile_iters=1, check_dir=str(tmp_path))
    assert r["schema"] == run.RESULT_SCHEMA
    assert len(r["iteration_ms"]) == 3 and all(t > 0 for t in r["iteration_ms"])
    assert [s["stage"] for s in r["segments"]] == ["encoder", "head"]
    for it in r["segment_ms"]:
        assert len(it) == 2 and 0 <= it[0][0] <= it[0][1] <= it[1][0] <= it[1][1]
    assert len(r["profile"]["calls"][0]) == len(r["calls"])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert set(manifest) == {"0", "1", "2"}
    assert manifest["2"]["shape"] == [2, 4]


def test_values_are_dropped_after_their_last_reader_and_outputs_kept():
    from mmbench_torch import ops

    model = ops.build_model(small_doc(), torch.device("cpu"))
    values = model.new_values()
    model.run(values)
    assert values[0] is None and values[1] is None, "the input and the linear's output are read by no later call"
    assert values[2] is not None and tuple(values[2].shape) == (2, 4), "the network's output is kept"
    kept = model.new_values()
    model.run(kept, release=False)
    assert all(v is not None for v in kept)


def test_a_fast_graph_is_timed_for_at_least_the_minimum_time():
    # Three iterations asked, but 0.2 s of timing: a sub-millisecond graph runs many more (until the time is
    # filled or the cap reached), after a warm-up of about half as long; and Python's collector is back on.
    import gc

    r = run.run(small_doc(), device_name="cpu", iters=3, warmup=1, profile_iters=0, min_time_s=0.2)
    assert r["iterations"] > 3 and len(r["iteration_ms"]) == r["iterations"]
    assert r["warmup"] > 1
    assert r["iterations"] == run.MAX_ITERATIONS or sum(r["host_ms"]) >= 200.0 * 0.9
    assert gc.isenabled()


def test_calibration_samples_carry_a_bare_issue_time():
    from mmbench_torch import bench

    doc = small_doc()
    suite = {"schema": bench.SUITE_SCHEMA, "version": 1, "benches": [{"label": "tiny", "graph": doc}], "host_work": []}
    raw = bench.calibrate(suite, device_name="cpu", passes=2, iters=2)
    (s,) = raw["samples"]
    assert s["label"] == "tiny" and s["issue_s"] > 0.0
    # ... and one issued among the chunk's other calls.
    assert s["among_s"] > 0.0
    # Without device work the busy time is the call's own; it never exceeds the span.
    assert 0.0 < s["busy_s"] <= s["time_s"] * (1 + 1e-9)


def test_device_times_give_span_kernels_and_busy_time_of_each_annotation():
    from mmbench_torch import bench

    # One annotated call on thread 1 launches two kernels (correlations 7 and 8) that run 10 us apart.
    events = [
        {"ph": "X", "cat": "user_annotation", "name": "b:0:0", "ts": 100.0, "dur": 50.0, "tid": 1},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 110.0, "dur": 3.0, "tid": 1, "args": {"correlation": 7}},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 130.0, "dur": 3.0, "tid": 1, "args": {"correlation": 8}},
        {"ph": "X", "cat": "kernel", "name": "k1", "ts": 200.0, "dur": 4.0, "tid": 7, "args": {"correlation": 7}},
        {"ph": "X", "cat": "kernel", "name": "k2", "ts": 214.0, "dur": 6.0, "tid": 7, "args": {"correlation": 8}},
        # A kernel launched outside any annotation is nobody's.
        {"ph": "X", "cat": "kernel", "name": "k3", "ts": 300.0, "dur": 9.0, "tid": 7, "args": {"correlation": 9}},
    ]
    span, kernels, host, busy = bench.device_times(events, "b:")["0:0"]
    assert kernels == 2
    assert abs(span - 20e-6) < 1e-12  # 200 to 220 us
    assert abs(busy - 10e-6) < 1e-12  # 4 + 6 us, without the 10 us gap
    assert abs(host - 50e-6) < 1e-12


def test_a_run_times_each_calls_host_issue_inside_an_inference():
    r = run.run(small_doc(), device_name="cpu", iters=2, warmup=1, profile_iters=0)
    issue = r["call_issue_us"]
    assert len(issue) == len(r["calls"]) and all(t > 0.0 for t in issue)
    # On the CPU every call runs inside its issue: the calls together cannot exceed an inference's host time.
    assert sum(issue) <= max(r["host_ms"]) * 1e3 * 1.5


def test_issue_among_others_times_every_prepared_call():
    from mmbench_torch import bench

    calls = []

    class Op:
        def __init__(self, k):
            self.k = k

        def run(self, values):
            calls.append(self.k)

    t = bench.issue_among_others({0: (Op(0), []), 1: (Op(1), [])}, torch.device("cpu"), rounds=3)
    assert set(t) == {0, 1} and all(v >= 0.0 for v in t.values())
    # Each round calls every op once, in turn (a first round warms up).
    assert calls == [0, 1] * 4
