// Delete every node that carries one of kgrec's labels ($labels: the schema's node labels, Meta
// included) together with its relationships, in batches (the scoped CALL needs Neo4j 5.23 or
// later). Nodes without a kgrec label, and the constraints and indexes, are left alone: a
// database shared with other data keeps that data.
MATCH (n) WHERE any(label IN labels(n) WHERE label IN $labels)
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS
