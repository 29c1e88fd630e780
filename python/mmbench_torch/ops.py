"""An exported mmbench graph as PyTorch calls: every node becomes the framework call the model's own code
makes for it (`F.conv2d`, `F.linear`, `torch.matmul`, ...), and a recurrent layer, which mmbench unrolls
into an input projection and one cell per step, becomes one `nn.GRU` / `nn.LSTM` call (cuDNN on CUDA).

`build_model` generates every weight once (`data.param_values`), converts it from mmbench's layout
(`src/exec/params.rs`) to PyTorch's and keeps it on the device; `Model.run` then issues the calls in
program order, each reading and writing a flat list of node values. The semantics of every op follow
mmbench's CPU reference (`src/exec/reference/`), so a run reproduces its outputs.

Placement: nodes run on the model's device, except host work and nodes the workload pins to the CPU
(`device: cpu`, e.g. Sarcasm's BERT), which run on the CPU. A value crosses devices in the call that
reads it, as the model's `.to(device)` does.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from . import data

CPU = torch.device("cpu")

# LayerNorm, InstanceNorm and BatchNorm: PyTorch's default eps, which mmbench's reference uses too.
NORM_EPS = 1e-5

# Host work spends its FLOPs on a block this small so that it stays in L1: the stand-in measures the
# CPU's arithmetic, and its memory traffic separately, by one streaming pass over its bytes.
HOST_BLOCK = 2048
HOST_FLOPS_PER_PASS = 2 * 2 * HOST_BLOCK  # a multiply and an add over the block, 2 FLOPs per element

UNARY = ("relu", "leaky_relu", "gelu", "gelu_tanh", "sigmoid", "tanh", "silu", "exp", "log", "abs", "pow",
         "scale", "clamp", "keep_range")
BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
          "maximum": torch.maximum, "minimum": torch.minimum}
REDUCE = {"reduce_mean": torch.mean, "reduce_sum": torch.sum, "reduce_max": torch.amax}
SOURCES = ("input", "weight", "host_work")
CELLS = ("gru_cell", "lstm_cell")
GATES = {"gru_cell": 3, "lstm_cell": 4}
# Ops a recurrent block adds after its cells to shape what it returns (a state's h or c, the sequence).
ASSEMBLY = ("slice", "reshape", "concat")


class UnsupportedOp(Exception):
    """The graph holds op kinds this backend cannot build."""


class Call:
    """One framework call: the nodes it computes (program order), the values it writes into the value
    list, and where it runs."""

    def __init__(self, index, nodes, materialized, stage, modality, host, fn):
        self.index = index
        self.nodes = nodes
        self.materialized = materialized
        self.stage = stage
        self.modality = modality
        self.host = host
        self._fn = fn

    def run(self, values):
        self._fn(values)

    def __repr__(self):
        return f"Call({self.index}, nodes={self.nodes}, host={self.host})"


class Model:
    """Every call of a graph, in program order. A value is dropped once the last call that reads it has run
    (unless the network returns it), as a model's locals go out of scope: the caching allocator then reuses
    its memory, and a large batch fits."""

    def __init__(self, calls, num_nodes, doc=None):
        self.calls = calls
        self._num_nodes = num_nodes
        self._release = [[] for _ in calls]
        if doc is not None:
            position = {}
            for p, c in enumerate(calls):
                for i in c.nodes:
                    position[i] = p
            last = dict(position)  # a value no call reads is dropped after its own call
            for n in doc["nodes"]:
                reader = position.get(n["index"])
                for j in n["inputs"]:
                    if reader is not None and reader != position.get(j):
                        last[j] = max(last.get(j, reader), reader)
            keep = set(doc["outputs"])
            for j, p in last.items():
                if j not in keep:
                    self._release[p].append(j)

    def new_values(self):
        return [None] * self._num_nodes

    def release(self, values, position):
        """Drops the values whose last reader is the call at `position`."""
        for j in self._release[position]:
            values[j] = None

    def run(self, values, release=True):
        for p, c in enumerate(self.calls):
            c.run(values)
            if release:
                self.release(values, p)


# ---------------------------------------------------------------------------------------------------
# Small helpers


def _per_dim(v, dims):
    """A per-dimension field (`kernel: [3]` means 3 on every axis) as `dims` values."""
    v = list(v)
    return v * dims if len(v) == 1 else v


def _dims(kind):
    """The spatial dimensions a kind name carries: `conv3d` -> 3, `max_pool1d` -> 1."""
    return int(kind[-2])


def _bound(v, infinite):
    """A float attribute; serde_json writes infinities as null."""
    return infinite if v is None else float(v)


def _is_cell_step(n):
    return n["op"] in CELLS and n["attrs"].get("step") is not None


def _torch_layout(kind, name, t):
    """A parameter (a tensor in mmbench's layout, `src/exec/params.rs`) in PyTorch's, contiguous."""
    if kind == "linear" and name == "weight":
        t = t.t()  # [in, out] -> [out, in]
    elif kind in CELLS and name == "weight_hh":
        t = t.t()  # [H, G*H] -> [G*H, H]
    elif kind.startswith("conv") and name == "weight":
        d = t.dim() - 2
        if kind.startswith("conv_transpose"):
            t = t.permute(d, d + 1, *range(d))  # [k..., in, out/g] -> [in, out/g, k...]
        else:
            t = t.permute(d + 1, d, *range(d))  # [k..., in/g, out] -> [out, in/g, k...]
    return t.contiguous()


# ---------------------------------------------------------------------------------------------------
# One node's computation: a function of its input tensors


def _gru_step(x, h, w_hh, b_hh):
    """PyTorch's GRU equations on a projected input `x [B, 3H]` (`W_ih x + b_ih`); `h` None is zeros."""
    gh = b_hh if h is None else F.linear(h, w_hh, b_hh)
    xr, xz, xn = x.chunk(3, -1)
    hr, hz, hn = gh.chunk(3, -1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return n - z * n if h is None else n + z * (h - n)


def _lstm_step(x, state, w_hh, b_hh):
    """PyTorch's LSTM equations on a projected input `x [B, 4H]`; the state is `[B, 2, H]` (h, c), None
    for zeros. Returns the new state."""
    if state is None:
        gates = x + b_hh
    else:
        gates = x + F.linear(state[:, 0], w_hh, b_hh)
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(i) * torch.tanh(g)
    if state is not None:
        c = torch.sigmoid(f) * state[:, 1] + c
    h = torch.sigmoid(o) * torch.tanh(c)
    return torch.stack((h, c), 1)


# Unary functions without parameters, as the models call them.
PLAIN_UNARY = {"relu": F.relu, "gelu": F.gelu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "silu": F.silu,
               "exp": torch.exp, "log": torch.log, "abs": torch.abs}


def _unary(func):
    """The function of a unary node's `func` (`"relu"` or `{"leaky_relu": {"slope": 0.1}}`)."""
    if isinstance(func, str):
        name, p = func, {}
    else:
        ((name, p),) = func.items()
    if name in PLAIN_UNARY:
        return PLAIN_UNARY[name]
    if name == "leaky_relu":
        slope = float(p["slope"])
        return lambda x: F.leaky_relu(x, slope)
    if name == "gelu_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "pow":
        e = float(p["exponent"])
        return lambda x: torch.pow(x, e)
    if name == "scale":
        factor, offset = float(p["factor"]), float(p["offset"])
        # As a model writes it: `x.clone()`, `x * s`, `x + b`, `x * s + b` (each an f32 rounding, as in Rust).
        if factor == 1.0 and offset == 0.0:
            return torch.clone
        if offset == 0.0:
            return lambda x: x * factor
        if factor == 1.0:
            return lambda x: x + offset
        return lambda x: x * factor + offset
    if name == "clamp":
        lo, hi = p.get("min"), p.get("max")
        lo = None if lo is None else float(lo)
        hi = None if hi is None else float(hi)
        return lambda x: torch.clamp(x, lo, hi)
    if name == "keep_range":
        lo, hi = _bound(p.get("low"), -math.inf), _bound(p.get("high"), math.inf)
        # Values strictly inside (low, high) are kept, the rest zeroed; an infinite bound needs no compare.
        if lo == -math.inf and hi == math.inf:
            return torch.clone
        if lo == -math.inf:
            return lambda x: torch.where(x < hi, x, 0.0)
        if hi == math.inf:
            return lambda x: torch.where(x > lo, x, 0.0)
        return lambda x: torch.where((x > lo) & (x < hi), x, 0.0)
    raise UnsupportedOp(f"unary function `{name}`")


def _compile(n, in_shapes, param):
    """The computation of a non-source node `n` as a function of its input tensors. `in_shapes` are its
    inputs' shapes; `param(name)` gives one of its parameters in PyTorch's layout on its device."""
    kind, a = n["op"], n["attrs"]
    out_shape = list(n["output"]["shape"])
    if kind in UNARY:
        return _unary(a["func"])
    if kind in BINARY:
        # An int64 operand is promoted to f32 by the op itself, as in the model's PyTorch code.
        return BINARY[kind]
    if kind in REDUCE:
        f, axes, keep = REDUCE[kind], tuple(a["axes"]), bool(a.get("keepdim", False))
        return lambda x: f(x, dim=axes, keepdim=keep)
    if kind == "linear":
        w = param("weight")
        b = param("bias") if a.get("bias", True) else None
        return lambda x: F.linear(x, w, b)
    if kind.startswith("conv"):
        d = _dims(kind)
        w = param("weight")
        b = param("bias") if a.get("bias", True) else None
        stride, padding = _per_dim(a["stride"], d), _per_dim(a["padding"], d)
        dilation, groups = _per_dim(a["dilation"], d), int(a["groups"])
        if kind.startswith("conv_transpose"):
            f = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[d - 1]
            out_pad = _per_dim(a.get("output_padding", [0]), d)
            return lambda x: f(x, w, b, stride, padding, out_pad, groups, dilation)
        f = (F.conv1d, F.conv2d, F.conv3d)[d - 1]
        return lambda x: f(x, w, b, stride, padding, dilation, groups)
    if kind == "batch_norm":
        w, b, mean, var = param("weight"), param("bias"), param("running_mean"), param("running_var")
        return lambda x: F.batch_norm(x, mean, var, w, b, False, 0.0, NORM_EPS)
    if kind == "layer_norm":
        shape = tuple(in_shapes[0][len(in_shapes[0]) - int(a.get("dims", 1)):])
        w, b = (param("weight"), param("bias")) if a.get("affine", True) else (None, None)
        return lambda x: F.layer_norm(x, shape, w, b, NORM_EPS)
    if kind == "instance_norm":
        w, b = (param("weight"), param("bias")) if a.get("affine", False) else (None, None)
        return lambda x: F.instance_norm(x, weight=w, bias=b, eps=NORM_EPS)
    if kind.startswith(("max_pool", "avg_pool")):
        d = _dims(kind)
        k = _per_dim(a["kernel"], d)
        s = _per_dim(a["stride"], d) if a.get("stride") is not None else k
        p, ceil = _per_dim(a.get("padding", [0]), d), bool(a.get("ceil_mode", False))
        if kind.startswith("max_pool"):
            f = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[d - 1]
            return lambda x: f(x, k, s, p, ceil_mode=ceil)
        f = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[d - 1]
        # Padded zeros count, PyTorch's default (count_include_pad=True), as in the reference.
        return lambda x: f(x, k, s, p, ceil_mode=ceil, count_include_pad=True)
    if kind.startswith("adaptive_avg_pool"):
        d = _dims(kind)
        f = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[d - 1]
        size = _per_dim(a["output"], d)
        return lambda x: f(x, size)
    if kind == "matmul":
        tb, scale = bool(a.get("transpose_b", False)), float(a.get("scale", 1.0))
        if tb and scale != 1.0:
            return lambda x, y: torch.matmul(x, y.transpose(-1, -2)) * scale
        if tb:
            return lambda x, y: torch.matmul(x, y.transpose(-1, -2))
        if scale != 1.0:
            return lambda x, y: torch.matmul(x, y) * scale
        return torch.matmul
    if kind == "softmax":
        axis = int(a.get("axis", -1))
        return lambda x: F.softmax(x, dim=axis)
    if kind == "embedding":
        table = param("weight")
        return lambda ids: F.embedding(ids, table)
    if kind == "outer_product":
        one_a, one_b = bool(a.get("prepend_one_a", True)), bool(a.get("prepend_one_b", True))

        def outer(x, y):
            # Tensor fusion: each vector extended by a constant 1 first, then the flattened outer product.
            if one_a:
                x = torch.cat((x.new_ones(*x.shape[:-1], 1), x), -1)
            if one_b:
                y = torch.cat((y.new_ones(*y.shape[:-1], 1), y), -1)
            return torch.matmul(x.unsqueeze(-1), y.unsqueeze(-2)).flatten(-2)

        return outer
    if kind == "concat":
        axis = int(a.get("axis", 1))
        return lambda *xs: torch.cat(xs, axis)
    if kind == "reshape":
        return lambda x: x.reshape(out_shape)
    if kind == "permute":
        perm = tuple(a["perm"])
        return lambda x: x.permute(perm)
    if kind == "slice":
        shape = in_shapes[0]
        axis = int(a["axis"]) % len(shape)
        size = shape[axis]
        start = int(a.get("start", 0))
        end = a.get("end")
        end = size if end is None else int(end)
        start, end = (start + size if start < 0 else start), (end + size if end < 0 else end)
        return lambda x: x.narrow(axis, start, end - start)
    if kind == "pad":
        spatial = len(in_shapes[0]) - 2
        p = _per_dim(a["padding"], spatial)
        pads = [q for pi in reversed(p) for q in (pi, pi)]  # F.pad lists the last axis first
        mode = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate"}[a.get("mode", "zeros")]
        return lambda x: F.pad(x, pads, mode=mode)
    if kind == "upsample":
        spatial = len(in_shapes[0]) - 2
        if a.get("mode", "linear") == "nearest":
            mode, corners = "nearest", None
        else:
            mode, corners = ("linear", "bilinear", "trilinear")[spatial - 1], bool(a.get("align_corners", False))
        # A scale factor is passed on as the model passes it: ATen then steps by 1/scale, not in/out.
        if a.get("scale") is not None:
            scale = float(a["scale"])
            return lambda x: F.interpolate(x, scale_factor=scale, mode=mode, align_corners=corners)
        size = list(a["size"])
        return lambda x: F.interpolate(x, size=size, mode=mode, align_corners=corners)
    if kind in CELLS:
        step, tax = a.get("step"), (0 if a.get("time_major", False) else 1)
        w_hh, b_hh = param("weight_hh"), param("bias_hh")
        cell = _gru_step if kind == "gru_cell" else _lstm_step

        def one_step(x, state=None):
            if step is not None:
                x = x.select(tax, step)
            return cell(x, state, w_hh, b_hh)

        return one_step
    raise UnsupportedOp(kind)


SUPPORTED = set(UNARY) | set(BINARY) | set(REDUCE) | set(SOURCES) | set(CELLS) | {
    "linear", "batch_norm", "layer_norm", "instance_norm", "matmul", "softmax", "embedding", "outer_product",
    "concat", "reshape", "permute", "slice", "pad", "upsample",
} | {f"{p}{d}d" for p in ("conv", "conv_transpose", "max_pool", "avg_pool", "adaptive_avg_pool") for d in (1, 2, 3)}


def _check_supported(nodes):
    """Raises UnsupportedOp naming every unsupported kind with its count and first node."""
    missing = {}
    for n in nodes:
        kind = n["op"]
        if kind not in SUPPORTED:
            count, first = missing.get(kind, (0, n["name"]))
            missing[kind] = (count + 1, first)
    if missing:
        parts = [f"`{k}` ({c} node{'s' if c > 1 else ''}, first `{first}`)" for k, (c, first) in missing.items()]
        raise UnsupportedOp("the PyTorch backend has no implementation of op kind(s): " + ", ".join(parts))


# ---------------------------------------------------------------------------------------------------
# Host work


class HostWork:
    """A CPU stand-in for work mmbench does not run (a decoder, a tokenizer, `.item()`): one streaming
    pass over `nbytes` of a preallocated buffer, then `flops` of arithmetic on an L1-resident block."""

    def __init__(self, flops, nbytes):
        # Filled (not np.zeros) so that every page is really mapped and the pass reads memory.
        self.buffer = np.full(nbytes // 4, 1.0, dtype=np.float32) if nbytes >= 4 else None
        self.passes = -(-flops // HOST_FLOPS_PER_PASS)
        self.block = np.full(HOST_BLOCK, 0.5, dtype=np.float32)

    def run(self):
        if self.buffer is not None:
            self.buffer.sum()
        a, half, quarter = self.block, np.float32(0.5), np.float32(0.25)
        # a -> a/2 + 1/4 keeps the block at its fixed point 0.5: no overflow, no denormals.
        for _ in range(self.passes):
            np.multiply(a, half, out=a)
            np.add(a, quarter, out=a)


# ---------------------------------------------------------------------------------------------------
# Recurrent layers


class _NotDerivable(Exception):
    """A node of a fused recurrent layer whose value nn.GRU / nn.LSTM does not return."""


class _Layer:
    """A recurrent layer as mmbench unrolls it: the input projection `proj`, cells of steps 0..T-1, and the
    slices, reshapes and concat that shape what the block returns."""

    def __init__(self, proj, cells, members):
        self.proj = proj
        self.cells = cells
        self.members = members

    @staticmethod
    def find(nodes):
        """Every well-formed recurrent layer of the graph (anything else runs step by step)."""
        by_proj = {}
        for n in nodes:
            if _is_cell_step(n):
                by_proj.setdefault(n["inputs"][0], []).append(n)
        layers = []
        for p, cells in by_proj.items():
            proj = nodes[p]
            cells.sort(key=lambda c: c["attrs"]["step"])
            c0 = cells[0]
            kind, a0 = c0["op"], c0["attrs"]
            tax = 0 if a0.get("time_major", False) else 1
            shape = proj["output"]["shape"]
            ok = (
                proj["op"] == "linear"
                and len(proj["inputs"]) == 1
                and len(shape) == 3
                and shape[2] == GATES[kind] * a0["hidden"]
                and len(cells) == shape[tax]
                and proj["call"] == c0["call"]  # the builder issued them as one call
                and all(
                    c["op"] == kind
                    and c["attrs"]["step"] == t
                    and c["attrs"]["hidden"] == a0["hidden"]
                    and bool(c["attrs"].get("time_major", False)) == bool(a0.get("time_major", False))
                    and c["weight_owner"] == c0["weight_owner"]
                    and c["inputs"] == ([p] if t == 0 else [p, cells[t - 1]["index"]])
                    for t, c in enumerate(cells)
                )
            )
            if not ok:
                continue
            members = {p} | {c["index"] for c in cells}
            # The block's own shaping nodes: named in its scope, reading only the layer. (Views in the middle
            # of the layer get call numbers of their own in the export, so the call field cannot tell.)
            scope = proj["name"].rsplit("/", 1)[0] + "/" if "/" in proj["name"] else ""
            for n in nodes[p + 1:]:
                if (n["op"] in ASSEMBLY and n["name"].startswith(scope) and n["inputs"]
                        and all(i in members and i != p for i in n["inputs"])):
                    members.add(n["index"])
            layers.append(_Layer(proj, cells, sorted(members)))
        return layers


# ---------------------------------------------------------------------------------------------------
# Building


class _Builder:
    def __init__(self, doc, device, fused_recurrent):
        self.nodes = doc["nodes"]
        self.device = torch.device(device)
        self.fused = fused_recurrent
        self.outputs = set(doc["outputs"])
        self.consumers = [[] for _ in self.nodes]
        for n in self.nodes:
            for i in n["inputs"]:
                self.consumers[i].append(n["index"])
        self.exec_dev = [self._exec_device(n) for n in self.nodes]
        self.place = [self._placement(n) for n in self.nodes]
        self._params = {}
        self._modules = {}

    # Devices ------------------------------------------------------------------------------------------

    def _exec_device(self, n):
        return CPU if n["op"] == "host_work" or n.get("device") == "cpu" else self.device

    def _placement(self, n):
        """Where a node's value lives: where it ran, except that inputs and host work hand theirs to the
        device unless only CPU nodes read them (raw data a host decoder reads stays on the host)."""
        i = n["index"]
        if n["op"] in ("input", "host_work"):
            if i in self.outputs or not self.consumers[i] or any(self.exec_dev[c] != CPU for c in self.consumers[i]):
                return self.device
            return CPU
        return self.exec_dev[i]

    def _reader(self, j, dev):
        """How a call running on `dev` reads value j: directly, or copied across devices."""
        if self.place[j] == dev:
            return None
        return lambda t: t.to(dev)

    # Parameters ---------------------------------------------------------------------------------------

    def param(self, n, name, dev):
        """Parameter `name` of node `n` in PyTorch's layout on `dev`, generated once per (key, device)."""
        (p,) = [p for p in n["params"] if p["name"] == name]
        key = (p["key"], dev)
        if key not in self._params:
            # Rearranged where it will live: on a GPU the copy is quick, on the CPU torch's is.
            t = torch.from_numpy(data.param_values(p)).to(dev)
            self._params[key] = _torch_layout(n["op"], name, t)
        return self._params[key]

    def node_fn(self, i):
        n = self.nodes[i]
        in_shapes = [self.nodes[j]["output"]["shape"] for j in n["inputs"]]
        return _compile(n, in_shapes, lambda name: self.param(n, name, self.exec_dev[i]))

    # Calls --------------------------------------------------------------------------------------------

    def make_call(self, nodes, materialized, fn):
        first = self.nodes[nodes[0]]
        # Host work, and on a GPU run the calls pinned to the CPU (Sarcasm's BERT).
        host = first["op"] == "host_work" or (self.device != CPU and all(self.exec_dev[i] == CPU for i in nodes))
        return Call(first["call"], list(nodes), list(materialized), first["stage"], first["modality"], host, fn)

    def source_call(self, i):
        n = self.nodes[i]
        kind, dev = n["op"], self.place[i]
        host_values = torch.from_numpy(data.source_values(n))
        if kind == "weight":
            value = host_values.to(self.exec_dev[i])

            def run(values):
                values[i] = value
        elif kind == "input":
            if dev == CPU:
                def run(values):
                    values[i] = host_values
            else:
                def run(values):
                    values[i] = host_values.to(dev)
        else:
            batch = n["output"]["shape"][0]  # host work's output is [B, *per-sample shape]
            a = n["attrs"]
            work = HostWork(int(a.get("flops_per_sample") or 0) * batch, int(a.get("bytes_per_sample") or 0) * batch)
            # Inputs of host work are dependencies; one on the device is read back, as `.item()` does.
            remote = [j for j in n["inputs"] if self.place[j] != CPU]

            def run(values):
                for j in remote:
                    x = values[j]
                    x[(0,) * x.dim()].item()
                work.run()
                values[i] = host_values if dev == CPU else host_values.to(dev)
        return self.make_call([i], [i], run)

    def steps_fn(self, nodes):
        """Runs `nodes` one after another (a multi-node call without a fused form)."""
        plan = []
        for i in nodes:
            f = self.node_fn(i)
            dev = self.exec_dev[i]
            ins = [(j, self._reader(j, dev)) for j in self.nodes[i]["inputs"]]
            plan.append((i, f, ins))

        def run(values):
            for i, f, ins in plan:
                values[i] = f(*[values[j] if r is None else r(values[j]) for j, r in ins])

        return run

    def node_call(self, i):
        n = self.nodes[i]
        if n["op"] in SOURCES:
            return self.source_call(i)
        f = self.node_fn(i)
        dev = self.exec_dev[i]
        ins = n["inputs"]
        # The common cases without per-input checks: the runner times these calls.
        if all(self.place[j] == dev for j in ins):
            if len(ins) == 1:
                (a,) = ins

                def run(values):
                    values[i] = f(values[a])
            elif len(ins) == 2:
                a, b = ins

                def run(values):
                    values[i] = f(values[a], values[b])
            else:
                def run(values):
                    values[i] = f(*[values[j] for j in ins])
            return self.make_call([i], [i], run)
        return self.make_call([i], [i], self.steps_fn([i]))

    def needed(self, members):
        """The members of a group that a node outside it or the graph's outputs read."""
        inside = set(members)
        return [i for i in members if i in self.outputs or any(c not in inside for c in self.consumers[i])]

    def layer_call(self, layer):
        """One nn.GRU / nn.LSTM call for a recurrent layer, or its steps one by one when something outside
        reads a value the module does not return (an LSTM's cell state before the last step)."""
        needed = self.needed(layer.members)
        try:
            derive = self._derivations(layer, needed)
        except _NotDerivable:
            return self.make_call(layer.members, layer.members, self.steps_fn(layer.members))
        proj, c0 = layer.proj, layer.cells[0]
        dev = self.exec_dev[proj["index"]]
        module = self._module(layer, dev)
        x_at = proj["inputs"][0]
        read = self._reader(x_at, dev)
        lstm = c0["op"] == "lstm_cell"

        def run(values):
            x = values[x_at] if read is None else read(values[x_at])
            if lstm:
                out, (hn, cn) = module(x)
            else:
                out, hn = module(x)
                cn = None
            ctx = (out, hn, cn)
            for j, f in derive:
                values[j] = f(ctx)

        return self.make_call(layer.members, needed, run)

    def _module(self, layer, dev):
        """The nn.GRU / nn.LSTM of a layer with mmbench's weights: W_ih, b_ih from the projection, W_hh, b_hh
        from the cells (shared by every layer with the same owners)."""
        proj, c0 = layer.proj, layer.cells[0]
        key = (proj["weight_owner"], c0["weight_owner"], dev)
        if key not in self._modules:
            hidden = c0["attrs"]["hidden"]
            features = self.nodes[proj["inputs"][0]]["output"]["shape"][2]
            cls = torch.nn.LSTM if c0["op"] == "lstm_cell" else torch.nn.GRU
            m = cls(features, hidden, num_layers=1, bias=True, batch_first=not c0["attrs"].get("time_major", False))
            w_ih = self.param(proj, "weight", CPU)
            b_ih = self.param(proj, "bias", CPU) if proj["attrs"].get("bias", True) else torch.zeros(w_ih.shape[0])
            with torch.no_grad():
                m.weight_ih_l0.copy_(w_ih)
                m.bias_ih_l0.copy_(b_ih)
                m.weight_hh_l0.copy_(self.param(c0, "weight_hh", CPU))
                m.bias_hh_l0.copy_(self.param(c0, "bias_hh", CPU))
            m.requires_grad_(False)
            m.eval()
            # Moving the module flattens its weights into the one buffer cuDNN wants.
            self._modules[key] = m.to(dev)
        return self._modules[key]

    def _derivations(self, layer, needed):
        """For each needed member, a function of (output, h_n, c_n) giving its value; _NotDerivable when
        one needs more than the module returns."""
        proj, cells = layer.proj, layer.cells
        steps = len(cells)
        tax = 0 if cells[0]["attrs"].get("time_major", False) else 1
        lstm = cells[0]["op"] == "lstm_cell"
        step_of = {c["index"]: c["attrs"]["step"] for c in cells}
        nodes = self.nodes
        # The module's output [B, T, H] ([T, B, H] time-major) and one step of it as the block shapes it.
        batch, hidden = cells[0]["output"]["shape"][0], cells[0]["attrs"]["hidden"]
        seq_shape = [batch, steps, hidden] if tax == 1 else [steps, batch, hidden]
        slot_shape = [batch, 1, hidden] if tax == 1 else [1, batch, hidden]

        def lstm_slice(n):
            """(step, start, end) of a slice of an LSTM state along its h/c axis, else None."""
            if n["op"] != "slice" or not lstm or n["inputs"][0] not in step_of:
                return None
            a = n["attrs"]
            if int(a["axis"]) % 3 != 1:
                return None
            start = int(a.get("start", 0)) % 2
            end = 2 if a.get("end") is None else (int(a["end"]) - 1) % 2 + 1
            return step_of[n["inputs"][0]], start, end

        def h_step(i):
            """The step t when node i is h_t up to a reshape."""
            n = nodes[i]
            if i in step_of and not lstm:
                return step_of[i]
            s = lstm_slice(n)
            if s is not None and s[1:] == (0, 1):
                return s[0]
            if n["op"] == "reshape":
                return h_step(n["inputs"][0])
            return None

        def derive(i):
            n = nodes[i]
            if i == proj["index"]:
                raise _NotDerivable
            if i in step_of:
                t = step_of[i]
                if not lstm:
                    # The last state as the model reads it, h_n; any other from the output sequence.
                    return (lambda ctx: ctx[1][0]) if t == steps - 1 else (lambda ctx: ctx[0].select(tax, t))
                if t == steps - 1:
                    return lambda ctx: torch.stack((ctx[1][0], ctx[2][0]), 1)
                raise _NotDerivable
            s = lstm_slice(n)
            if s is not None:
                t, start, end = s
                if (start, end) == (0, 1) and t == steps - 1:
                    return lambda ctx: ctx[1][0].unsqueeze(1)
                if (start, end) == (0, 1):
                    return lambda ctx: ctx[0].select(tax, t).unsqueeze(1)
                if (start, end) == (1, 2) and t == steps - 1:
                    return lambda ctx: ctx[2][0].unsqueeze(1)
            if (n["op"] == "concat" and n["output"]["shape"] == seq_shape
                    and int(n["attrs"].get("axis", 1)) % 3 == tax
                    and all(nodes[j]["output"]["shape"] == slot_shape for j in n["inputs"])
                    and [h_step(j) for j in n["inputs"]] == list(range(steps))):
                # The whole sequence of hidden states: the module's output itself.
                return lambda ctx: ctx[0]
            f = self.node_fn(i)
            args = [derive(j) for j in n["inputs"]]
            return lambda ctx: f(*[g(ctx) for g in args])

        return [(i, derive(i)) for i in needed]

    def cell_call(self, nodes):
        """A call of `linear` + one `gru_cell` / `lstm_cell` without a step (the TransFuser decoder's
        nn.GRUCell): one torch.gru_cell / torch.lstm_cell call, weight_ih being the linear's."""
        proj, cell = self.nodes[nodes[0]], self.nodes[nodes[1]]
        i, dev = cell["index"], self.exec_dev[cell["index"]]
        w_ih = self.param(proj, "weight", dev)
        b_ih = self.param(proj, "bias", dev) if proj["attrs"].get("bias", True) else None
        w_hh, b_hh = self.param(cell, "weight_hh", dev), self.param(cell, "bias_hh", dev)
        x_at = proj["inputs"][0]
        state_at = cell["inputs"][1] if len(cell["inputs"]) > 1 else None
        batch, hidden = cell["output"]["shape"][0], cell["attrs"]["hidden"]
        zeros = torch.zeros(batch, hidden, device=dev)
        read_x = self._reader(x_at, dev)
        read_s = self._reader(state_at, dev) if state_at is not None else None

        def inputs(values):
            x = values[x_at] if read_x is None else read_x(values[x_at])
            if state_at is None:
                return x, None
            return x, values[state_at] if read_s is None else read_s(values[state_at])

        if cell["op"] == "gru_cell":
            def run(values):
                x, h = inputs(values)
                values[i] = torch.gru_cell(x, zeros if h is None else h, w_ih, w_hh, b_ih, b_hh)
        else:
            def run(values):
                x, s = inputs(values)
                hc = (zeros, zeros) if s is None else (s[:, 0], s[:, 1])
                values[i] = torch.stack(torch.lstm_cell(x, hc, w_ih, w_hh, b_ih, b_hh), 1)

        return self.make_call(nodes, [i], run)

    def is_cell_call(self, nodes):
        """Whether a call is a projection and a stepless cell whose projection nothing else reads."""
        if len(nodes) != 2:
            return False
        proj, cell = self.nodes[nodes[0]], self.nodes[nodes[1]]
        return (proj["op"] == "linear" and cell["op"] in CELLS and cell["attrs"].get("step") is None
                and cell["inputs"][0] == proj["index"] and self.needed(nodes) == [cell["index"]]
                and self.exec_dev[proj["index"]] == self.exec_dev[cell["index"]])

    def build(self):
        _check_supported(self.nodes)
        if not self.fused:
            return [self.node_call(n["index"]) for n in self.nodes]
        layer_of = {}
        for layer in _Layer.find(self.nodes):
            for i in layer.members:
                layer_of[i] = layer
        calls, group = [], []

        def flush():
            if not group:
                return
            if len(group) == 1:
                calls.append(self.node_call(group[0]))
            elif self.is_cell_call(group):
                calls.append(self.cell_call(list(group)))
            else:
                calls.append(self.make_call(group, list(group), self.steps_fn(group)))
            group.clear()

        for n in self.nodes:
            i = n["index"]
            layer = layer_of.get(i)
            if layer is not None:
                if i == layer.proj["index"]:
                    flush()
                    calls.append(self.layer_call(layer))
                continue
            if group and (self.nodes[group[0]]["call"] != n["call"] or n["op"] in SOURCES
                          or self.nodes[group[0]]["op"] in SOURCES):
                flush()
            group.append(i)
        flush()
        return calls


def build_model(doc, device, fused_recurrent=True):
    """The graph of an exported document as PyTorch calls on `device`. With `fused_recurrent` (the
    default) a recurrent layer is one nn.GRU / nn.LSTM call; without, every node is its own call and cells
    run step by step. Raises UnsupportedOp, building nothing, when the graph holds op kinds this backend
    lacks."""
    b = _Builder(doc, device, fused_recurrent)
    return Model(b.build(), len(doc["nodes"]), doc)
