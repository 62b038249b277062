// Knowledge-graph paths: the entity of the user's item x (one of $via) is related to the
// product's entity: (u)-[:INTERACTED]->(x)-[:LINKED_TO]->(e)-[r:RELATED_TO]-(f)<-[:LINKED_TO]-(c).
// LINKED_TO joins a product to its own entity, so this counts as 2 meaningful hops.
MATCH (c:Product {id: $product})-[:LINKED_TO]->(f:Entity)-[r:RELATED_TO]-(e:Entity)<-[:LINKED_TO]-(x:Product)
WHERE x.id IN $via
RETURN x.id AS via, e.id AS entity, f.id AS target_entity, r.relation AS relation
ORDER BY via, relation LIMIT $limit
