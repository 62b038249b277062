// Out-neighbourhood of a batch of nodes for one relationship type (sampling along reversed edges):
// every (a)-[r]->(b) whose source a is in $ids, once per edge; key lookups as in neighbors_in.cypher.
UNWIND $ids AS x
WITH DISTINCT x
MATCH (a:{{src_label}} {id: x})
OPTIONAL MATCH (a)-[r:{{rel_type}}]->(b:{{dst_label}})
WITH a.id AS src, b.id AS dst{{return_list}}
WHERE dst IS NOT NULL
RETURN *
