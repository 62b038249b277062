// Set the ingest sequence number of interactions that have none, matched by their identity
// (a missing timestamp is -1 and a missing behavior '' in $rows). Called in batches.
UNWIND $rows AS row
MATCH (u:User {id: row.src})-[r:INTERACTED]->(p:Product {id: row.dst})
WHERE r.seq IS NULL AND coalesce(r.timestamp, -1) = row.timestamp AND coalesce(r.behavior, '') = row.behavior
SET r.seq = row.seq
