# `make serve` sets up a virtual environment and starts Lamina; `make test` sets up and runs every test.
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/lamina: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

.PHONY: serve test chromium
serve: $(BIN)/lamina
	$(BIN)/lamina serve

chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

test: $(BIN)/lamina chromium
	$(BIN)/pytest
