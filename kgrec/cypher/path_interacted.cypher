// Paths of 1 hop: the user interacted with the product. (u)-[:INTERACTED]->(c)
MATCH (u:User {id: $user})-[r:INTERACTED]->(c:Product {id: $product})
RETURN r.rating AS rating, r.timestamp AS timestamp
ORDER BY timestamp LIMIT $limit
