-- Every part of an upload is its own file, created and written by the one request
-- that received it, and recorded here only after its bytes are synced; a recorded
-- part is never written again. No two requests ever write the same bytes, so the
-- bytes behind a digest cannot be changed by a racing or slow request.
--
-- Uploads that already held bytes kept them in one shared file, which this layout
-- does not read: they are dropped, and their clients start them again.
DELETE FROM uploads WHERE bytes_received > 0;

-- Counts and part sizes are derived from the parts now.
ALTER TABLE uploads DROP COLUMN parts;
ALTER TABLE uploads DROP COLUMN last_part_size;
ALTER TABLE uploads DROP COLUMN small_inner_part;
-- Set when a completion starts: no part may be added after it.
ALTER TABLE uploads ADD COLUMN sealed BIGINT NOT NULL DEFAULT 0;

CREATE TABLE upload_parts (
    upload_id  TEXT   NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    start      BIGINT NOT NULL,
    size       BIGINT NOT NULL,
    -- The part's file in the upload's area, and the sha256 its writer computed.
    part_id    TEXT   NOT NULL,
    sha256     TEXT   NOT NULL,
    PRIMARY KEY (upload_id, start)
);
