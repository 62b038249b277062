// Chosen properties of the nodes of one label whose ids are in $ids (feature store reads of a sampled batch).
MATCH (n:{{label}}) WHERE n.id IN $ids RETURN n.id AS id{{return_list}}
