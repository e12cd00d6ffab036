"""The commands (`run`, `replay`, `explain`): wiring only. Only the CLI imports them."""
