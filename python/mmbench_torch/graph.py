"""Reading an exported graph (`mmbench export`, schema `mmbench.graph`) and the facts the runner derives
from it: which program-order runs of calls form a stage segment."""

import json

SCHEMA = "mmbench.graph"
SUPPORTED_VERSIONS = (1,)


class GraphError(Exception):
    """The document is not an exported mmbench graph this runner can read."""


def load(path):
    """The exported document at `path`, checked for its schema and version."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise GraphError(f"{path}: cannot read the exported graph: {e}") from e
    return check(doc, path)


def check(doc, source="<graph>"):
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise GraphError(f"{source}: not an `mmbench export` document (schema is not `{SCHEMA}`)")
    if doc.get("version") not in SUPPORTED_VERSIONS:
        raise GraphError(
            f"{source}: schema version {doc.get('version')} is not one this runner reads "
            f"({', '.join(map(str, SUPPORTED_VERSIONS))}): use the runner of the same mmbench"
        )
    for i, n in enumerate(doc.get("nodes", [])):
        if n.get("index") != i:
            raise GraphError(f"{source}: node {i} has index {n.get('index')}")
    return doc


def segments(calls):
    """Maximal runs of consecutive calls with the same (stage, modality): the spans MMBench's stage isolation
    times. Returns a list of (stage, modality, [call positions])."""
    out = []
    for pos, c in enumerate(calls):
        key = (c.stage, c.modality)
        if out and (out[-1][0], out[-1][1]) == key:
            out[-1][2].append(pos)
        else:
            out.append((c.stage, c.modality, [pos]))
    return out
