// Shared-attribute candidates: products c that share a category, brand, shop or tag a with the
// user's anchor items p: (p)-[]->(a)<-[]-(c). Aggregated in the database, bounded by $limit.
MATCH (p:Product)-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]->(a)<-[:IN_CATEGORY|HAS_BRAND|SOLD_BY|HAS_TAG]-(c:Product)
WHERE p.id IN $anchors AND c.id <> p.id
RETURN c.id AS id, count(*) AS n
ORDER BY n DESC, id LIMIT $limit
