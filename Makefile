# The two entry points of the README. Both do all the set-up a fresh machine needs:
# a virtualenv with the package, and the emulated control plane built from upstream Go
# modules into a cache outside the clone (first time only).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
ARGS   ?=
# Test workers: each runs its own emulated clusters (tests/conftest.py groups the items). Three on
# two cores: the tests mostly wait on clusters (about 60 % CPU with two workers).
TEST_WORKERS ?= 3

.PHONY: run test setup lint browser bench bench-up clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is needed (PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)
	$(BIN)/harvester-conformance cluster build
	$(BIN)/harvester-conformance report --install

# The HTML report's test opens the report in Debian's Chromium (headless) and reads its screenshot
# with tesseract; both installed here when missing and this is Debian run as root (CI), else the
# test says how to install them.
BROWSER_PACKAGES := chromium tesseract-ocr tesseract-ocr-eng
browser:
	@{ command -v chromium && command -v tesseract; } >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES) >/dev/null; } \
	  || echo "not installed: $(BROWSER_PACKAGES) (apt-get install as root): the HTML report's browser tests need them"; }

run: setup
	$(BIN)/harvester-conformance run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src conformance tests bench conftest.py
	$(BIN)/lint-imports --no-cache

test: setup lint browser
	$(BIN)/pytest tests -n $(TEST_WORKERS) -p no:cacheprovider -ra --durations=25 $(ARGS)

# Issue 15's benchmark: the scale profile at ARGS' sizes and the suite against it (bench/scale.py);
# bench-up times `cluster up` of a release profile (bench/cluster_up.py).
bench: setup
	$(BIN)/python bench/scale.py $(ARGS)

bench-up: setup
	$(BIN)/python bench/cluster_up.py $(ARGS)

clean:
	rm -rf $(VENV) reports/hc-* src/*.egg-info
