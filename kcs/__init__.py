"""kcs: Kubernetes controllers that stay fast and stable in the largest clusters."""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
