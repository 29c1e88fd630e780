"""The PyTorch graph of `mmbench_torch.ops` on tiny hand-written exported documents, checked against
computations that do not go through the same PyTorch call: direct loops in NumPy over mmbench's own
parameter layouts, float64 formulas, and the hand-worked values of mmbench's CPU reference tests
(`src/exec/reference/*.rs`)."""

import itertools
import math

import numpy as np
import pytest
import torch

from mmbench_torch import data, ops

CPU = torch.device("cpu")


def fan_in(n):
    b = float(np.float32(1.0) / np.sqrt(np.float32(n)))
    return {"uniform": {"low": -b, "high": b}}


AFFINE_SCALE = {"uniform": {"low": 0.5, "high": 1.5}}
AFFINE_SHIFT = {"uniform": {"low": -0.5, "high": 0.5}}


class Doc:
    """An exported document under construction (the fields `build_model` reads, as `mmbench export`
    writes them). Each node gets a call of its own unless given one."""

    def __init__(self, batch=2):
        self.batch = batch
        self.nodes = []

    def add(self, op, attrs, inputs, shape, dtype="f32", params=(), fill=None, name=None, call=None, owner=None,
            device=None, stage="encoder", modality="m"):
        i = len(self.nodes)
        name = name or f"n{i}/{op}"
        owner = owner or name
        node = {
            "index": i, "name": name, "op": op, "attrs": attrs, "inputs": list(inputs),
            "output": {"shape": list(shape), "dtype": dtype}, "stage": stage, "modality": modality,
            "call": i if call is None else call, "weight_owner": owner, "device": device,
            "params": [{"name": pn, "shape": list(ps), "init": init, "key": f"{owner}/{pn}"} for pn, ps, init in params],
        }
        if fill is not None:
            node["fill"] = fill
        self.nodes.append(node)
        return i

    def input(self, shape, dtype="f32", bound=16, **kw):
        name = kw.pop("name", f"in{len(self.nodes)}")
        fill = {"fill": "uniform", "low": -1.0, "high": 1.0, "key": name} if dtype == "f32" else {"fill": "ids", "bound": bound, "key": name}
        return self.add("input", {"shape": list(shape), "dtype": dtype}, [], shape, dtype=dtype, fill=fill, name=name, **kw)

    def shape(self, i):
        return self.nodes[i]["output"]["shape"]

    def doc(self, outputs):
        return {"schema": "mmbench.graph", "version": 1, "workload": "test", "batch": self.batch, "nodes": self.nodes,
                "outputs": list(outputs)}

    def param(self, i, name):
        (p,) = [p for p in self.nodes[i]["params"] if p["name"] == name]
        return data.param_values(p).astype(np.float64)


def run(doc, fused=True, feeds=None):
    """Every value of one run on the CPU; `feeds` replaces the generated values of some source nodes."""
    model = ops.build_model(doc, CPU, fused_recurrent=fused)
    values = model.new_values()
    feeds = feeds or {}
    with torch.no_grad():
        for c in model.calls:
            if c.nodes[0] in feeds:
                values[c.nodes[0]] = torch.as_tensor(feeds[c.nodes[0]])
            else:
                c.run(values)
    return model, values


def value_of(doc, i, **kw):
    """The value of node i when the graph returns it."""
    return run(doc.doc([i]), **kw)[1][i].numpy().astype(np.float64)


def source(doc, i):
    return data.source_values(doc.nodes[i]).astype(np.float64)


# ---------------------------------------------------------------------------------------------------
# Convolutions: direct loops over mmbench's weight layouts


