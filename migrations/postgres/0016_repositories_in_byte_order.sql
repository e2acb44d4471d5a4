-- Pages of repositories (DescribeRepositories, /v2/_catalog) go in byte order, which the
-- store asks for with COLLATE "C" whatever the database's default collation. The unique
-- key's index is in the default collation, so every page sorted all of the registry's
-- repositories (48 ms a page at 100,000; BENCHMARKS.md). This is the same key in byte
-- order, so a page reads only its own rows; byte equality and the default collation's
-- agree, so it refuses nothing the key does not. (SQLite compares text byte by byte: its
-- key serves both.)
CREATE UNIQUE INDEX repositories_bytewise
    ON repositories (registry_id, region, namespace, name COLLATE "C");
