"""StockPilot: order-risk, substitution and demand models behind governed review queues."""

__version__ = "0.1.0"
