"""Images in, faces out: safe decoding (`imaging`), detection, alignment, quality and embedding in batches
(`analysis`), and what an ingest worker process runs (`worker`); videos in, face tracks out (`video`). No
database, no rules."""
