# The two commands of the README: `make demo` and `make test`.
.PHONY: demo test bootstrap lint format

bootstrap:
	@scripts/bootstrap.sh

demo: bootstrap
	.venv/bin/mofang demo

test: bootstrap
	scripts/check.sh

format: bootstrap
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .
	cd labextension && npm run lint:fix
