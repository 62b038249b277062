// Explanation of co-interaction candidates: for each recommended item c, the anchor item p that
// the most neighbour users v share with it: (u)-[:INTERACTED]->(p)<-[:INTERACTED]-(v)-[:INTERACTED]->(c).
MATCH (p:Product)<-[:INTERACTED]-(v:User)-[:INTERACTED]->(c:Product)
WHERE p.id IN $anchors AND c.id IN $items AND v.id IN $users
RETURN c.id AS id, p.id AS via, count(*) AS n
ORDER BY n DESC, id, via
