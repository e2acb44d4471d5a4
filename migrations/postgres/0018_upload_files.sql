-- An upload's bytes are one file in the blob store, which each part extends; one
-- request at a time holds the file (a lock the blob store takes) and writes only past
-- the bytes recorded here. Each part continues the upload's sha256, stored here with
-- the bytes received, so no byte is hashed or written twice.
--
-- Uploads in progress kept a file per part, which this layout does not read: they
-- are dropped (their files are collected as uploads without a row), and their
-- clients start them again.
DELETE FROM upload_parts;
DELETE FROM uploads;

ALTER TABLE upload_parts DROP COLUMN sha256;
-- `RunningSha256`'s stored state, as hex.
ALTER TABLE uploads ADD COLUMN sha256_state TEXT NOT NULL DEFAULT '';
