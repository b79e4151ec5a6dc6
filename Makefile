# Two entry points, each sets up its own virtualenv from nothing:
#   make demo   restyle the bundled sample clip with the embedded default model
#   make test   run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The CPU build of torch that these machines keep on disk; override with TORCH=... for a CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: setup demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(PY) -m pip install -q --disable-pip-version-check -e ".[test,tokenizers,train]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	mkdir -p out
	$(PY) -m v2v restyle assets/sample_blocky.mp4 out/sample_realistic.mp4 --prompt "realistic sunny hills" --overwrite

test: setup
	$(PY) -m pytest

clean:
	rm -rf $(VENV) out
