"""Running an exported graph eagerly in PyTorch and timing it as MMBench did.

Three passes over the same model:
- timed: `iters` iterations after `warmup` (or, with `min_time_s`, as many as fill that time), each bracketed by CUDA events (host clock on the CPU) at the start
  and end of every stage segment (a run of calls of one stage and modality), so end-to-end and stage times
  carry no per-op instrumentation;
- profiled: a few iterations under `torch.profiler`, every call inside a `record_function` range, whose
  Chrome trace attributes each kernel (and copy) to the call that launched it: kernel counts, kernel time,
  the share of kernels under 10 us, and each call's share of its segment's time on the GPU timeline;
- checked (optional): one iteration whose every materialized value is saved for mmbench to compare with its
  CPU reference.

The result is JSON (schema `mmbench.torch-run`) that `mmbench run --backend torch` turns into the run report
the wgpu backend writes."""

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from . import graph, ops

RESULT_SCHEMA = "mmbench.torch-run"
RESULT_VERSION = 1
# Kineto's categories of device work, and of the host calls that start it.
KERNEL_CATS = {"kernel"}
COPY_CATS = {"gpu_memcpy", "gpu_memset"}
LAUNCH_CATS = {"cuda_runtime", "cuda_driver"}
ANNOTATION = "mmb:"
# The most iterations a fast graph is timed (or warmed up) for under `min_time_s`.
MAX_ITERATIONS = 2000
# Inferences whose calls are timed one by one for their host issue times (`issue_times`): at most this
# many, and no more once they have taken this long (at least one).
ISSUE_ITERATIONS = 20
ISSUE_TIME_S = 1.0


class RunError(Exception):
    """A problem the user can act on (no CUDA device, an op without a mapping)."""


def set_math(mode):
    """`fp32`: strict fp32 everywhere (no TF32 in cuBLAS or cuDNN). `default`: PyTorch's defaults (TF32 for
    cuDNN convolutions, none for matmuls). `tf32`: TF32 for both."""
    if mode not in ("fp32", "default", "tf32"):
        raise RunError(f"unknown math mode `{mode}` (fp32, default or tf32)")
    conv_tf32 = mode in ("default", "tf32")
    matmul_tf32 = mode == "tf32"
    torch.backends.cudnn.allow_tf32 = conv_tf32
    torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
    torch.set_float32_matmul_precision("high" if matmul_tf32 else "highest")


def device_of(name):
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RunError(
                "no CUDA device: torch.cuda.is_available() is False "
                f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); run with --device cpu, "
                "or on a machine with an NVIDIA GPU and its driver"
            )
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    raise RunError(f"unknown device `{name}` (cuda or cpu)")


def environment(device, math):
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host_cpu": host_cpu(),
        "host_threads": os.cpu_count(),
        "host_memory_bytes": host_memory(),
        "math": math,
        "device": device.type,
    }
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        env.update(
            device_name=p.name,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            sm_count=p.multi_processor_count,
            memory_bytes=p.total_memory,
            capability=f"{p.major}.{p.minor}",
            driver=driver_version(),
        )
    else:
        env.update(device_name=f"{env['host_cpu']} (PyTorch CPU)", threads=torch.get_num_threads(), memory_bytes=env["host_memory_bytes"])
    return env


def host_cpu():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def driver_version():
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.SubprocessError):
        return None


class Clock:
    """Marks on the device's timeline: CUDA events on a GPU, the host clock on the CPU (where ops run
    synchronously on the calling thread)."""

    def __init__(self, device):
        self.cuda = device.type == "cuda"

    def mark(self):
        if self.cuda:
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def ms(self, a, b):
        return a.elapsed_time(b) if self.cuda else (b - a) * 1e3


