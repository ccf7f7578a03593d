# Everyday targets; each goes through scripts/dev.sh, which installs what is missing first.
.PHONY: install run test bench lint models image

install:
	scripts/dev.sh install

run:
	scripts/dev.sh run

test:
	scripts/dev.sh test

bench:
	scripts/dev.sh bench

lint: install
	.venv/bin/ruff check appliance tests bench

models: install
	.venv/bin/dentra models fetch

image:
	@echo "make image: the flashable image arrives with appliance operations (issue 6); see image/README.md" >&2; exit 1
