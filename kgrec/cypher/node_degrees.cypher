// Distinct neighbours of a batch of nodes of one label over every relationship type, either
// direction (graph sampling, kgrec/kg/pyg_store.py: KG leaves are pruned by this degree).
MATCH (n:{{label}})-[]-(m) WHERE n.id IN $ids RETURN n.id AS id, count(DISTINCT m) AS degree
