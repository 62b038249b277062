// Most-interacted products (cold-start fallback), cached by the caller per graph version.
MATCH (:User)-[r:INTERACTED]->(p:Product)
RETURN p.id AS id, count(r) AS n
ORDER BY n DESC, id LIMIT $limit
