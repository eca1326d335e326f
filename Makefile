# Bulletin: scheduled reports for Kubernetes. `make demo` and `make test` are the two commands.
PYTHON ?= python3
export PYTHONPATH := $(CURDIR)/tests$(if $(PYTHONPATH),:$(PYTHONPATH))
LOCALKUBE_DIR ?= .localkube

.PHONY: help install controlplane node images verapdf cluster cluster-down crds lint test unit demo bench clean

help:
	@echo "make install       install Bulletin and its dev tools (pip, editable)"
	@echo "make demo          run one report end to end on a local control plane"
	@echo "make test          lint, type-check and run every test"
	@echo "make images        build the operator and runner images (podman; tests/images)"
	@echo "make cluster       start the local control plane + a real node in a network namespace"
	@echo "                   (kubectl: python -m localkube kubectl ...); make cluster-down"
	@echo "make crds          regenerate crds/ from the pydantic models"
	@echo "make bench         run the benchmarks in bench/"
	@echo "make verapdf       fetch the veraPDF validator (Maven Central, cached)"

install:
	$(PYTHON) -m pip install -q -e ".[dev]"

controlplane:
	@bash tests/controlplane/build.sh
	@bash tests/helm/build.sh
	@bash tests/s3server/build.sh

verapdf:
	@bash tests/validators/verapdf.sh

# kubelet, kube-proxy, kube-scheduler and the pause binary (needs the apt packages in README).
node:
	@bash tests/node/build.sh

images:
	@bash tests/images/build.sh >/dev/null

cluster: controlplane node
	$(PYTHON) -m localkube up --dir $(LOCALKUBE_DIR)

cluster-down:
	$(PYTHON) -m localkube down --dir $(LOCALKUBE_DIR)

crds:
	$(PYTHON) -m bulletin.api.crd

lint:
	$(PYTHON) -m bulletin.api.crd --check
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy

unit:
	$(PYTHON) -m pytest tests/unit

test: lint controlplane
	$(PYTHON) -m pytest

demo: controlplane
	$(PYTHON) -m devstack.demo

bench:
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PYTHON) $$b || exit 1; done

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
