// Batched creation of relationships between existing nodes; row.props holds the properties.
UNWIND $rows AS row MATCH (a:{{src_label}} {id: row.src}) MATCH (b:{{dst_label}} {id: row.dst}) CREATE (a)-[r:{{rel_type}}]->(b) SET r += row.props
