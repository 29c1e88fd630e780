"""mmbench's PyTorch backend: builds a workload exported by `mmbench export` (schema `mmbench.graph`) as
PyTorch calls and runs it eagerly on the same numbers as mmbench's CPU reference."""

__version__ = "1"
