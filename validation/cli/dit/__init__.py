"""`syncgap dit`: coupled DiT measurements and training, one module per subcommand holding its options, its
run, its --json records and its --plot figure: `measure` (Protocols I and II at given g; `measure_units`, the
g -> 0 gap on the model's units), `train`, `gains`, `depth-controls` (depth_controls), `gate`; the options
that load a model are in `model_options`."""
