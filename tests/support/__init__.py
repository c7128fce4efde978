"""Test support: data locations, generated photos, a served app, real PostgreSQL, Milvus and chromium."""
