// node_degrees.cypher for LadybugDB: the same rows, counting neighbours by their internal id so
// that the WITH does not carry every property of every neighbour (Product rows hold vectors).
UNWIND $ids AS x
WITH DISTINCT x
MATCH (n:{{label}} {id: x})
OPTIONAL MATCH (n)-[]-(m)
WITH n.id AS id, id(m) AS m
WHERE m IS NOT NULL
RETURN id, count(DISTINCT m) AS degree
