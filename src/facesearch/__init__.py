"""facesearch: a self-hosted face search engine."""

__version__ = "0.4.1"
