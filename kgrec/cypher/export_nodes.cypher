// Node ids and chosen properties of one label, for the training side and staging.
// {{return_list}} is ", n.prop AS prop" for schema properties only.
MATCH (n:{{label}}) RETURN n.id AS id{{return_list}}
