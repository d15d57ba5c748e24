"""sco: check the theory of stochastic convex optimization for fault-tolerant distributed training."""

__version__ = "0.1.0"
