// The $k nearest {{label}} nodes to node $id by the vector index $index over {{property}}.
// Neo4j scores cosine as (1 + cos) / 2; returned here as the cosine itself, like the exact search.
MATCH (q:{{label}} {id: $id})
WHERE q.{{property}} IS NOT NULL
CALL db.index.vector.queryNodes($index, $k + 1, q.{{property}}) YIELD node, score
WITH node, score WHERE node.id <> $id
RETURN node.id AS id, node.title AS title, 2 * score - 1 AS score
ORDER BY score DESC
LIMIT $k
