-- Background jobs (lifecycle runs, garbage collection) run in one process at a time
-- across every process sharing the database: a job runs only while its holder's lease
-- on the job's name has not expired, and the holder renews it while it works.
CREATE TABLE leases (
    name       TEXT   PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
