// Set properties of existing nodes from the Arrow table bound to _rows (column id selects the node).
LOAD FROM _rows MATCH (n:{{label}} {id: id}) SET {{set_list}}
