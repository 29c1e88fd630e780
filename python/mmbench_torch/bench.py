"""`mmbench calibrate --backend torch`: the microbenchmark suite, and what eager PyTorch adds, timed in
PyTorch.

The suite (schema `mmbench.torch-suite`, written by mmbench) holds one exported one-op graph per
microbenchmark. Each op is timed alone on the device: its inputs are computed once, then the op's call is
repeated, each timed iteration inside a `record_function` range whose kernels the profiler attributes to it
(from the first kernel's start to the last one's end, so a multi-kernel op counts once), after a write of
256 MiB that evicts the L2 cache (not for recurrent steps, which run warm in a layer). Chunks of
microbenchmarks share one profiler session. Each op keeps its fastest iteration over every pass.

The probes:
- each op's bare issue time: its call repeated without the profiler and without waiting for the device;
- each op's issue time among other calls: the chunk's calls in turn, each timed alone (a model's calls run
  cold in the CPU's caches, a repeated call hot);
- a chain of tiny ops: the host time of one framework call, the driver's launch call inside it (from the
  profiler's `cudaLaunchKernel` ranges), the device time of the smallest kernel, and a final synchronize;
- host-to-device copies of pageable tensors, 4 B to 64 MiB: latency and bandwidth;
- two streams: a chain of small kernels on one stream against the same split over two;
- the host-work stand-in over the grid of FLOPs and bytes the Rust suite names.
"""

import json
import os
import statistics
import sys
import time

import torch

from . import graph, ops, run

SUITE_SCHEMA = "mmbench.torch-suite"
RAW_SCHEMA = "mmbench.torch-calibration"
FLUSH_BYTES = 256 << 20
CHAIN = 256


def progress(msg):
    print(f"progress: {msg}", file=sys.stderr, flush=True)


def device_times(events, prefix):
    """Per annotation named `prefix<key>`: (device span from first start to last end, kernels, host time of
    the call, device busy time: the sum of its kernels' and copies' durations), the span and the busy time
    being the annotation's own host duration when it launched no device work (a CPU run)."""
    ann = {}
    for e in events:
        if e.get("ph") == "X" and e.get("cat") == "user_annotation" and e.get("name", "").startswith(prefix):
            ann[e["name"][len(prefix):]] = (e["ts"], e["ts"] + e.get("dur", 0), e.get("tid"))
    owner = run.launch_owners(events, [(s, end, tid, key) for key, (s, end, tid) in ann.items()])
    work = {}
    for e in events:
        if e.get("cat") in run.KERNEL_CATS or e.get("cat") in run.COPY_CATS:
            key = owner.get(e.get("args", {}).get("correlation"))
            if key is None:
                continue
            a, b, k, busy = work.get(key, (float("inf"), float("-inf"), 0, 0.0))
            dur = e.get("dur", 0)
            work[key] = (min(a, e["ts"]), max(b, e["ts"] + dur), k + (e.get("cat") in run.KERNEL_CATS), busy + dur)
    out = {}
    for key, (s, end, _) in ann.items():
        host = (end - s) * 1e-6
        if key in work:
            a, b, k, busy = work[key]
            out[key] = ((b - a) * 1e-6, k, host, busy * 1e-6)
        else:
            out[key] = (host, 0, host, host)
    return out


# Microbenchmarks timed under one profiler session (fewer sessions, each trace still small).
CHUNK = 16


def time_chunk(benches, device, flush, iters):
    """Each bench's op call repeated `iters` times after two warm-up calls, all under one profiler session:
    {position in `benches`: [(span seconds, kernels, host seconds, busy seconds, bare issue seconds, issue
    seconds among the chunk's other calls)]}, or an `ops.UnsupportedOp` in place of the list."""
    from torch.profiler import record_function

    prepared = {}
    for k, bench in enumerate(benches):
        try:
            model = ops.build_model(bench["graph"], device)
        except ops.UnsupportedOp as e:
            prepared[k] = e
            continue
        values = model.new_values()
        for c in model.calls[:-1]:
            c.run(values)
        prepared[k] = (model.calls[-1], values)

    def body():
        for k, bench in enumerate(benches):
            if isinstance(prepared[k], Exception):
                continue
            op, values = prepared[k]
            op.run(values)
            op.run(values)
            for it in range(iters):
                if flush is not None and not bench.get("warm", False):
                    flush.add_(1.0)
                with record_function(f"b:{k}:{it}"):
                    op.run(values)

    # Host times first: they are timed without the profiler, and before its session (a profiler session can
    # leave the driver slower to call until CUPTI is torn down, `run.profiled_events`).
    ready = {k: p for k, p in prepared.items() if not isinstance(p, Exception)}
    issue = {k: issue_time(*p, device) for k, p in ready.items()}
    among = issue_among_others(ready, device)
    times = device_times(run.profiled_events(body, device), "b:")
    return {
        k: p if isinstance(p, Exception) else [times[f"{k}:{it}"] + (issue[k], among[k]) for it in range(iters) if f"{k}:{it}" in times]
        for k, p in prepared.items()
    }


