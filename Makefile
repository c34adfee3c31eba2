# Shortcuts. The README's commands stay the reference: scripts/test.sh and scripts/lab.sh.
#
#   make test                       # ruff, mypy --strict on the core, pytest (scripts/test.sh)
#   make lab                        # JupyterLab with the notebooks (scripts/lab.sh)
#   make bench [BENCH_ARGS=--quick] # every bench/*.py script, one after the other
#   make fuzz [FUZZ_TIME=60]        # every fuzz/fuzz_*.py target for FUZZ_TIME seconds each

PYTHON ?= .venv/bin/python
FUZZ_TIME ?= 60
FUZZ_ARGS ?=
BENCH_ARGS ?=
FUZZ_TARGETS := $(sort $(wildcard fuzz/fuzz_*.py))
BENCH_SCRIPTS := $(sort $(filter-out bench/_%,$(wildcard bench/*.py)))

.PHONY: test lab bench fuzz

test:
	bash scripts/test.sh

lab:
	bash scripts/lab.sh

bench:
	@set -e; for script in $(BENCH_SCRIPTS); do \
		echo "== $$script $(BENCH_ARGS)"; \
		$(PYTHON) $$script $(BENCH_ARGS); \
	done

# atheris when it is installed (pip install -e '.[fuzz]'), else the plain
# random-mutation loop; add FUZZ_ARGS=--fallback to force the loop.
# A target that fails leaves its input in fuzz/crashes/; the others still run.
fuzz:
	@failed=""; for target in $(FUZZ_TARGETS); do \
		echo "== $$target: $(FUZZ_TIME) s"; \
		$(PYTHON) $$target -max_total_time=$(FUZZ_TIME) $(FUZZ_ARGS) || failed="$$failed $$target"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed (inputs in fuzz/crashes/)"; exit 1; fi
