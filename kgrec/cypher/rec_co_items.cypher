// Co-interaction candidates, stage 2: the items c of the neighbour users v, by how many of them chose c.
MATCH (v:User)-[:INTERACTED]->(c:Product)
WHERE v.id IN $users
RETURN c.id AS id, count(*) AS n
ORDER BY n DESC, id LIMIT $limit
