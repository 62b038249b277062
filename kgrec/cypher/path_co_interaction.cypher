// Paths of 3 hops: the user chose x, another user v chose x and the product.
// (u)-[:INTERACTED]->(x)<-[:INTERACTED]-(v)-[:INTERACTED]->(c)
MATCH (u:User {id: $user})-[r:INTERACTED]->(x:Product)<-[:INTERACTED]-(v:User)-[:INTERACTED]->(c:Product {id: $product})
WHERE x.id <> c.id AND v.id <> u.id
RETURN x.id AS via, x.title AS via_title, r.rating AS rating, v.id AS other
ORDER BY rating DESC, via, other LIMIT $limit
