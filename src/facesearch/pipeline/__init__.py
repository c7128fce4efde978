"""Images in, faces out: safe decoding (`imaging`), detection, alignment, quality and embedding in batches
(`analysis`), and what an ingest worker process runs (`worker`). No database, no rules."""
