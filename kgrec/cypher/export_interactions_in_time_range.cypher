// Interactions whose timestamp lies in [$lo, $hi] (plus those without a timestamp when $nulls):
// the only ones an incremental ingest of events in that time range can match, so a delta of new
// events is compared with a slice of the graph instead of every interaction.
MATCH (a:User)-[r:INTERACTED]->(b:Product)
WHERE (r.timestamp >= $lo AND r.timestamp <= $hi) OR ($nulls AND r.timestamp IS NULL)
RETURN a.id AS src, b.id AS dst, r.timestamp AS timestamp, r.behavior AS behavior, r.rating AS rating
