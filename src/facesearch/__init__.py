"""facesearch: a self-hosted face search engine."""

__version__ = "0.2.0"
