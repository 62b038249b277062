// Batched property update of existing nodes, keyed by id.
UNWIND $rows AS row MATCH (n:{{label}} {id: row.id}) SET n += row