def timed_iteration(model, segs, clock, streams):
    """One inference: (end-to-end ms on the device timeline, host ms to results, [(start, end) ms per segment])."""
    values = model.new_values()
    clock.sync()
    t0 = time.perf_counter()
    start = clock.mark()
    marks = []
    for stage, modality, positions in segs:
        stream = streams.get(modality) if stage == "encoder" else None
        if stream is not None:
            stream.wait_stream(torch.cuda.default_stream())
            with torch.cuda.stream(stream):
                a = clock.mark()
                for p in positions:
                    model.calls[p].run(values)
                    model.release(values, p)
                b = clock.mark()
        else:
            for s in streams.values():
                torch.cuda.current_stream().wait_stream(s)
            a = clock.mark()
            for p in positions:
                model.calls[p].run(values)
                model.release(values, p)
            b = clock.mark()
        marks.append((a, b))
    for s in streams.values():
        torch.cuda.current_stream().wait_stream(s)
    end = clock.mark()
    clock.sync()
    host_ms = (time.perf_counter() - t0) * 1e3
    return clock.ms(start, end), host_ms, [(clock.ms(start, a), clock.ms(start, b)) for a, b in marks]


def profile(model, device, iterations):
    """Per call: kernels, copies, device busy time and its span on the device timeline (the time it adds to
    the timeline after the previous call: kernels plus the launch gaps before them), per profiled iteration;
    and every kernel's duration in the last iteration."""
    from torch.profiler import record_function

    def body():
        for it in range(iterations):
            values = model.new_values()
            with record_function(f"mmb_iter:{it}"):
                for pos, call in enumerate(model.calls):
                    with record_function(f"{ANNOTATION}{pos}"):
                        call.run(values)
                    model.release(values, pos)
            if device.type == "cuda":
                torch.cuda.synchronize()

    events = profiled_events(body, device)
    return attribute(events, len(model.calls), iterations)


def issue_times(model, device, iterations, max_s=float("inf")):
    """Per call: its host time inside an inference, median over `iterations` (µs; fewer once they have
    taken `max_s`), issued as the timed iterations issue it, without the profiler and without waiting for the
    device except at each iteration's end (outside the timings). A call that waits itself (a copy from
    pageable memory, which synchronizes its stream; a full launch queue) includes its wait."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    per = [[] for _ in model.calls]
    start = time.perf_counter()
    for _ in range(iterations):
        if per[0] and time.perf_counter() - start > max_s:
            break
        values = model.new_values()
        sync()
        for pos, call in enumerate(model.calls):
            t = time.perf_counter()
            call.run(values)
            per[pos].append(time.perf_counter() - t)
            model.release(values, pos)
        sync()
    return [statistics.median(v) * 1e6 for v in per]


def profiled_events(fn, device):
    """Runs `fn` under `torch.profiler` (CPU, and CUDA on a GPU); returns its Chrome-trace events. The session
    is torn down after (`TEARDOWN_CUPTI`, set by `__main__`): left attached, it slows every later call."""
    from torch.profiler import ProfilerActivity, profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "trace.json")
        prof.export_chrome_trace(path)
        with open(path, encoding="utf-8") as f:
            return json.load(f).get("traceEvents", [])


def launch_owners(events, ranges):
    """{correlation id: key} of every kernel launch (runtime or driver call) that lies inside one of
    `ranges`, (start, end, thread, key) ranges that do not overlap on a thread, on the launch's thread."""
    import bisect

    by_thread = {}
    for r in sorted(ranges, key=lambda r: r[0]):
        by_thread.setdefault(r[2], []).append(r)
    starts = {tid: [r[0] for r in rs] for tid, rs in by_thread.items()}
    owner = {}
    for e in events:
        if e.get("cat") not in LAUNCH_CATS or "correlation" not in e.get("args", {}):
            continue
        rs = by_thread.get(e.get("tid"))
        if not rs:
            continue
        i = bisect.bisect_right(starts[e.get("tid")], e["ts"]) - 1
        if i >= 0 and rs[i][1] >= e["ts"]:
            owner[e["args"]["correlation"]] = rs[i][3]
    return owner


