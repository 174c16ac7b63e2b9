"""genbalance: generative models that fix class imbalance."""

__version__ = "0.1.0"
