// Distinct neighbours of a batch of nodes of one label over every relationship type, either
// direction, by filtering the label's whole node table (see neighbors_in_scan.cypher for when it
// is used). Same rows as node_degrees.
MATCH (n:{{label}})-[]-(m) WHERE n.id IN $ids RETURN n.id AS id, count(DISTINCT m) AS degree
