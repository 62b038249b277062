// Paths of 3 hops: the user chose x (one of $via, the user's best-rated recent items), another
// user v chose x and the product: (u)-[:INTERACTED]->(x)<-[:INTERACTED]-(v)-[:INTERACTED]->(c).
// Bounded from the product's side: at most $fanout of its users are followed (a popular product
// has thousands, a heavy user thousands of items: the full pattern grows as their product).
MATCH (c:Product {id: $product})<-[:INTERACTED]-(v:User)
WHERE v.id <> $user
WITH v LIMIT $fanout
MATCH (v)-[:INTERACTED]->(x:Product)
WHERE x.id IN $via
RETURN x.id AS via, v.id AS other
LIMIT $limit
