// Out-neighbourhood of a batch of nodes for one relationship type, by filtering the source label's
// whole node table (see neighbors_in_scan.cypher for when it is used). Same rows as neighbors_out.
MATCH (a:{{src_label}})-[r:{{rel_type}}]->(b:{{dst_label}}) WHERE a.id IN $ids RETURN a.id AS src, b.id AS dst{{return_list}}
