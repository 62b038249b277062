// Explanation of co-interaction candidates: which neighbour users v chose which of the given
// products (the anchors p and the recommended items c), so that each item is explained by the
// anchor sharing the most neighbours: (u)-[:INTERACTED]->(p)<-[:INTERACTED]-(v)-[:INTERACTED]->(c).
MATCH (v:User)-[:INTERACTED]->(x:Product)
WHERE v.id IN $users AND x.id IN $ids
RETURN v.id AS user, x.id AS id
