-- Pages of tags (/v2/<name>/tags/list, ECR Public's DescribeImageTags) go in byte order,
-- which the store asks for with COLLATE "C" whatever the database's default collation.
-- The primary key's index is in the default collation, so every page read and sorted
-- all of the repository's tags (28 ms a page at 100,000 tags; BENCHMARKS.md). This is
-- the same key in byte order, as 0016 is for repositories' names.
CREATE UNIQUE INDEX tags_bytewise ON tags (repository_id, tag COLLATE "C");
