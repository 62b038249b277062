// Set the ingest sequence number of interactions that have none, matched by their identity, from
// the Arrow table bound to _rows (src, dst, timestamp, behavior, seq; a missing timestamp is -1
// and a missing behavior '' there). One statement: LadybugDB joins the table in bulk.
LOAD FROM _rows
MATCH (u:User {id: src})-[r:INTERACTED]->(p:Product {id: dst})
WHERE r.seq IS NULL AND coalesce(r.timestamp, -1) = timestamp AND coalesce(r.behavior, '') = behavior
SET r.seq = seq
