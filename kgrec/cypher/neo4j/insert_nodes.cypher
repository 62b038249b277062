// Batched creation of new nodes: one row map per node (nulls left out). The id uniqueness
// constraint of neo4j/schema.cypher refuses an id that exists already; the backend checks first.
UNWIND $rows AS row CREATE (n:{{label}}) SET n = row
