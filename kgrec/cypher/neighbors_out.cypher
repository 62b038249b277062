// Out-neighbourhood of a batch of nodes for one relationship type (sampling along reversed edges):
// every (a)-[r]->(b) whose source a is in $ids.
MATCH (a:{{src_label}})-[r:{{rel_type}}]->(b:{{dst_label}}) WHERE a.id IN $ids RETURN a.id AS src, b.id AS dst{{return_list}}
