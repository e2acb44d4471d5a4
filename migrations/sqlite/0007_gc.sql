-- Garbage collection asks, per blob, whether any repository still links it.
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);
