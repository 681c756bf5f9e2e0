"""cryptodash: a self-hostable, real-time cryptocurrency analytics platform."""

__version__ = "0.1.0"
