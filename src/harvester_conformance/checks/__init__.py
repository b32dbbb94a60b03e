"""Pure functions over plain data: what each invariant means, with no cluster I/O."""
