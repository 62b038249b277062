// Explanation of shared-attribute candidates: which anchor p shares which attribute a with item c.
// Dialect file: LadybugDB names a node's label with label(a), Neo4j with labels(a)[0].
MATCH (p:Product)-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]->(a)<-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]-(c:Product)
WHERE p.id IN $anchors AND c.id IN $items AND c.id <> p.id
RETURN c.id AS id, p.id AS via, label(a) AS kind, a.id AS attr, a.name AS name
ORDER BY id, via, attr LIMIT $limit
