#!/usr/bin/env python3
"""Writes a hardware preset from a calibrated description (`mmbench calibrate --out`), with its provenance.

    python3 scripts/calibrated-preset.py validation/gpu/h100-fp32.yaml h100 "strict fp32" > hardware/h100.yaml

The preset is the calibrated machine as measured: its GPU, host CPU, copy link and `eager` runtime. It adds
two what-if runtimes made from the measured one (`eager_streams`: one stream per branch; `cuda_graph`: the
forward pass replayed as a CUDA graph, whose per-node launch cost is assumed), so that it offers what every GPU
preset offers. Every figure line says where it comes from; `tests/hardware_presets.rs` checks that the preset
still equals the calibration it names.
"""

import sys

import yaml

FIGURES = ("fp32", "tf32", "fp16", "bf16", "mem_bw_gbs", "mem_gb", "cache_mb", "compute_units", "bw_gbs")


def main(source, name, math):
    with open(source, encoding="utf-8") as f:
        text = f.read()
    doc = yaml.safe_load(text)
    provenance = [line for line in text.splitlines() if line.startswith("# Machine:") or line.startswith("# Calibrated by")]
    eager = doc["runtimes"]["eager"]
    # The runtime's math modes must exist on the GPU: a calibration has one fitted peak, which its curves are
    # relative to, whatever math mode its convolutions ran in.
    peaks = doc["devices"]["gpu"]["peak_tflops"]
    for math_mode in {eager.get("conv_math", "fp32"), eager.get("matmul_math", "fp32")}:
        peaks.setdefault(math_mode, peaks["fp32"])
    streams = dict(eager, description=f"as `eager`, with one CUDA stream per modality branch (a what-if of the measured runtime)", streams="per_branch")
    graph = {
        "description": "the forward pass captured once as a CUDA graph and replayed (a what-if: the measured runtime without its per-call host costs)",
        "streams": "single",
        "op_overhead_us": 0.0,
        "launch_overhead_us": 1.0,
        "sync_overhead_us": eager["sync_overhead_us"],
        "input_copy": True,
        "conv_math": eager.get("conv_math", "fp32"),
        "matmul_math": eager.get("matmul_math", "fp32"),
    }
    out = {
        "name": name,
        "description": f"NVIDIA H100 80GB HBM3 (SXM5) as calibrated on the lent machine, PyTorch {math} math",
        "host": doc["host"],
        "default_device": doc["default_device"],
        "devices": doc["devices"],
        "links": doc["links"],
        "runtimes": {"eager": eager, "eager_streams": streams, "cuda_graph": graph},
        "default_runtime": "eager",
    }
    # The machine it was calibrated on, and its quick probe: runs elsewhere are warned about.
    if "machine" in doc:
        out["machine"] = doc["machine"]
    body = yaml.safe_dump(out, sort_keys=False, width=120)
    lines = []
    for line in body.splitlines():
        key = line.strip().split(":")[0] + ":"
        if key[:-1] in FIGURES and not line.rstrip().endswith(":"):
            if key == "mem_gb:":
                line += "  # measured: the memory the runner read (torch.cuda / the host's)"
            elif key == "cache_mb:":
                line += "  # not described: the fitted curves carry the caches' effect"
            elif key == "compute_units:":
                line += "  # measured: SMs (GPU) or threads (host) as the runner read them"
            else:
                line += f"  # fitted to microbenchmarks ({source})"
        lines.append(line)
    header = [
        f"# `{name}`: the lent NVIDIA H100 80GB HBM3 as `mmbench calibrate --backend torch --math {math.split()[-1]}` fitted it,",
        f"# written by scripts/calibrated-preset.py from {source}; raw data and fit report beside it.",
        *provenance,
        "# Every figure is fitted to microbenchmarks or read from the machine (never fitted to the workloads);",
        "# `eager_streams` and `cuda_graph` are what-ifs built from the measured `eager`. The datasheet description",
        "# of the same GPU is `h100-datasheet`.",
    ]
    sys.stdout.write("\n".join(header + lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
