// Co-interaction candidates, stage 1 of (u)-[:INTERACTED]->(p)<-[:INTERACTED]-(v)-[:INTERACTED]->(c):
// the users v who interacted with the most of the user's anchor items p (bounded by $limit), with
// the anchors each shares. Staged with id lists: LadybugDB plans `WHERE x.id IN $list` far faster
// than UNWIND ... MATCH.
MATCH (p:Product)<-[:INTERACTED]-(v:User)
WHERE p.id IN $anchors AND v.id <> $user
WITH v, count(*) AS shared, collect(p.id) AS anchors
ORDER BY shared DESC, v.id LIMIT $limit
RETURN v.id AS id, shared, anchors