# Calls whose host time is averaged for one bare issue timing.
ISSUE_CALLS = 20


def issue_time(op, values, device):
    """Host time of one call of `op`, issued back to back without the profiler (whose callbacks would add to
    it) and without waiting for the device: what the call costs the thread that issues an eager model."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    op.run(values)
    sync()
    t = time.perf_counter()
    for _ in range(ISSUE_CALLS):
        op.run(values)
    dt = (time.perf_counter() - t) / ISSUE_CALLS
    sync()
    return dt


# Rounds of the chunk's calls for their issue times among other calls.
AMONG_ROUNDS = 10


def issue_among_others(prepared, device, rounds=AMONG_ROUNDS):
    """Host time of each op's call issued among other calls: each round calls every op of the chunk once, in
    turn, and each call is timed alone (median over the rounds). A model's calls follow calls of other ops,
    whose code has just replaced the call's own in the CPU's caches and branch predictors; the same call
    repeated (`issue_time`) runs hot in them. The device is waited for after each round, outside the timings,
    so that no call waits for a full launch queue."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = {k: [] for k in prepared}
    for r in range(rounds + 1):
        for k, (op, values) in prepared.items():
            t = time.perf_counter()
            op.run(values)
            dt = time.perf_counter() - t
            if r > 0:
                times[k].append(dt)
        sync()
    return {k: statistics.median(v) for k, v in times.items()}


