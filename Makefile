# Everyday targets; each goes through scripts/dev.sh, which installs what is missing first.
.PHONY: install run test bench lint models image image-test

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

# bootable raw disk image (as root): build/image/dentra-edge.raw; see image/README.md
image: install
	image/build.sh

# boots the image headless under qemu and waits for the services' ready markers
image-test:
	image/test.sh
