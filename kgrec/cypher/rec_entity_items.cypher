// Knowledge-graph candidates, stage 2: products c whose linked entity is related to one of the
// shared entities y: (y)-[r:RELATED_TO]-(e)<-[:LINKED_TO]-(c).
MATCH (c:Product)-[:LINKED_TO]->(e:Entity)-[r:RELATED_TO]-(y:Entity)
WHERE y.id IN $shared
RETURN c.id AS id, y.id AS shared, r.relation AS relation
ORDER BY shared, id LIMIT $limit
