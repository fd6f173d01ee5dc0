"""The `syncgap` command line (`main`): one module per command holding its options, its run, its --json records
and its --plot figure (`theory`, `ou/`, `dit/`, `validate`, `sweep`), each with `register(subparsers)`; the
pieces they share: argument types (`arguments`), stdout and run folders (`output`), the --json envelope
(`records`), the --plot flag and figure helpers (`plotting`, `redraw`), the protocol variant flags
(`variants`), threads, progress and optional extras."""
