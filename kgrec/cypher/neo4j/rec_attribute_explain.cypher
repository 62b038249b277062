// Explanation of shared-attribute candidates: which anchor p shares which attribute a with item c.
// Dialect file: Neo4j names a node label with labels(a)[0], LadybugDB with label(a).
MATCH (p:Product)-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]->(a)<-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]-(c:Product)
WHERE p.id IN $anchors AND c.id IN $items AND c.id <> p.id
RETURN c.id AS id, p.id AS via, labels(a)[0] AS kind, a.id AS attr, a.name AS name
ORDER BY id, via, attr LIMIT $limit
