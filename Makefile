# Two entry points, each sets up its own virtualenv from nothing:
#   make demo   restyle the bundled sample clip with the embedded default model
#   make test   run the test suite
# and for development:
#   make check  lint (ruff), formatting (ruff format) and types (mypy)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU build of torch that these machines keep on disk; override with TORCH=... for a CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: setup demo test check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,tokenizers,train,check]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	mkdir -p out
	$(PY) -m v2v restyle assets/sample_blocky.mp4 out/sample_realistic.mp4 --prompt "realistic sunny hills" --overwrite

test: setup
	$(PY) -m pytest

check: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy v2v capture plugins

clean:
	rm -rf $(VENV) out