def probe_chain(device):
    """Host cost of a framework call and of its kernel launch, the smallest kernel, the final synchronize."""
    from torch.profiler import record_function

    x = torch.zeros(1, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(16):
        torch.relu(x)
    sync()
    calls, views, syncs = [], [], []
    for _ in range(5):
        sync()
        t = time.perf_counter()
        for _ in range(CHAIN):
            torch.relu(x)
        calls.append((time.perf_counter() - t) / CHAIN)
        sync()
        t = time.perf_counter()
        for _ in range(CHAIN):
            x.view(1)
        views.append((time.perf_counter() - t) / CHAIN)
        for _ in range(20):
            sync()
            torch.relu(x)
            t = time.perf_counter()
            sync()
            syncs.append(time.perf_counter() - t)

    def body():
        with record_function("chain"):
            for _ in range(CHAIN):
                torch.relu(x)

    events = run.profiled_events(body, device)
    launches = [e["dur"] * 1e-6 for e in events if e.get("cat") in run.LAUNCH_CATS and "Launch" in e.get("name", "")]
    kernels = [e["dur"] * 1e-6 for e in events if e.get("cat") in run.KERNEL_CATS]
    return {
        "op_call_s": min(calls),
        "view_call_s": min(views),
        "launch_s": statistics.median(launches) if launches else 0.0,
        "tiny_kernel_s": statistics.median(kernels) if kernels else 0.0,
        "sync_s": statistics.median(syncs),
    }


def probe_copies(device):
    """Host-to-device copies of pageable tensors: [(bytes, fastest seconds)]."""
    if device.type != "cuda":
        return []
    out = []
    for nbytes in (4, 4 << 10, 64 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20):
        host = torch.rand(max(1, nbytes // 4))
        times = []
        for _ in range(7):
            torch.cuda.synchronize()
            t = time.perf_counter()
            host.to(device)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        out.append((nbytes, min(times)))
    return out


def probe_streams(device):
    """The same chain of small kernels on one stream, and split over two: how much two streams overlap."""
    if device.type != "cuda":
        return None
    a = torch.rand(1 << 14, device=device)
    b = torch.rand(1 << 14, device=device)
    s1, s2 = torch.cuda.Stream(), torch.cuda.Stream()

    def chain(x, n):
        for _ in range(n):
            x = torch.sin(x)
        return x

    def timed(fn):
        best = float("inf")
        for _ in range(5):
            torch.cuda.synchronize()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            for s in (s1, s2):
                torch.cuda.current_stream().wait_stream(s)
            end.record()
            torch.cuda.synchronize()
            best = min(best, start.elapsed_time(end) * 1e-3)
        return best

    def two():
        for s, x in ((s1, a), (s2, b)):
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                chain(x, 100)

    one = timed(lambda: (chain(a, 100), chain(b, 100)))
    return {"one_stream_s": one, "two_streams_s": timed(two)}


def host_samples(grid):
    """The host-work stand-in at each (FLOPs, bytes): fastest of five, single-threaded like the runner's."""
    out = []
    for flops, nbytes in grid:
        work = ops.HostWork(flops, nbytes)
        work.run()
        times = []
        for _ in range(5):
            t = time.perf_counter()
            work.run()
            times.append(time.perf_counter() - t)
        out.append({"flops": flops, "bytes": nbytes, "threads": 1, "time_s": min(times)})
    return out


def calibrate(suite, device_name="cuda", math="fp32", passes=3, iters=10):
    device = run.device_of(device_name)
    run.set_math(math)
    benches = suite["benches"]
    flush = torch.empty(FLUSH_BYTES // 4, device=device) if device.type == "cuda" else None
    best = [None] * len(benches)
    kernels = [0] * len(benches)
    hosts = [[] for _ in benches]
    issues = [None] * len(benches)
    amongs = [None] * len(benches)
    busies = [None] * len(benches)
    skipped = []
    with torch.no_grad():
        # The host's costs of a call and a launch first, before any profiler session.
        progress("eager overheads")
        chain = probe_chain(device)
        for p in range(passes):
            todo = [i for i in range(len(benches)) if best[i] != "skip"]
            for start in range(0, len(todo), CHUNK):
                chunk = todo[start:start + CHUNK]
                for i in chunk:
                    progress(f"{benches[i]['label']} (pass {p + 1}/{passes})")
                    graph.check(benches[i]["graph"], benches[i]["label"])
                timed = time_chunk([benches[i] for i in chunk], device, flush, iters)
                for k, i in enumerate(chunk):
                    if isinstance(timed[k], Exception):
                        skipped.append({"label": benches[i]["label"], "reason": str(timed[k])})
                        best[i] = "skip"
                        continue
                    for t, n, host, busy, issue, among in timed[k]:
                        if best[i] is None or t < best[i]:
                            best[i] = t
                        kernels[i] = max(kernels[i], n)
                        hosts[i].append(host)
                        issues[i] = issue if issues[i] is None else min(issues[i], issue)
                        amongs[i] = among if amongs[i] is None else min(amongs[i], among)
                        busies[i] = busy if busies[i] is None else min(busies[i], busy)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        progress("host-to-device copies")
        copies = probe_copies(device)
        progress("two streams")
        streams = probe_streams(device)
        progress("host work")
        host = host_samples(suite.get("host_work", []))
    # The host's cost of a call: its median (the profiler's own cost per range is small next to a framework
    # call, and the same in every one).
    # The bare issue time keeps its fastest pass, as the device times do (the host's speed drifts). The busy
    # time (kernels only, without the gaps between them) tells a call whose kernels wait on its host, as a
    # recurrent layer's steps may, from one whose kernels are slow.
    samples = [
        {"label": b["label"], "time_s": t, "kernels": k, "host_s": statistics.median(h), "issue_s": q, "among_s": a, "busy_s": u}
        for b, t, k, h, q, a, u in zip(benches, best, kernels, hosts, issues, amongs, busies)
        if t not in (None, "skip")
    ]
    return {
        "schema": RAW_SCHEMA,
        "version": 1,
        "environment": run.environment(device, math),
        "samples": samples,
        "skipped": skipped,
        "chain": chain,
        "copies": copies,
        "streams": streams,
        "host": host,
    }


def main_calibrate(args):
    with open(args.suite, encoding="utf-8") as f:
        suite = json.load(f)
    if suite.get("schema") != SUITE_SCHEMA:
        raise graph.GraphError(f"{args.suite}: not an mmbench calibration suite")
    result = calibrate(suite, args.device, args.math, args.passes, args.iters)
    tmp = args.out + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(tmp, args.out)
