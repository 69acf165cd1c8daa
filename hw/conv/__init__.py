"""Event-driven convolution core (issue 13): configuration, address tables, tap generator,
the core with spike pooling, host model, generation and Verilator harness."""
