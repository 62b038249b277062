// Explanation of shared-attribute candidates: which anchor p shares which attribute a with item c.
// Dialect file: Neo4j names a node label with labels(a)[0], LadybugDB with label(a).
// Starts from the few recommended items c: far fewer rows than starting from the anchors.
MATCH (c:Product)-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]->(a)<-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]-(p:Product)
WHERE c.id IN $items AND p.id IN $anchors AND c.id <> p.id
RETURN c.id AS id, p.id AS via, labels(a)[0] AS kind, a.id AS attr, a.name AS name
ORDER BY id, via, attr LIMIT $limit
