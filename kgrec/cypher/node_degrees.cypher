// Distinct neighbours of a batch of nodes of one label over every relationship type, either
// direction (graph sampling, kgrec/kg/subgraph.py: KG leaves are pruned by this degree); nodes
// without a neighbour give no row. Key lookups as in neighbors_in.cypher.
UNWIND $ids AS x
WITH DISTINCT x
MATCH (n:{{label}} {id: x})
OPTIONAL MATCH (n)-[]-(m)
WITH n.id AS id, m
WHERE m IS NOT NULL
RETURN id, count(DISTINCT m) AS degree
