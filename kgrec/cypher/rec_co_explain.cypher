// Explanation of co-interaction candidates: which neighbour users v chose which recommended item c;
// with the anchors each v shares (stage 1), each c is explained by the anchor p sharing most of
// them: (u)-[:INTERACTED]->(p)<-[:INTERACTED]-(v)-[:INTERACTED]->(c).
MATCH (v:User)-[:INTERACTED]->(c:Product)
WHERE v.id IN $users AND c.id IN $items
RETURN v.id AS user, c.id AS id
