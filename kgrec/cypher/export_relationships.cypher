// Edge list (source id, target id, chosen properties) of one relationship type.
MATCH (a:{{src_label}})-[r:{{rel_type}}]->(b:{{dst_label}}) RETURN a.id AS src, b.id AS dst{{return_list}}
