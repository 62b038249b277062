// Paths of 2 hops past the user's item: x and the product share a category, brand, shop or tag.
// (u)-[:INTERACTED]->(x)-[]->(a)<-[]-(c). Dialect file: labels(a)[0] here, label(a) on LadybugDB.
MATCH (u:User {id: $user})-[r:INTERACTED]->(x:Product)-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]->(a)<-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]-(c:Product {id: $product})
WHERE x.id <> c.id
RETURN x.id AS via, x.title AS via_title, r.rating AS rating, labels(a)[0] AS kind, a.id AS attr, a.name AS attr_name
ORDER BY rating DESC, via, attr LIMIT $limit
