"""csbot: a customer-service assistant bot for Chinese e-commerce shops."""

__version__ = "0.1.0"
