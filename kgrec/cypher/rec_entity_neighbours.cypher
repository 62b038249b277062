// Knowledge-graph candidates, stage 1: the entities y next to the anchors' linked entities,
// hub entities (degree over a bound, given in $hubs) left out so the search stays small.
// (p)-[:LINKED_TO]->(e)-[r:RELATED_TO]-(y)
MATCH (p:Product)-[:LINKED_TO]->(e:Entity)-[r:RELATED_TO]-(y:Entity)
WHERE p.id IN $anchors AND NOT y.id IN $hubs
RETURN p.id AS via, y.id AS shared, y.name AS shared_name, r.relation AS relation
ORDER BY via, shared LIMIT $limit
