# Shortcuts. The README's commands stay the reference: scripts/test.sh and scripts/lab.sh.
#
#   make test                       # ruff, mypy --strict on the core, pytest (scripts/test.sh)
#   make lab                        # JupyterLab with the notebooks (scripts/lab.sh)
#   make bench [BENCH_ARGS=--quick] # every benchmark, one after the other, then one table of
#                                   # ratios (bench/report.py; BENCH_ARGS="--write BENCHMARKS.md"
#                                   # records it; --only NAME runs one)
#   make fuzz [FUZZ_TIME=60]        # every fuzz/fuzz_*.py target for FUZZ_TIME seconds each

PYTHON ?= .venv/bin/python
FUZZ_TIME ?= 60
FUZZ_ARGS ?=
BENCH_ARGS ?=
FUZZ_TARGETS := $(sort $(wildcard fuzz/fuzz_*.py))

.PHONY: test lab bench fuzz

test:
	bash scripts/test.sh

lab:
	bash scripts/lab.sh

# bench/report.py runs bench/parse, load, media, analyze, webrtc and startup.py with
# --json, keeps their output in artifacts/bench/ and prints the one table.
bench:
	$(PYTHON) bench/report.py $(BENCH_ARGS)

# atheris when it is installed (pip install -e '.[fuzz]'), else the plain
# random-mutation loop; add FUZZ_ARGS=--fallback to force the loop.
# A target that fails leaves its input in fuzz/crashes/; the others still run.
fuzz:
	@failed=""; for target in $(FUZZ_TARGETS); do \
		echo "== $$target: $(FUZZ_TIME) s"; \
		$(PYTHON) $$target -max_total_time=$(FUZZ_TIME) $(FUZZ_ARGS) || failed="$$failed $$target"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed (inputs in fuzz/crashes/)"; exit 1; fi
