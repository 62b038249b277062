// Paths of 2 hops past the user's item x (one of $via): x and the product share a category,
// brand, shop or tag: (u)-[:INTERACTED]->(x)-[]->(a)<-[]-(c). Dialect file: labels(a)[0] here, label(a) on LadybugDB.
MATCH (c:Product {id: $product})-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]->(a)<-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]-(x:Product)
WHERE x.id IN $via
RETURN x.id AS via, labels(a)[0] AS kind, a.id AS attr, a.name AS attr_name
ORDER BY attr LIMIT $limit
