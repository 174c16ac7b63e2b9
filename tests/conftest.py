"""Test-wide settings: one thread per process (tests run under pytest-xdist on 2 cores;
more threads only fight each other), and quiet warnings from third-party code."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
