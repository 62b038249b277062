// Knowledge-graph paths: the user's item x (one of $via) and the product share an entity y (a
// director, an actor), hub entities ($hubs) left out:
// (u)-[:INTERACTED]->(x)-[:LINKED_TO]->(e)-[r1:RELATED_TO]-(y)-[r2:RELATED_TO]-(f)<-[:LINKED_TO]-(c)
// Counted as 3 meaningful hops (LINKED_TO joins a product to its own entity).
MATCH (c:Product {id: $product})-[:LINKED_TO]->(f:Entity)-[r2:RELATED_TO]-(y:Entity)
WHERE NOT y.id IN $hubs
WITH f, r2, y
MATCH (x:Product)-[:LINKED_TO]->(e:Entity)-[r1:RELATED_TO]-(y)
WHERE x.id IN $via
RETURN x.id AS via, e.id AS entity, r1.relation AS rel1, y.id AS shared, y.name AS shared_name, r2.relation AS rel2, f.id AS target_entity
ORDER BY via, shared LIMIT $limit
