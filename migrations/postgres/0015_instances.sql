-- The processes serving from this store: each with the settings replicas must share
-- (JSON of name -> value, secrets only as fingerprints) and when it last said it was
-- alive. A process whose settings differ from a live one's is refused at start-up.
CREATE TABLE instances (
    id       TEXT   PRIMARY KEY,
    settings TEXT   NOT NULL,
    seen_at  BIGINT NOT NULL
);
