# The two commands a user needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

# llama.cpp is built from source by pip; a portable CPU build (no -march=native) so the
# cached wheel runs on any machine of the same architecture, and not with AMX/AVX-512
# kernels that crash on some virtual machines.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
else
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
endif
export CMAKE_ARGS := $(LLAMA_CMAKE_ARGS)

.PHONY: run test lint bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $@ $(VENV)/.installed-run

# `make run PORT=9000 HOST=0.0.0.0`: where to listen (else the config's, or 127.0.0.1:8080).
run: $(VENV)/.installed-run
	$(BIN)/llmrelay serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m bench.run --quick
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-clis.sh
	bash scripts/ensure-nginx.sh
	$(BIN)/pytest

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-smoke: $(VENV)/.installed-dev
	$(BIN)/python -m bench.run --quick

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info tests/output
