"""certkeeper: cert-manager's certificate system, on a host or on Kubernetes."""

__version__ = "0.1.0"
