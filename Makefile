# Bulletin: scheduled reports for Kubernetes. `make demo` and `make test` are the two commands;
# both install and build what they need first (cached under ~/.cache/bulletin).
PYTHON ?= python3
# This checkout's code first, whichever checkout the editable install points at.
export PYTHONPATH := $(CURDIR)/runner:$(CURDIR)/operator:$(CURDIR)/tests$(if $(PYTHONPATH),:$(PYTHONPATH))
LOCALKUBE_DIR ?= .localkube
# Integration tests and the demo run inside a network namespace the harness creates, where the
# API server, the node, the pods and the test servers meet (nothing can leave it).
IN_NETNS = $(PYTHON) -m localkube.netns run --

.PHONY: help deps install controlplane node images verapdf tools cluster cluster-down crds \
	lint test test-faults unit demo demo-up demo-shell demo-console demo-down bench clean

help:
	@echo "make demo          build the images, start a local cluster with a real node, install"
	@echo "                   the chart and deliver one report end to end"
	@echo "make demo-up       the same, left running to explore: make demo-shell (kubectl, helm and"
	@echo "                   kubectl bulletin reach it; CMD='...' runs one command); make demo-down"
	@echo "make demo-console  the console of a running demo-up, in this machine's browser (prints"
	@echo "                   the URL; PORT=8080 picks the loopback port)"
	@echo "make test          lint, type-check and run every test (on the real node)"
	@echo "make test-faults   the long fault tests (tests/faults: operator kills, ...)"
	@echo "make images        build the operator and runner images (podman; tests/images)"
	@echo "make cluster       start the local control plane + a real node in a network namespace"
	@echo "                   (kubectl: python -m localkube kubectl ...); make cluster-down"
	@echo "make crds          regenerate crds/ from the pydantic models"
	@echo "make bench         run the benchmarks in bench/"

deps:
	@bash tests/setup/deps.sh

install: deps

controlplane: deps
	@bash tests/controlplane/build.sh >/dev/null
	@bash tests/helm/build.sh >/dev/null
	@bash tests/s3server/build.sh >/dev/null
	@bash tests/s3sse/build.sh >/dev/null
	@bash tests/kstatus/build.sh >/dev/null
	@bash tests/luahealth/build.sh >/dev/null
	@bash tests/promtool/build.sh >/dev/null
	@bash tests/prometheus/build.sh >/dev/null

# kubelet, kube-proxy, kube-scheduler and the pause binary.
node: controlplane
	@bash tests/node/build.sh >/dev/null

# First the release the upgrade test starts from (tests/upgrade/FROM), then ours (:dev is ours).
images: deps
	@bash tests/upgrade/build.sh >/dev/null
	@bash tests/images/build.sh >/dev/null

verapdf: deps
	@bash tests/validators/verapdf.sh >/dev/null

tools: controlplane node images verapdf

cluster: tools
	$(PYTHON) -m localkube up --dir $(LOCALKUBE_DIR)

cluster-down:
	$(PYTHON) -m localkube down --dir $(LOCALKUBE_DIR)

crds:
	$(PYTHON) -m bulletin.api.crd

lint: deps
	$(PYTHON) -m bulletin.api.crd --check
	$(PYTHON) -m ruff check .
	$(PYTHON) -m mypy
	"$$(bash tests/actionlint/build.sh)" .github/workflows/*.yml
	$(PYTHON) tests/chartdocs.py --check
	$(PYTHON) tests/shape.py  # no product module over 300 lines, no function over 60
	lint-imports  # .importlinter: operator -> bulletin.api only, no import cycles

unit: deps
	$(PYTHON) -m pytest tests/unit

# `make test` leaves out the tests marked `faults` (pyproject addopts); they run here.
test: lint tools
	$(IN_NETNS) $(PYTHON) -m pytest

test-faults: tools
	@start=$$(date +%s); $(IN_NETNS) $(PYTHON) -m pytest -m faults tests/faults; rc=$$?; \
	echo "make test-faults: $$(( $$(date +%s) - start ))s"; exit $$rc

demo: tools
	$(IN_NETNS) $(PYTHON) -m devstack.demo

# The demo in its own network namespace (.demo/netns), left running until `make demo-down`.
demo-up: tools
	$(PYTHON) -m devstack.democtl up

demo-shell:
	@$(PYTHON) -m devstack.democtl shell $(CMD)

demo-console:
	@$(PYTHON) -m devstack.democtl console $(PORT)

demo-down:
	$(PYTHON) -m devstack.democtl down

bench: tools
	@for b in bench/[!_]*.py; do echo "== $$b"; $(IN_NETNS) $(PYTHON) $$b || exit 1; done

clean:
	rm -rf .demo .pytest_cache .mypy_cache .ruff_cache
