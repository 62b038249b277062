// Set the rating of existing interactions, matched by their identity (user, product, timestamp,
// behavior; a missing timestamp is -1 and a missing behavior '' in $rows). Used by incremental ingest.
UNWIND $rows AS row MATCH (u:User {id: row.src})-[r:INTERACTED]->(p:Product {id: row.dst}) WHERE coalesce(r.timestamp, -1) = row.timestamp AND coalesce(r.behavior, '') = row.behavior SET r.rating = row.rating
