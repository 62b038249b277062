// Which of $ids are not {{label}} nodes (at most $limit of them); checked before relationships are created.
UNWIND $ids AS id OPTIONAL MATCH (n:{{label}} {id: id}) WITH id, n WHERE n IS NULL RETURN id LIMIT $limit
