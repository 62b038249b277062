// In-neighbourhood of a batch of nodes for one relationship type (graph sampling, kgrec/kg/subgraph.py and kgrec/kg/pyg_store.py):
// every (a)-[r]->(b) whose target b is in $ids, once per edge however often an id is repeated.
// Each id is looked up by its key and its adjacency followed, so the cost follows the ids and
// their edges, not the size of the graph (LadybugDB plans `WHERE b.id IN $ids` as a filter over
// the whole node table). The OPTIONAL MATCH, then dropping the rows without a neighbour, is what
// makes LadybugDB follow the looked-up nodes' adjacency lists instead of joining the whole
// relationship table; only ids leave the WITH (whole nodes would carry every property).
// {{return_list}} adds ", r.relation AS relation" where the type has it.
UNWIND $ids AS x
WITH DISTINCT x
MATCH (b:{{dst_label}} {id: x})
OPTIONAL MATCH (a:{{src_label}})-[r:{{rel_type}}]->(b)
WITH a.id AS src, b.id AS dst{{return_list}}
WHERE src IS NOT NULL
RETURN *
