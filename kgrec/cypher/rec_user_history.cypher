// A user's interactions, newest first (seen items, recent anchors, ratings for explanations).
MATCH (u:User {id: $user})-[r:INTERACTED]->(p:Product)
RETURN p.id AS id, r.timestamp AS timestamp, r.rating AS rating
ORDER BY timestamp DESC, id LIMIT $limit
