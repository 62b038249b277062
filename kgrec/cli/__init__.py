"""kgctl: the command line. Thin click commands that parse arguments and call the library."""
