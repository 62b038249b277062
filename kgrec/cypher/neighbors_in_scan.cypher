// In-neighbourhood of a batch of nodes for one relationship type, by filtering the target label's
// whole node table (graph sampling, kgrec/kg/subgraph.py and kgrec/kg/pyg_store.py picks this form only when that label
// holds few nodes, e.g. Category; neighbors_in.cypher otherwise). Same rows as neighbors_in.
// {{return_list}} adds ", r.relation AS relation" where the type has it.
MATCH (a:{{src_label}})-[r:{{rel_type}}]->(b:{{dst_label}}) WHERE b.id IN $ids RETURN a.id AS src, b.id AS dst{{return_list}}
