// Which of $ids are already {{label}} nodes (at most $limit of them); checked before a bulk insert.
UNWIND $ids AS id MATCH (n:{{label}} {id: id}) RETURN n.id AS id LIMIT $limit