def attribute(events, ncalls, iterations):
    """Kineto Chrome-trace events -> per-iteration, per-call device statistics (see `profile`)."""
    annotations = []  # (ts, end, tid, iteration, position)
    iter_start = {}
    for e in events:
        name = e.get("name", "")
        if e.get("ph") != "X" or e.get("cat") != "user_annotation":
            continue
        if name.startswith("mmb_iter:"):
            iter_start[int(name.split(":")[1])] = (e["ts"], e["ts"] + e.get("dur", 0))
        elif name.startswith(ANNOTATION):
            annotations.append((e["ts"], e["ts"] + e.get("dur", 0), e.get("tid"), int(name[len(ANNOTATION):])))
    # Which iteration each annotation belongs to.
    spans = sorted((s, e, k) for k, (s, e) in iter_start.items())

    def iteration_of(ts):
        for s, e, k in spans:
            if s <= ts <= e:
                return k
        return None

    ann = sorted((s, e, tid, iteration_of(s), pos) for s, e, tid, pos in annotations)
    calls = [[{"kernels": 0, "copies": 0, "busy_us": 0.0, "end_us": None, "cpu_us": 0.0} for _ in range(ncalls)] for _ in range(iterations)]
    for s, e, _, k, pos in ann:
        if k is not None and k < iterations and pos < ncalls:
            calls[k][pos]["cpu_us"] += e - s
            calls[k][pos]["cpu_start"] = min(calls[k][pos].get("cpu_start", s), s)
    owner = launch_owners(events, [(s, e, tid, (k, pos)) for s, e, tid, k, pos in ann if k is not None])
    last_kernels = []
    for e in events:
        cat = e.get("cat")
        if cat not in KERNEL_CATS and cat not in COPY_CATS:
            continue
        who = owner.get(e.get("args", {}).get("correlation"))
        if who is None:
            continue
        k, pos = who
        c = calls[k][pos]
        dur = float(e.get("dur", 0))
        if cat in KERNEL_CATS:
            c["kernels"] += 1
            if k == iterations - 1:
                last_kernels.append(dur)
        else:
            c["copies"] += 1
        c["busy_us"] += dur
        end = e["ts"] + dur
        c["end_us"] = end if c["end_us"] is None else max(c["end_us"], end)
    # Spans: what each call adds to the device timeline (on a CPU, its time on the calling thread).
    for k in range(iterations):
        prev = iter_start.get(k, (0.0, 0.0))[0]
        for c in calls[k]:
            if c["end_us"] is not None:
                c["span_us"] = max(0.0, c["end_us"] - prev)
                prev = max(prev, c["end_us"])
            elif not any(x["end_us"] is not None for x in calls[k]):
                c["span_us"] = c["cpu_us"]
            else:
                c["span_us"] = 0.0
            c.pop("cpu_start", None)
    return {"iterations": iterations, "calls": calls, "kernel_us": last_kernels}


