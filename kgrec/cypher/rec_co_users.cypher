// Co-interaction candidates, stage 1 of (u)-[:INTERACTED]->(p)<-[:INTERACTED]-(v)-[:INTERACTED]->(c):
// the users v who interacted with the most of the user's anchor items p (bounded by $limit).
// Staged with id lists because LadybugDB plans `WHERE x.id IN $list` far faster than UNWIND/MATCH.
MATCH (p:Product)<-[:INTERACTED]-(v:User)
WHERE p.id IN $anchors AND v.id <> $user
WITH v, count(*) AS shared
ORDER BY shared DESC, v.id LIMIT $limit
RETURN v.id AS id, shared
