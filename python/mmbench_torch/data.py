"""The values of an exported graph's tensors, drawn exactly as mmbench draws them (`src/exec/data.rs`), so
that the PyTorch run computes on the same numbers as mmbench's CPU reference and GPU executor.

Every tensor has its own SplitMix64 stream, seeded with FNV-1a of the tensor's key xor `SEED`. The stream
is a counter: its state after k draws is `seed + k * GOLDEN` (mod 2^64), so element k of a tensor is the
mix of `seed + (k + 1) * GOLDEN` and a whole tensor is drawn with vectorised uint64 arithmetic (which wraps
in NumPy arrays just as Rust's `wrapping_*` does). Floats are computed in float32 operation by operation,
as Rust computes them, so every value is bit-identical.
"""

import numpy as np

SEED = 0x006D6D62656E6368
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1

# Elements drawn per pass: the uint64 temporaries of a pass stay in the CPU's cache.
CHUNK = 1 << 16

_U64 = {k: np.uint64(v) for k, v in (("golden", GOLDEN), ("mix1", MIX1), ("mix2", MIX2))}
_SHIFT = {s: np.uint64(s) for s in (27, 30, 31, 32, 40)}


def seed_for(key):
    """The generator seed of the tensor called `key`: FNV-1a of its UTF-8 bytes, xor `SEED`."""
    h = FNV_OFFSET
    for b in key.encode("utf-8"):
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h ^ SEED


def _streams(seed, n):
    """The SplitMix64 outputs 0 .. n-1 of `seed`, a chunk at a time: (start, uint64 array). Each array is
    reused for the next chunk, so a caller consumes it before asking for more."""
    z = np.empty(min(n, CHUNK), dtype=np.uint64)
    t = np.empty_like(z)
    steps = np.arange(1, len(z) + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, n, CHUNK):
            c = min(CHUNK, n - start)
            zz, tt = z[:c], t[:c]
            # State after k + 1 draws: seed + (k + 1) * GOLDEN, wrapping.
            np.add(steps[:c], np.uint64(start), out=zz)
            np.multiply(zz, _U64["golden"], out=zz)
            np.add(zz, np.uint64(seed), out=zz)
            np.right_shift(zz, _SHIFT[30], out=tt)
            np.bitwise_xor(zz, tt, out=zz)
            np.multiply(zz, _U64["mix1"], out=zz)
            np.right_shift(zz, _SHIFT[27], out=tt)
            np.bitwise_xor(zz, tt, out=zz)
            np.multiply(zz, _U64["mix2"], out=zz)
            np.right_shift(zz, _SHIFT[31], out=tt)
            np.bitwise_xor(zz, tt, out=zz)
            yield start, zz


def uniform_f32(seed, n, low, high):
    """`n` draws of `SplitMix64::uniform(low, high)`: `low + (high - low) * u` in float32, with
    `u = (next >> 40) * 2^-24`."""
    low, high = np.float32(low), np.float32(high)
    # Rust computes (high - low) in f32 before the product, then adds low: the same three roundings here.
    span = np.float32(high - low)
    out = np.empty(n, dtype=np.float32)
    for start, z in _streams(seed, n):
        u = out[start : start + len(z)]
        np.right_shift(z, _SHIFT[40], out=z)
        # 24-bit integers: exact in float32, and so is the scaling by 2^-24.
        np.copyto(u, z, casting="unsafe")
        np.multiply(u, np.float32(2.0**-24), out=u)
        np.multiply(u, span, out=u)
        np.add(u, low, out=u)
    return out


def below(seed, n, bound):
    """`n` draws of `SplitMix64::below(bound)`: `((next >> 32) * bound) >> 32` in uint64, as int64 (the
    id type PyTorch's embedding takes; Rust holds the same values as u32)."""
    out = np.empty(n, dtype=np.int64)
    for start, z in _streams(seed, n):
        np.right_shift(z, _SHIFT[32], out=z)
        # (z < 2^32) * (bound < 2^32) < 2^64: no wrap.
        np.multiply(z, np.uint64(bound), out=z)
        np.right_shift(z, _SHIFT[32], out=z)
        out[start : start + len(z)] = z
    return out


def fill(shape, init, key):
    """A float32 tensor of `shape` filled by `init` (`{"uniform": {"low", "high"}}` or `{"const": c}`) from
    the stream of `key` (`data::fill`)."""
    n = int(np.prod(shape, dtype=np.int64))
    if "const" in init:
        return np.full(shape, np.float32(init["const"]), dtype=np.float32)
    u = init["uniform"]
    return uniform_f32(seed_for(key), n, u["low"], u["high"]).reshape(shape)


def param_values(param_doc):
    """The values of one parameter tensor (`{name, shape, init, key}` of a node's `params`), float32 in
    mmbench's layout."""
    return fill(list(param_doc["shape"]), param_doc["init"], param_doc["key"])


def source_values(node_doc):
    """The values of a source node (`input`, `weight`, `host_work`) from its `fill`: float32, or int64
    for ids (`SourceFill::generate`)."""
    f = node_doc["fill"]
    shape = list(node_doc["output"]["shape"])
    n = int(np.prod(shape, dtype=np.int64))
    last = shape[-1] if shape else 1
    kind = f["fill"]
    if kind == "uniform":
        return fill(shape, {"uniform": {"low": f["low"], "high": f["high"]}}, f["key"])
    if kind == "const":
        return np.full(shape, np.float32(f["value"]), dtype=np.float32)
    if kind == "arange":
        return (np.arange(n, dtype=np.int64) % last).astype(np.float32).reshape(shape)
    if kind == "ids":
        return below(seed_for(f["key"]), n, int(f["bound"])).reshape(shape)
    if kind == "ids_arange":
        return ((np.arange(n, dtype=np.int64) % last) % int(f["bound"])).reshape(shape)
    if kind == "ids_const":
        return np.full(shape, int(f["value"]), dtype=np.int64)
    raise ValueError(f"node `{node_doc.get('name')}`: unknown fill `{kind}`")