def save_values(model, directory):
    """One iteration; every materialized value saved as raw little-endian words (f32, or ids as u32)."""
    os.makedirs(directory, exist_ok=True)
    values = model.new_values()
    model.run(values, release=False)
    manifest = {}
    for i, v in enumerate(values):
        if v is None or not isinstance(v, torch.Tensor):
            continue
        a = v.detach().to("cpu").contiguous().numpy()
        if a.dtype.kind in "iu":
            a, dtype = a.astype("<u4"), "u32"
        else:
            a, dtype = a.astype("<f4"), "f32"
        name = f"{i}.{dtype}"
        a.tofile(os.path.join(directory, name))
        manifest[str(i)] = {"file": name, "dtype": dtype, "shape": list(a.shape)}
    with open(os.path.join(directory, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f)
    return sorted(int(k) for k in manifest)


def run(doc, device_name="cuda", math="fp32", iters=10, warmup=2, profile_iters=3, check_dir=None, streams=False, fused=True, budget_s=None, min_time_s=0.0):
    """Builds and times one exported graph. With `budget_s`, timing stops after the first three timed
    iterations once the timed ones have taken that long (slow configurations: seconds per inference). With
    `min_time_s`, a fast graph is timed for at least that long (at most `MAX_ITERATIONS` iterations) after a
    warm-up of half as long."""
    device = device_of(device_name)
    set_math(math)
    torch.manual_seed(0)
    try:
        model = ops.build_model(doc, device, fused_recurrent=fused)
    except ops.UnsupportedOp as e:
        raise RunError(str(e)) from e
    segs = graph.segments(model.calls)
    clock = Clock(device)
    stream_map = {}
    if streams and device.type == "cuda":
        stream_map = {m: torch.cuda.Stream() for s, m, _ in segs if s == "encoder" and m is not None}
    result = {
        "schema": RESULT_SCHEMA,
        "version": RESULT_VERSION,
        "workload": doc["workload"],
        "batch": doc["batch"],
        "environment": environment(device, math),
        "streams": bool(stream_map),
        "warmup": warmup,
        "calls": [{"index": c.index, "nodes": c.nodes, "host": c.host} for c in model.calls],
        "segments": [{"stage": s, "modality": m, "calls": p} for s, m, p in segs],
    }
    with torch.no_grad():
        if check_dir is not None:
            result["check"] = {"dir": check_dir, "nodes": save_values(model, check_dir)}
        # A fast graph is warmed up and timed for a while, not a count of iterations: its first iterations pay
        # for cuDNN's heuristics and the allocator's first blocks, and a millisecond inference timed ten times
        # is at the mercy of one slow iteration. Python's collector stays off while timing (it runs when
        # allocations cross a threshold, in whichever iteration that happens).
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            done, spent = 0, 0.0
            while done < warmup or (spent < min_time_s / 2 and done < MAX_ITERATIONS):
                t = time.perf_counter()
                timed_iteration(model, segs, clock, stream_map)
                spent += time.perf_counter() - t
                done += 1
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            runs, spent = [], 0.0
            while (len(runs) < iters or (spent < min_time_s and len(runs) < MAX_ITERATIONS)) and not (
                budget_s is not None and len(runs) >= 3 and spent > budget_s
            ):
                t = time.perf_counter()
                runs.append(timed_iteration(model, segs, clock, stream_map))
                spent += time.perf_counter() - t
        finally:
            if gc_was_on:
                gc.enable()
        result["iterations"] = len(runs)
        result["warmup"] = done
        result["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
        result["iteration_ms"] = [r[0] for r in runs]
        result["host_ms"] = [r[1] for r in runs]
        result["segment_ms"] = [r[2] for r in runs]
        slow = budget_s is not None and spent / len(runs) > budget_s / 3
        # Each call's issue time before the profiler's session (see `profiled_events`).
        gc.disable()
        try:
            result["call_issue_us"] = issue_times(model, device, ISSUE_ITERATIONS, ISSUE_TIME_S)
        finally:
            if gc_was_on:
                gc.enable()
        result["profile"] = profile(model, device, 1 if slow else profile_iters) if profile_iters > 0 else None
    result["median_ms"] = statistics.median(result["iteration_ms"])
    return result


def main_run(args):
    """Every graph of the command line in turn, in one process (a campaign pays for starting PyTorch once).
    A graph that fails (no mapping, out of memory) gets `{"error": ...}` as its result; the others go on."""
    if args.check_dir is not None and len(args.graphs) != 1:
        raise RunError("--check-dir takes one graph")
    os.makedirs(args.out_dir, exist_ok=True)
    # The machine's quick probe, once, before the graphs: the host's cost of a call and of a launch, timed as
    # a calibration times them, so that a run on a slower or faster host than the calibration's is told.
    from . import bench

    chain = bench.probe_chain(device_of(args.device))
    probe = {"op_call_s": chain["op_call_s"], "launch_s": chain["launch_s"]}
    for k, path in enumerate(args.graphs):
        doc = graph.load(path)
        print(f"progress: {doc['workload']} batch {doc['batch']}", file=sys.stderr, flush=True)
        try:
            result = run(
                doc,
                device_name=args.device,
                math=args.math,
                iters=args.iters,
                warmup=args.warmup,
                profile_iters=args.profile_iters,
                check_dir=args.check_dir,
                streams=args.streams,
                fused=not args.unfused,
                budget_s=args.budget_s,
                min_time_s=args.min_time_s,
            )
        except RunError:
            raise
        except torch.cuda.OutOfMemoryError as e:
            result = {"error": f"out of device memory: {str(e).splitlines()[0]}"}
        except Exception as e:  # noqa: BLE001 - one configuration's failure must not end a campaign
            if len(args.graphs) == 1:
                raise
            result = {"error": f"{type(e).__name__}: {e}"}
        if "error" not in result:
            result["probe"] = probe
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        out = os.path.join(args.out_dir, f"{k}.json")
        with open(out + ".part", "w", encoding="utf-8") as f:
            json.dump(result, f)
        os.replace(out + ".part", out)
