// Knowledge-graph paths: the entity of the user's item x is related to the product's entity.
// (u)-[:INTERACTED]->(x)-[:LINKED_TO]->(e)-[r:RELATED_TO]-(f)<-[:LINKED_TO]-(c)
// LINKED_TO joins a product to its own entity, so this counts as 2 meaningful hops.
MATCH (u:User {id: $user})-[ri:INTERACTED]->(x:Product)-[:LINKED_TO]->(e:Entity)-[r:RELATED_TO]-(f:Entity)<-[:LINKED_TO]-(c:Product {id: $product})
WHERE x.id <> c.id
RETURN x.id AS via, x.title AS via_title, ri.rating AS rating, e.id AS entity, f.id AS target_entity, r.relation AS relation
ORDER BY rating DESC, via, relation LIMIT $limit
