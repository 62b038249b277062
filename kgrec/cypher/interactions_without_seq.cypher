// Interactions without an ingest sequence number (written by a kgrec older than schema version 2),
// with their identity (user, product, timestamp, behavior), for the migration that numbers them.
MATCH (a:User)-[r:INTERACTED]->(b:Product)
WHERE r.seq IS NULL
RETURN a.id AS src, b.id AS dst, r.timestamp AS timestamp, r.behavior AS behavior
