"""The pure core: deciding what to do with one record. No I/O, no threads, no clock but what is
passed in; `explain` and `replay --dry-run` call exactly what `run` calls."""
