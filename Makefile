# The two commands (see README): `make run` serves, `make test` installs what tests need and runs them.
.PHONY: run test bench

run:
	./scripts/serve.sh $(ARGS)

test:
	./scripts/test.sh $(ARGS)

bench:
	./scripts/bootstrap.sh test && .venv/bin/python -m pytest benchmarks --benchmark-enable -p no:randomly $(ARGS)
