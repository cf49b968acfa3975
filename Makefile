# The two commands (see README): `make run` serves, `make test` installs what tests need and runs them.
.PHONY: run test bench bench-micro

run:
	./scripts/serve.sh $(ARGS)

test:
	./scripts/test.sh $(ARGS)

# the standard set (README "Measured figures"); ARGS="--size medium", "--compare bench-results/bench-....json"
bench:
	./scripts/bootstrap.sh test && .venv/bin/omniroute bench $(ARGS)

# the pytest-benchmark suites (benchmarks/test_bench_*.py), about a minute
bench-micro:
	./scripts/bootstrap.sh test && .venv/bin/python -m pytest benchmarks --benchmark-enable -p no:randomly $(ARGS)
