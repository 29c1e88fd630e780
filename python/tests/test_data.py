"""The vectorised generators of `mmbench_torch.data` against a slow, plain transcription of
`src/exec/data.rs` in Python integers, and against values the Rust code printed. Every comparison is
bit-exact: the PyTorch run must compute on exactly the numbers mmbench's reference computes on."""

import struct

import numpy as np
import pytest

from mmbench_torch import data

MASK = (1 << 64) - 1


def f32(x):
    """Rounds a Python float to the nearest f32 (ties to even). A sum or product of two f32 values computed
    in double and then rounded this way is the correctly rounded f32 result (double has more than twice
    f32's precision), so the reference below does Rust's f32 arithmetic exactly."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


class SplitMix64:
    """`data.rs`'s SplitMix64, one draw at a time."""

    def __init__(self, seed):
        self.state = seed

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def next_f32(self):
        return f32((self.next_u64() >> 40) * f32(1.0 / (1 << 24)))

    def uniform(self, low, high):
        low, high = f32(low), f32(high)
        return f32(low + f32(f32(high - low) * self.next_f32()))

    def below(self, n):
        return ((self.next_u64() >> 32) * n) >> 32


def seed_for(key):
    h = 0xCBF29CE484222325
    for b in key.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & MASK
    return h ^ 0x006D6D62656E6368


def ref_uniform(key, n, low, high):
    g = SplitMix64(seed_for(key))
    return [g.uniform(low, high) for _ in range(n)]


def ref_below(key, n, bound):
    g = SplitMix64(seed_for(key))
    return [g.below(bound) for _ in range(n)]


def f32_bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32).tolist()


KEYS = ["", "x", "audio/lenet/block0/conv/weight", "text/bert/layer3/attn/q/bias", "ünïcode/κλειδί"]


@pytest.mark.parametrize("key", KEYS)
def test_seed_is_fnv1a_of_the_key_xor_the_mmbench_seed(key):
    assert data.seed_for(key) == seed_for(key)


def test_seeds_and_draws_the_rust_code_printed():
    # The empty key is the FNV offset basis alone: 0xcbf29ce484222325 ^ 0x006d6d62656e6368.
    assert data.seed_for("") == 0xCB9FF186E14C404D
    # Printed by a standalone copy of data.rs's SplitMix64 and seed_for, compiled with rustc.
    assert data.seed_for("a") == 0xAF0EB12EE36F8FE4
    first = next(data._streams(data.seed_for("x"), 3))[1]
    assert first.tolist() == [0xAC3663058F9C47A4, 0x9E58537135C8C26E, 0x9E38945F9DFFB412]
    assert f32_bits(data.uniform_f32(data.seed_for("x"), 4, -1.0, 1.0)) == [0x3EB0D98C, 0x3E72C298, 0x3E71C4A0, 0xBEC08E08]
    assert f32_bits(data.uniform_f32(data.seed_for("bn/running_var"), 4, 0.5, 1.5)) == [0x3FB2E54B, 0x3F9461A6, 0x3F9B5D94, 0x3F326D5B]
    assert data.below(data.seed_for("text/ids"), 8, 30522).tolist() == [13577, 14376, 4189, 25237, 28962, 29951, 22504, 20685]


def test_a_fan_in_bound_from_json_is_the_f32_rust_computed():
    # Rust's Init::fan_in(300) is 1/sqrt(300) in f32 (bits 0x3d6c7b8f); the export writes it as the shortest
    # decimal that reads back as that f32, and np.float32 of that decimal is the same f32.
    assert bits(float(np.float32(0.057735022))) == 0x3D6C7B8F
    doc = {"name": "w", "shape": [4], "init": {"uniform": {"low": -0.057735022, "high": 0.057735022}}, "key": "audio/conv/weight"}
    assert f32_bits(data.param_values(doc)) == [0x3B736CC0, 0xBD070EAD, 0xBD4F0F2C, 0x3D196C8D]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("low,high", [(-1.0, 1.0), (0.5, 1.5), (-0.044194173, 0.044194173), (0.0, 1.0), (-1.7320508, 1.7320508)])
def test_uniform_matches_the_reference_bit_for_bit(key, low, high):
    n = 300
    got = data.uniform_f32(data.seed_for(key), n, low, high)
    assert got.dtype == np.float32
    assert f32_bits(got) == [bits(v) for v in ref_uniform(key, n, low, high)]


def test_uniform_and_ids_are_continuous_across_chunks():
    # Long enough to span three of the generator's chunks.
    n = 2 * data.CHUNK + 17
    got = data.uniform_f32(data.seed_for("long"), n, -0.25, 0.75)
    assert f32_bits(got) == [bits(v) for v in ref_uniform("long", n, -0.25, 0.75)]
    ids = data.below(data.seed_for("long ids"), n, 7)
    assert ids.tolist() == ref_below("long ids", n, 7)


@pytest.mark.parametrize("bound", [1, 2, 16, 31, 30522, 4294967295])
def test_ids_match_the_reference(bound):
    got = data.below(data.seed_for("text/input"), 500, bound)
    assert got.dtype == np.int64
    assert got.tolist() == ref_below("text/input", 500, bound)
    assert got.min() >= 0 and got.max() < bound


def test_param_values_have_the_shape_and_fill_of_the_spec():
    doc = {"name": "weight", "shape": [3, 4, 5], "init": {"uniform": {"low": -0.5, "high": 0.5}}, "key": "owner/weight"}
    v = data.param_values(doc)
    assert v.shape == (3, 4, 5) and v.dtype == np.float32
    # Row-major: element k of the stream is flat element k.
    assert f32_bits(v.reshape(-1)) == [bits(x) for x in ref_uniform("owner/weight", 60, -0.5, 0.5)]
    c = data.param_values({"name": "bias", "shape": [7], "init": {"const": 0.25}, "key": "owner/bias"})
    assert c.dtype == np.float32 and c.tolist() == [0.25] * 7


def source(fill, shape):
    return {"name": "s", "fill": fill, "output": {"shape": shape, "dtype": "f32"}}


def test_every_source_fill():
    u = data.source_values(source({"fill": "uniform", "low": -1.0, "high": 1.0, "key": "image/input"}, [2, 3, 4]))
    assert u.shape == (2, 3, 4) and u.dtype == np.float32
    assert f32_bits(u.reshape(-1)) == [bits(x) for x in ref_uniform("image/input", 24, -1.0, 1.0)]

    c = data.source_values(source({"fill": "const", "value": 1.0}, [2, 2]))
    assert c.dtype == np.float32 and c.tolist() == [[1.0, 1.0], [1.0, 1.0]]

    # Element k is k mod the last axis.
    a = data.source_values(source({"fill": "arange"}, [2, 3]))
    assert a.dtype == np.float32 and a.tolist() == [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]

    ids = data.source_values(source({"fill": "ids", "bound": 31, "key": "question/input"}, [2, 5]))
    assert ids.dtype == np.int64 and ids.shape == (2, 5)
    assert ids.reshape(-1).tolist() == ref_below("question/input", 10, 31)

    pos = data.source_values(source({"fill": "ids_arange", "bound": 3}, [2, 5]))
    assert pos.dtype == np.int64 and pos.tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 0, 1]]

    k = data.source_values(source({"fill": "ids_const", "value": 1}, [3]))
    assert k.dtype == np.int64 and k.tolist() == [1, 1, 1]

    with pytest.raises(ValueError, match="unknown fill"):
        data.source_values(source({"fill": "gaussian"}, [1]))
