// Bulk-copy new nodes from the Arrow table bound to _rows (ids must not exist yet).
COPY {{label}}({{column_list}}) FROM _rows