def conv_reference(x, w, b, stride, padding, dilation, groups):
    """Forward convolution by its definition; `w` is `[k..., in/groups, out]` (mmbench's layout)."""
    d = x.ndim - 2
    k = w.shape[:d]
    cig, cout = w.shape[d], w.shape[d + 1]
    cog = cout // groups
    osz = [(x.shape[2 + a] + 2 * padding[a] - dilation[a] * (k[a] - 1) - 1) // stride[a] + 1 for a in range(d)]
    y = np.zeros((x.shape[0], cout, *osz))
    for bi, co in itertools.product(range(x.shape[0]), range(cout)):
        g = co // cog
        for o in np.ndindex(*osz):
            acc = 0.0
            for t in np.ndindex(*k):
                pos = [o[a] * stride[a] + t[a] * dilation[a] - padding[a] for a in range(d)]
                if all(0 <= pos[a] < x.shape[2 + a] for a in range(d)):
                    for ci in range(cig):
                        acc += x[(bi, g * cig + ci, *pos)] * w[(*t, ci, co)]
            y[(bi, co, *o)] = acc + (b[co] if b is not None else 0.0)
    return y


def conv_transpose_reference(x, w, b, stride, padding, output_padding, groups):
    """Transposed convolution as a scatter; `w` is `[k..., in, out/groups]` (mmbench's layout)."""
    d = x.ndim - 2
    k = w.shape[:d]
    cin, cog = w.shape[d], w.shape[d + 1]
    cig = cin // groups
    osz = [(x.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + k[a] + output_padding[a] for a in range(d)]
    y = np.zeros((x.shape[0], cog * groups, *osz))
    for bi, ci in itertools.product(range(x.shape[0]), range(cin)):
        g = ci // cig
        for i in np.ndindex(*x.shape[2:]):
            for t in np.ndindex(*k):
                pos = [i[a] * stride[a] + t[a] - padding[a] for a in range(d)]
                if all(0 <= pos[a] < osz[a] for a in range(d)):
                    for n in range(cog):
                        y[(bi, g * cog + n, *pos)] += x[(bi, ci, *i)] * w[(*t, ci, n)]
    if b is not None:
        y += b.reshape(1, -1, *([1] * d))
    return y


def conv_doc(kind, x_shape, out, kernel, stride, padding, dilation=(1,), groups=1, output_padding=(0,), bias=True):
    d = ops._dims(kind)
    doc = Doc()
    x = doc.input(x_shape)
    k = [kernel[0]] * d if len(kernel) == 1 else list(kernel)
    cin = x_shape[1]
    transposed = kind.startswith("conv_transpose")
    if transposed:
        wshape, fan = [*k, cin, out // groups], out // groups * math.prod(k)
        osz = [(x_shape[2 + a] - 1) * ops._per_dim(stride, d)[a] - 2 * ops._per_dim(padding, d)[a] + k[a]
               + ops._per_dim(output_padding, d)[a] for a in range(d)]
    else:
        wshape, fan = [*k, cin // groups, out], cin // groups * math.prod(k)
        osz = [(x_shape[2 + a] + 2 * ops._per_dim(padding, d)[a] - ops._per_dim(dilation, d)[a] * (k[a] - 1) - 1)
               // ops._per_dim(stride, d)[a] + 1 for a in range(d)]
    params = [("weight", wshape, fan_in(fan))] + ([("bias", [out], fan_in(fan))] if bias else [])
    attrs = {"out": out, "kernel": list(kernel), "stride": list(stride), "padding": list(padding),
             "dilation": list(dilation), "output_padding": list(output_padding), "groups": groups, "bias": bias}
    c = doc.add(kind, attrs, [x], [x_shape[0], out, *osz], params=params)
    return doc, x, c


@pytest.mark.parametrize("kind,x_shape,out,kernel,stride,padding,dilation,groups", [
    ("conv2d", [2, 4, 5, 6], 6, [3], [2], [1], [1], 2),
    ("conv2d", [1, 3, 6, 5], 4, [3, 2], [1, 2], [0, 1], [2, 1], 1),
    ("conv1d", [2, 6, 9], 4, [3], [2], [1], [2], 2),
    ("conv3d", [1, 2, 4, 3, 4], 3, [2], [1], [1], [1], 1),
])
def test_convolutions_match_a_direct_loop_over_mmbench_layouts(kind, x_shape, out, kernel, stride, padding, dilation, groups):
    doc, x, c = conv_doc(kind, x_shape, out, kernel, stride, padding, dilation, groups)
    d = ops._dims(kind)
    want = conv_reference(source(doc, x), doc.param(c, "weight"), doc.param(c, "bias"),
                          ops._per_dim(stride, d), ops._per_dim(padding, d), ops._per_dim(dilation, d), groups)
    got = value_of(doc, c)
    assert got.shape == want.shape == tuple(doc.shape(c))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,x_shape,out,kernel,stride,padding,output_padding,groups", [
    ("conv_transpose2d", [2, 4, 3, 2], 6, [3], [2], [1], [1], 2),
    ("conv_transpose1d", [1, 3, 4], 2, [2], [2], [0], [0], 1),
    ("conv_transpose3d", [1, 2, 2, 2, 3], 2, [2], [2], [1], [1], 2),
])
def test_transposed_convolutions_match_a_scatter_over_mmbench_layouts(kind, x_shape, out, kernel, stride, padding, output_padding, groups):
    doc, x, c = conv_doc(kind, x_shape, out, kernel, stride, padding, groups=groups, output_padding=output_padding)
    d = ops._dims(kind)
    want = conv_transpose_reference(source(doc, x), doc.param(c, "weight"), doc.param(c, "bias"), ops._per_dim(stride, d),
                                    ops._per_dim(padding, d), ops._per_dim(output_padding, d), groups)
    got = value_of(doc, c)
    assert got.shape == want.shape == tuple(doc.shape(c))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------------
# Dense layers and normalisations


def test_linear_reads_the_in_out_layout_and_weights_are_shared_by_owner():
    doc = Doc()
    x = doc.input([2, 3, 4])
    params = [("weight", [4, 5], fan_in(4)), ("bias", [5], fan_in(4))]
    a = doc.add("linear", {"out": 5, "bias": True}, [x], [2, 3, 5], params=params, owner="shared")
    b = doc.add("linear", {"out": 5, "bias": True}, [x], [2, 3, 5], params=params, owner="shared")
    nb = doc.add("linear", {"out": 5, "bias": False}, [x], [2, 3, 5], params=params[:1], owner="other")
    model, v = run(doc.doc([a, b, nb]))
    xv = source(doc, x)
    want = xv @ doc.param(a, "weight") + doc.param(a, "bias")
    np.testing.assert_allclose(v[a].numpy(), want, rtol=1e-5, atol=1e-6)
    # One owner, one set of values (and one tensor).
    assert torch.equal(v[a], v[b])
    np.testing.assert_allclose(v[nb].numpy(), xv @ doc.param(nb, "weight"), rtol=1e-5, atol=1e-6)


def test_batch_norm_uses_running_statistics():
    doc = Doc()
    x = doc.input([2, 3, 4])
    params = [("weight", [3], AFFINE_SCALE), ("bias", [3], AFFINE_SHIFT), ("running_mean", [3], AFFINE_SHIFT),
              ("running_var", [3], AFFINE_SCALE)]
    bn = doc.add("batch_norm", {}, [x], [2, 3, 4], params=params)
    p = {name: doc.param(bn, name).reshape(1, 3, 1) for name in ("weight", "bias", "running_mean", "running_var")}
    want = (source(doc, x) - p["running_mean"]) / np.sqrt(p["running_var"] + 1e-5) * p["weight"] + p["bias"]
    np.testing.assert_allclose(value_of(doc, bn), want, rtol=1e-5, atol=1e-6)


def test_layer_norm_and_instance_norm():
    doc = Doc()
    x = doc.input([2, 3, 4, 5])
    ln = doc.add("layer_norm", {"dims": 2, "affine": True}, [x], [2, 3, 4, 5],
                 params=[("weight", [4, 5], AFFINE_SCALE), ("bias", [4, 5], AFFINE_SHIFT)])
    inn = doc.add("instance_norm", {"affine": True}, [x], [2, 3, 4, 5],
                  params=[("weight", [3], AFFINE_SCALE), ("bias", [3], AFFINE_SHIFT)])
    plain = doc.add("instance_norm", {"affine": False}, [x], [2, 3, 4, 5])
    _, v = run(doc.doc([ln, inn, plain]))
    xv = source(doc, x)

    def normalize(a, axes):
        m = a.mean(axis=axes, keepdims=True)
        return (a - m) / np.sqrt(((a - m) ** 2).mean(axis=axes, keepdims=True) + 1e-5)

    np.testing.assert_allclose(v[ln].numpy(), normalize(xv, (2, 3)) * doc.param(ln, "weight") + doc.param(ln, "bias"), atol=1e-5)
    w, b = doc.param(inn, "weight").reshape(1, 3, 1, 1), doc.param(inn, "bias").reshape(1, 3, 1, 1)
    np.testing.assert_allclose(v[inn].numpy(), normalize(xv, (2, 3)) * w + b, atol=1e-5)
    np.testing.assert_allclose(v[plain].numpy(), normalize(xv, (2, 3)), atol=1e-5)


def test_matmul_softmax_embedding_outer_product():
    doc = Doc()
    q = doc.input([2, 1, 3, 4])
    k = doc.input([2, 2, 5, 4])
    s = doc.add("matmul", {"transpose_b": True, "scale": 0.5}, [q, k], [2, 2, 3, 5])
    sm = doc.add("softmax", {"axis": -1}, [s], [2, 2, 3, 5])
    ids = doc.input([2, 3], dtype="i64", bound=7)
    emb = doc.add("embedding", {"vocab": 7, "dim": 4}, [ids], [2, 3, 4],
                  params=[("weight", [7, 4], {"uniform": {"low": -1.7320508, "high": 1.7320508}})])
    a = doc.input([2, 3])
    b = doc.input([2, 2])
    op = doc.add("outer_product", {"prepend_one_a": True, "prepend_one_b": False}, [a, b], [2, 8])
    _, v = run(doc.doc([sm, emb, op]))
    scores = 0.5 * np.einsum("bhik,bhjk->bhij", source(doc, q), source(doc, k))
    e = np.exp(scores - scores.max(-1, keepdims=True))
    np.testing.assert_allclose(v[s].numpy(), scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(v[sm].numpy(), e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-6)
    table = doc.param(emb, "weight")
    assert v[ids].dtype == torch.int64
    np.testing.assert_array_equal(v[emb].numpy(), table[v[ids].numpy()])
    av, bv = source(doc, a), source(doc, b)
    ext = np.concatenate([np.ones((2, 1)), av], 1)
    np.testing.assert_allclose(v[op].numpy(), np.einsum("bi,bj->bij", ext, bv).reshape(2, 8), rtol=1e-6)


# ---------------------------------------------------------------------------------------------------
# Elementwise, reductions and data movement


def unary(func):
    doc = Doc()
    x = doc.input([3, 4])
    y = doc.add(func if isinstance(func, str) else next(iter(func)), {"func": func}, [x], [3, 4])
    return source(doc, x), value_of(doc, y)


@pytest.mark.parametrize("func,f", [
    ("relu", lambda x: np.maximum(x, 0)),
    ({"leaky_relu": {"slope": 0.10000000149011612}}, lambda x: np.where(x >= 0, x, np.float32(0.1) * x)),
    ("gelu", lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    ("gelu_tanh", lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x))),
    ("silu", lambda x: x / (1 + np.exp(-x))),
    ("tanh", np.tanh),
    ("exp", np.exp),
    ("abs", np.abs),
    ({"pow": {"exponent": 2.0}}, lambda x: x**2),
    ({"scale": {"factor": -1.0, "offset": 1.0}}, lambda x: 1 - x),
    ({"scale": {"factor": 0.125, "offset": 0.0}}, lambda x: x / 8),
    ({"scale": {"factor": 1.0, "offset": 0.0}}, lambda x: x),
    ({"clamp": {"min": None, "max": 0.25}}, lambda x: np.minimum(x, 0.25)),
    ({"clamp": {"min": -0.5, "max": 0.5}}, lambda x: np.clip(x, -0.5, 0.5)),
    # serde_json writes an infinite bound as null: -inf for low, +inf for high.
    ({"keep_range": {"low": None, "high": 0.5}}, lambda x: np.where(x < 0.5, x, 0)),
    ({"keep_range": {"low": 0.0, "high": None}}, lambda x: np.where(x > 0, x, 0)),
    ({"keep_range": {"low": -0.5, "high": 0.5}}, lambda x: np.where((x > -0.5) & (x < 0.5), x, 0)),
])
def test_unary_functions(func, f):
    x, y = unary(func)
    np.testing.assert_allclose(y, f(x), rtol=2e-6, atol=1e-6)


def test_log_of_positive_values():
    doc = Doc()
    x = doc.add("weight", {"shape": [2, 3]}, [], [2, 3], fill={"fill": "uniform", "low": 0.5, "high": 2.0, "key": "w"})
    y = doc.add("log", {"func": "log"}, [x], [2, 3])
    np.testing.assert_allclose(value_of(doc, y), np.log(source(doc, x)), rtol=1e-6)


def test_binary_ops_broadcast_and_promote_ids():
    doc = Doc()
    a = doc.input([2, 3, 4])
    b = doc.input([3, 1])
    ids = doc.input([2, 1, 4], dtype="i64", bound=5)
    outs = {kind: doc.add(kind, {"kind": kind}, [a, b], [2, 3, 4]) for kind in ops.BINARY}
    prod = doc.add("mul", {"kind": "mul"}, [a, ids], [2, 3, 4])
    model, v = run(doc.doc([*outs.values(), prod]))
    av, bv = source(doc, a), source(doc, b)
    want = {"add": av + bv, "sub": av - bv, "mul": av * bv, "div": av / bv, "maximum": np.maximum(av, bv),
            "minimum": np.minimum(av, bv)}
    for kind, i in outs.items():
        np.testing.assert_allclose(v[i].numpy(), want[kind], rtol=1e-6, err_msg=kind)
    assert v[prod].dtype == torch.float32
    np.testing.assert_allclose(v[prod].numpy(), av * v[ids].numpy(), rtol=1e-6)


def test_reductions_concat_reshape_permute_slice():
    doc = Doc()
    x = doc.input([2, 3, 4])
    mean = doc.add("reduce_mean", {"axes": [0, 2], "keepdim": True}, [x], [1, 3, 1])
    total = doc.add("reduce_sum", {"axes": [-1], "keepdim": False}, [x], [2, 3])
    top = doc.add("reduce_max", {"axes": [1], "keepdim": False}, [x], [2, 4])
    cat = doc.add("concat", {"axis": -1}, [x, x], [2, 3, 8])
    r = doc.add("reshape", {"shape": [0, -1]}, [cat], [2, 24])
    p = doc.add("permute", {"perm": [2, 0, 1]}, [x], [4, 2, 3])
    s = doc.add("slice", {"axis": 1, "start": -2, "end": None}, [x], [2, 2, 4])
    s2 = doc.add("slice", {"axis": -1, "start": 1, "end": -1}, [p], [4, 2, 1])
    _, v = run(doc.doc([mean, total, top, r, s, s2]))
    xv = source(doc, x)
    np.testing.assert_allclose(v[mean].numpy(), xv.mean(axis=(0, 2), keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(v[total].numpy(), xv.sum(-1), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(v[top].numpy(), xv.max(1))
    np.testing.assert_array_equal(v[r].numpy(), np.concatenate([xv, xv], -1).reshape(2, 24))
    np.testing.assert_array_equal(v[p].numpy(), xv.transpose(2, 0, 1))
    np.testing.assert_array_equal(v[s].numpy(), xv[:, 1:])
    np.testing.assert_array_equal(v[s2].numpy(), xv.transpose(2, 0, 1)[:, :, 1:2])


def feed(doc, shape, values):
    """A source node whose values the test supplies (through `run(..., feeds=...)`)."""
    i = doc.input(shape)
    return i, np.asarray(values, dtype=np.float32).reshape(shape)


def movement(op, attrs, x_values, x_shape, out_shape):
    doc = Doc()
    x, xv = feed(doc, x_shape, x_values)
    y = doc.add(op, attrs, [x], out_shape)
    return run(doc.doc([y]), feeds={x: xv})[1][y].numpy().reshape(-1).tolist()


def test_pad_modes_as_the_reference_pads():
    # src/exec/reference/conv.rs, pad_modes_by_hand.
    assert movement("pad", {"padding": [2], "mode": "zeros"}, [1, 2, 3], [1, 1, 3], [1, 1, 7]) == [0, 0, 1, 2, 3, 0, 0]
    assert movement("pad", {"padding": [2], "mode": "reflect"}, [1, 2, 3], [1, 1, 3], [1, 1, 7]) == [3, 2, 1, 2, 3, 2, 1]
    assert movement("pad", {"padding": [2], "mode": "replicate"}, [1, 2, 3], [1, 1, 3], [1, 1, 7]) == [1, 1, 1, 2, 3, 3, 3]
    assert movement("pad", {"padding": [1], "mode": "replicate"}, [5], [1, 1, 1, 1], [1, 1, 3, 3]) == [5] * 9
    # Per-axis padding of a volume: D by 0, H by 1, W by 2.
    got = movement("pad", {"padding": [0, 1, 2], "mode": "zeros"}, np.arange(8), [1, 1, 2, 2, 2], [1, 1, 2, 4, 6])
    want = np.pad(np.arange(8).reshape(1, 1, 2, 2, 2), ((0, 0), (0, 0), (0, 0), (1, 1), (2, 2))).reshape(-1).tolist()
    assert got == want


def test_pools_as_the_reference_pools():
    ramp25 = np.arange(25)
    # src/exec/reference/pool.rs: ceil_mode keeps the partial last window; avg counts padding but not what
    # ceil_mode adds past it.
    assert movement("max_pool2d", {"kernel": [2], "stride": [2], "padding": [0], "ceil_mode": True}, ramp25, [1, 1, 5, 5],
                    [1, 1, 3, 3]) == [6, 8, 9, 16, 18, 19, 21, 23, 24]
    assert movement("max_pool2d", {"kernel": [2], "stride": None, "padding": [0], "ceil_mode": False}, ramp25, [1, 1, 5, 5],
                    [1, 1, 2, 2]) == [6, 8, 16, 18]
    got = movement("avg_pool1d", {"kernel": [3], "stride": [2], "padding": [1], "ceil_mode": True}, np.arange(6), [1, 1, 6], [1, 1, 4])
    np.testing.assert_allclose(got, [1 / 3, 2, 4, 2.5], rtol=1e-6)
    assert movement("avg_pool1d", {"kernel": [2], "stride": [3], "padding": [0], "ceil_mode": True}, np.arange(4), [1, 1, 4],
                    [1, 1, 2]) == [0.5, 3]
    assert movement("max_pool3d", {"kernel": [2], "stride": [2], "padding": [0], "ceil_mode": False}, np.arange(16),
                    [1, 1, 2, 2, 4], [1, 1, 1, 1, 2]) == [13, 15]
    # Adaptive windows overlap when the size does not divide.
    assert movement("adaptive_avg_pool1d", {"output": [3]}, np.arange(7), [1, 1, 7], [1, 1, 3]) == [1, 3, 5]
    assert movement("adaptive_avg_pool1d", {"output": [3]}, [2, 4], [1, 1, 2], [1, 1, 3]) == [2, 3, 4]
    assert movement("adaptive_avg_pool2d", {"output": [2, 2]}, np.arange(9), [1, 1, 3, 3], [1, 1, 2, 2]) == [2, 3, 5, 6]


def test_upsampling_as_the_reference_upsamples():
    # src/exec/reference/upsample.rs's hand-worked cases.
    up = {"scale": None, "size": None, "mode": "linear", "align_corners": False}
    want = [1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0]
    np.testing.assert_allclose(movement("upsample", {**up, "scale": 2.0}, [1, 2, 3, 4], [1, 1, 2, 2], [1, 1, 4, 4]), want)
    np.testing.assert_allclose(movement("upsample", {**up, "size": [4, 4]}, [1, 2, 3, 4], [1, 1, 2, 2], [1, 1, 4, 4]), want)
    t = 1 / 3
    corners = [1, 1 + t, 1 + 2 * t, 2, 1 + 2 * t, 2, 2 + t, 2 + 2 * t, 2 + t, 2 + 2 * t, 3, 3 + t, 3, 3 + t, 3 + 2 * t, 4]
    np.testing.assert_allclose(movement("upsample", {**up, "scale": 2.0, "align_corners": True}, [1, 2, 3, 4], [1, 1, 2, 2],
                                        [1, 1, 4, 4]), corners, rtol=1e-6)
    # A scale factor sets the step (1/scale), not the sizes.
    np.testing.assert_allclose(movement("upsample", {**up, "scale": 1.5}, [0, 1, 2], [1, 1, 3], [1, 1, 4]),
                               [0, 0.5, 7 / 6, 11 / 6], rtol=1e-6)
    np.testing.assert_allclose(movement("upsample", {**up, "size": [4]}, [0, 1, 2], [1, 1, 3], [1, 1, 4]), [0, 0.625, 1.375, 2])
    nearest = {**up, "mode": "nearest"}
    assert movement("upsample", {**nearest, "scale": 1.6}, [0, 1, 2], [1, 1, 3], [1, 1, 4]) == [0, 0, 1, 1]
    assert movement("upsample", {**nearest, "size": [4]}, [0, 1, 2], [1, 1, 3], [1, 1, 4]) == [0, 0, 1, 2]
    # Trilinear, corners aligned: 2x2x2 of 4d + 2h + w to 3x3x3 is 2d + h + w/2 on the half grid.
    got = movement("upsample", {**up, "size": [3, 3, 3], "align_corners": True}, np.arange(8), [1, 1, 2, 2, 2], [1, 1, 3, 3, 3])
    np.testing.assert_allclose(got, [2 * d + h + w / 2 for d, h, w in np.ndindex(3, 3, 3)], rtol=1e-6)


# ---------------------------------------------------------------------------------------------------
# Recurrent layers


def recurrent(doc, x, kind, hidden, ret, time_major=False, scope="rnn"):
    """A `gru` / `lstm` block as mmbench's builder unrolls it (`src/graph/blocks/recurrent.rs`), with the
    call numbers the export gives it: views start a call of their own, the next kernel continues it."""
    shape = doc.shape(x)
    t_axis = 0 if time_major else 1
    steps, batch, features = shape[t_axis], shape[1 - t_axis], shape[2]
    gates, lstm = ops.GATES[kind], kind == "lstm_cell"
    proj = doc.add("linear", {"out": gates * hidden, "bias": True}, [x], [*shape[:2], gates * hidden], name=f"{scope}/input_proj",
                   params=[("weight", [features, gates * hidden], fan_in(features)), ("bias", [gates * hidden], fan_in(features))])
    call = proj
    cell_params = [("weight_hh", [hidden, gates * hidden], fan_in(hidden)), ("bias_hh", [gates * hidden], fan_in(hidden))]
    state, outs = None, []
    slot = [1, batch, hidden] if time_major else [batch, 1, hidden]
    for t in range(steps):
        state = doc.add(kind, {"hidden": hidden, "step": t, "time_major": time_major}, [proj] + ([state] if state is not None else []),
                        [batch, 2, hidden] if lstm else [batch, hidden], params=cell_params, name=f"{scope}/t{t}/cell",
                        owner=f"{scope}/cell/cell", call=call)
        if ret == "sequence":
            h = doc.add("slice", {"axis": 1, "start": 0, "end": 1}, [state], [batch, 1, hidden], name=f"{scope}/t{t}/h", call=call) if lstm else state
            outs.append(doc.add("reshape", {"shape": slot}, [h], slot, name=f"{scope}/t{t}/h_seq"))
            call = outs[-1]
    if ret == "sequence":
        return doc.add("concat", {"axis": t_axis}, outs, [steps, batch, hidden] if time_major else [batch, steps, hidden],
                       name=f"{scope}/sequence", call=call)
    if not lstm:
        return state
    which = 0 if ret == "last" else 1
    s = doc.add("slice", {"axis": 1, "start": which, "end": which + 1}, [state], [batch, 1, hidden],
                name=f"{scope}/{'h_last' if which == 0 else 'c_last'}", call=call)
    return doc.add("reshape", {"shape": [batch, hidden]}, [s], [batch, hidden], name=f"{scope}/state_out")


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def rnn_reference(doc, x, kind, hidden, time_major):
    """Every step's (h, c) in float64 from PyTorch's equations and mmbench's parameter layouts."""
    xv = source(doc, x)
    if time_major:
        xv = xv.transpose(1, 0, 2)
    proj = next(n["index"] for n in doc.nodes if n["name"].endswith("input_proj") and n["inputs"] == [x])
    cell = next(n["index"] for n in doc.nodes if n["op"] == kind and n["inputs"][0] == proj)
    g = xv @ doc.param(proj, "weight") + doc.param(proj, "bias")
    w, b = doc.param(cell, "weight_hh"), doc.param(cell, "bias_hh")
    h = np.zeros((xv.shape[0], hidden))
    c = np.zeros_like(h)
    hs, cs = [], []
    for t in range(xv.shape[1]):
        gx, gh = g[:, t], h @ w + b
        if kind == "gru_cell":
            r = sigmoid(gx[:, :hidden] + gh[:, :hidden])
            z = sigmoid(gx[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
            n = np.tanh(gx[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
            h = (1 - z) * n + z * h
        else:
            a = gx + gh
            i, f, gg, o = (a[:, q * hidden:(q + 1) * hidden] for q in range(4))
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(gg)
            h = sigmoid(o) * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, 1), np.stack(cs, 1)


@pytest.mark.parametrize("kind,ret,time_major", [
    ("gru_cell", "last", False),
    ("gru_cell", "sequence", False),
    ("gru_cell", "sequence", True),
    ("lstm_cell", "last_cell", True),
    ("lstm_cell", "last", False),
    ("lstm_cell", "sequence", True),
])
def test_a_recurrent_layer_is_one_call_equal_to_its_steps(kind, ret, time_major):
    doc = Doc()
    x = doc.input([4, 2, 3] if time_major else [2, 4, 3])
    y = recurrent(doc, x, kind, 5, ret, time_major)
    head = doc.add("relu", {"func": "relu"}, [y], doc.shape(y))
    d = doc.doc([head])
    fused, fv = run(d)
    stepwise, sv = run(d, fused=False)
    # The projection, the cells and the shaping views are one call; it materializes what the head reads.
    (layer,) = [c for c in fused.calls if len(c.nodes) > 1]
    assert layer.nodes == list(range(1, y + 1))
    assert layer.materialized == [y]
    assert len(stepwise.calls) == len(d["nodes"])
    np.testing.assert_allclose(fv[y].numpy(), sv[y].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fv[head].numpy(), sv[head].numpy(), rtol=1e-5, atol=1e-5)
    hs, cs = rnn_reference(doc, x, kind, 5, time_major)
    want = {"last": hs[:, -1], "last_cell": cs[:, -1], "sequence": hs.transpose(1, 0, 2) if time_major else hs}[ret]
    np.testing.assert_allclose(sv[y].numpy(), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fv[y].numpy(), want, rtol=1e-5, atol=1e-5)


def test_stacked_layers_and_values_read_mid_sequence():
    doc = Doc()
    x = doc.input([2, 3, 4])
    seq = recurrent(doc, x, "gru_cell", 3, "sequence", scope="l0")
    last = recurrent(doc, seq, "lstm_cell", 2, "last", scope="l1")
    # Something outside reads an LSTM state before the last step: nn.LSTM cannot give it, so that layer
    # runs step by step, still in one call.
    x2 = doc.input([2, 3, 4])
    recurrent(doc, x2, "lstm_cell", 2, "last", scope="l2")
    mid = next(n["index"] for n in doc.nodes if n["name"] == "l2/t1/cell")
    peek = doc.add("abs", {"func": "abs"}, [mid], doc.shape(mid))
    d = doc.doc([last, peek])
    fused, fv = run(d)
    _, sv = run(d, fused=False)
    np.testing.assert_allclose(fv[last].numpy(), sv[last].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fv[peek].numpy(), sv[peek].numpy(), rtol=1e-6)
    multi = [c for c in fused.calls if len(c.nodes) > 1]
    assert len(multi) == 3
    assert multi[0].materialized == [seq]
    assert mid in multi[2].materialized
    _, cs = rnn_reference(doc, x2, "lstm_cell", 2, False)
    np.testing.assert_allclose(fv[mid].numpy()[:, 1], cs[:, 1], rtol=1e-5, atol=1e-6)


def test_a_single_gru_cell_with_its_projection_is_one_gru_cell_call():
    # The TransFuser waypoint decoder: linear + gru_cell (no step) with an explicit hidden state.
    doc = Doc()
    x = doc.input([2, 4])
    h = doc.input([2, 6])
    proj = doc.add("linear", {"out": 18, "bias": True}, [x], [2, 18], params=[("weight", [4, 18], fan_in(4)), ("bias", [18], fan_in(4))])
    cell = doc.add("gru_cell", {"hidden": 6, "step": None, "time_major": False}, [proj, h], [2, 6], call=proj,
                   params=[("weight_hh", [6, 18], fan_in(6)), ("bias_hh", [18], fan_in(6))])
    d = doc.doc([cell])
    fused, fv = run(d)
    _, sv = run(d, fused=False)
    (call,) = [c for c in fused.calls if len(c.nodes) > 1]
    assert (call.nodes, call.materialized) == ([proj, cell], [cell])
    g = source(doc, x) @ doc.param(proj, "weight") + doc.param(proj, "bias")
    hv = source(doc, h)
    gh = hv @ doc.param(cell, "weight_hh") + doc.param(cell, "bias_hh")
    r, z = sigmoid(g[:, :6] + gh[:, :6]), sigmoid(g[:, 6:12] + gh[:, 6:12])
    want = (1 - z) * np.tanh(g[:, 12:] + r * gh[:, 12:]) + z * hv
    np.testing.assert_allclose(fv[cell].numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sv[cell].numpy(), want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------------
# Sources, host work, placement, unsupported ops


def test_sources_and_host_work_produce_their_generated_values():
    doc = Doc()
    raw = doc.input([2, 100], name="text/input")
    tok = doc.add("host_work", {"label": "tokenise", "output": [5], "flops_per_sample": 50_000, "bytes_per_sample": 4_000,
                                "threads": 1, "dtype": "i64"}, [raw], [2, 5], dtype="i64",
                  fill={"fill": "ids", "bound": 11, "key": "text/host_work"}, name="text/host_work")
    feat = doc.add("host_work", {"label": "librosa", "output": [3], "flops_per_sample": 0, "bytes_per_sample": 0,
                                 "threads": None, "dtype": "f32"}, [], [2, 3],
                   fill={"fill": "uniform", "low": -1.0, "high": 1.0, "key": "audio/host_work"}, name="audio/host_work")
    w = doc.add("weight", {"shape": [3], "kind": "buffer", "dtype": "f32", "init": "arange"}, [], [3], fill={"fill": "arange"})
    emb = doc.add("embedding", {"vocab": 11, "dim": 3}, [tok], [2, 5, 3], params=[("weight", [11, 3], fan_in(3))])
    y = doc.add("add", {"kind": "add"}, [feat, w], [2, 3])
    model, v = run(doc.doc([emb, y]))
    assert [c.host for c in model.calls] == [False, True, True, False, False, False]
    assert v[tok].dtype == torch.int64
    np.testing.assert_array_equal(v[tok].numpy(), data.source_values(doc.nodes[tok]))
    np.testing.assert_array_equal(v[feat].numpy(), data.source_values(doc.nodes[feat]))
    np.testing.assert_array_equal(v[w].numpy(), [0, 1, 2])
    np.testing.assert_array_equal(v[y].numpy(), data.source_values(doc.nodes[feat]) + np.float32([0, 1, 2]))


def test_host_work_spends_its_flops_and_bytes():
    work = ops.HostWork(flops=10 * ops.HOST_FLOPS_PER_PASS + 1, nbytes=4096)
    assert work.passes == 11 and work.buffer.nbytes == 4096
    work.run()
    # The block stays at the fixed point of x -> x / 2 + 1 / 4.
    assert np.all(work.block == 0.5)
    assert ops.HostWork(0, 0).buffer is None


def test_unsupported_ops_are_all_named_before_anything_is_built():
    doc = Doc()
    x = doc.input([2, 3])
    doc.add("fft", {}, [x], [2, 3], name="a/fft")
    doc.add("relu", {"func": "relu"}, [x], [2, 3])
    doc.add("fft", {}, [x], [2, 3], name="b/fft")
    doc.add("bogus_pool", {}, [x], [2, 3], name="c/bogus")
    with pytest.raises(ops.UnsupportedOp) as e:
        ops.build_model(doc.doc([4]), CPU)
    msg = str(e.value)
    assert "`fft` (2 nodes, first `a/fft`)" in msg
    assert "`bogus_pool` (1 node, first `c/bogus`)" in msg
    assert "relu" not in msg


def test_calls_carry_their_node_stage_and_modality():
    doc = Doc()
    x = doc.input([2, 3], modality="audio")
    y = doc.add("relu", {"func": "relu"}, [x], [2, 3], stage="fusion", modality=None)
    model, _ = run(doc.doc([y]))
    assert [(c.index, c.nodes, c.materialized, c.stage, c.modality) for c in model.calls] == [
        (0, [0], [0], "encoder", "audio"), (1, [1], [1], "fusion", None)]
    assert model.new_values() == [None, None]
