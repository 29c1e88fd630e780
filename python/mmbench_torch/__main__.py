"""`python3 -m mmbench_torch run GRAPH.json... --out-dir DIR ...`: what `mmbench run --backend torch` calls;
`python3 -m mmbench_torch calibrate SUITE.json --out RAW.json ...`: what `mmbench calibrate --backend torch`
calls.

Exit status 0 on success; 3 with a one-line `mmbench-torch: ...` message on stderr for a problem the user can
act on (no CUDA device, an op without a mapping, a document of another version); anything else is a bug."""

import argparse
import os
import sys

# Kineto leaves CUPTI attached after a profiler session unless told to tear it down, and every later driver
# call then pays for its callbacks (pytorch/pytorch#144455: 10-20 % slower training after profiling). The
# runner profiles one graph, then times the next in the same process, and calibration alternates profiled
# device timings with bare host timings: each session is torn down. Set before torch is imported.
os.environ.setdefault("TEARDOWN_CUPTI", "1")


def main(argv=None):
    p = argparse.ArgumentParser(prog="mmbench_torch", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="build an exported graph in PyTorch and time it")
    r.add_argument("graphs", nargs="+")
    r.add_argument("--out-dir", required=True, help="results as OUT_DIR/<k>.json, k the graph's position")
    r.add_argument("--budget-s", type=float, default=None, help="stop timing a graph after 3 iterations once this long")
    r.add_argument("--min-time-s", type=float, default=0.0, help="time a fast graph for at least this long (and warm it up for half as long)")
    r.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    r.add_argument("--math", default="fp32", choices=["fp32", "default", "tf32"])
    r.add_argument("--iters", type=int, default=10)
    r.add_argument("--warmup", type=int, default=2)
    r.add_argument("--profile-iters", type=int, default=3)
    r.add_argument("--check-dir", default=None)
    r.add_argument("--streams", action="store_true")
    r.add_argument("--unfused", action="store_true", help="run recurrent layers step by step (for checking)")
    r.add_argument("--threads", type=int, default=None, help="torch.set_num_threads on the CPU")
    c = sub.add_parser("calibrate", help="time the microbenchmark suite and the eager overheads")
    c.add_argument("suite")
    c.add_argument("--out", required=True)
    c.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    c.add_argument("--math", default="fp32", choices=["fp32", "default", "tf32"])
    c.add_argument("--passes", type=int, default=3)
    c.add_argument("--iters", type=int, default=10)
    c.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    try:
        import torch
    except ImportError as e:
        print(f"mmbench-torch: PyTorch is not importable ({e}): install it with `pip install torch numpy`", file=sys.stderr)
        return 3
    from . import bench, graph, run

    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        if a.command == "run":
            run.main_run(a)
        else:
            bench.main_calibrate(a)
    except (graph.GraphError, run.RunError) as e:
        print(f"mmbench-torch: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
