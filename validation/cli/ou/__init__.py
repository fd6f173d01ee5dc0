"""`syncgap ou`: coupled OU replica simulations with exact scores, one module per subcommand holding its
options, its run, its --json records and its --plot figure (cloning, gap, energy, collapse); the options
they share are in `options`."""
