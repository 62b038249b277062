// In-neighbourhood of a batch of nodes for one relationship type (graph sampling, kgrec/kg/pyg_store.py):
// every (a)-[r]->(b) whose target b is in $ids. {{return_list}} adds ", r.relation AS relation" where the type has it.
MATCH (a:{{src_label}})-[r:{{rel_type}}]->(b:{{dst_label}}) WHERE b.id IN $ids RETURN a.id AS src, b.id AS dst{{return_list}}
