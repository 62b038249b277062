// Batched upsert of nodes: one row map per node, keyed by id.
UNWIND $rows AS row MERGE (n:{{label}} {id: row.id}) SET n += row
