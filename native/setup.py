"""Build of Newsroom's compiled text kernels (``pip install ./native``; see README.md here)."""
from setuptools import Extension, setup

setup(
    name="newsroom-speedups",
    version="1.0",
    description="Compiled kernels of Newsroom's ingest text pipeline",
    ext_modules=[
        Extension(
            "newsroom_speedups",
            sources=["newsroom_speedups.c"],
            # The SimHash sums must round as Python's floats do: no fused multiply-adds.
            extra_compile_args=["-O2", "-ffp-contract=off", "-Wall", "-Werror=implicit-function-declaration"],
        )
    ],
)
