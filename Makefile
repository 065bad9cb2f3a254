# ringwatch: `make demo` and `make test` work on a fresh machine (Python 3.11, Java 17, Maven).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LAUNCHER := server/target/plugins/ringwatch-neo4j-1.0.jar
DEMO_ACCOUNTS ?= 25000
DEMO_DIR ?= demo-world

.PHONY: install demo test test-fast lint bench server clean

install: $(VENV)/.installed $(LAUNCHER)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $@

# Neo4j 5.26 and GDS 2.13 from Maven Central (cached in ~/.m2), plus the small launcher.
$(LAUNCHER): server/pom.xml $(shell find server/src -type f)
	mvn -B -q -f server/pom.xml package -DskipTests
	touch $@

server: $(LAUNCHER)

# Start the database, generate a world, load it, find the rings, then serve the app.
demo: install
	$(BIN)/ringwatch db start
	$(BIN)/ringwatch db status
	$(BIN)/ringwatch users add demo --role analyst --random-password --if-missing
	test -f $(DEMO_DIR)/truth/accounts.csv || $(BIN)/ringwatch generate $(DEMO_DIR) --accounts $(DEMO_ACCOUNTS) --seed 1
	$(BIN)/ringwatch ingest $(DEMO_DIR) --report $(DEMO_DIR)-report/ingest.json
	$(BIN)/ringwatch detect --top 10
	$(BIN)/ringwatch evaluate $(DEMO_DIR)/truth
	$(BIN)/ringwatch app --port 8501

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q

# The unit tests: pure logic, no database, seconds.
test-fast: $(VENV)/.installed
	$(BIN)/pytest -q tests/unit

# Needs the virtualenv only (no Maven, no database).
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Benchmarks empty the database they run on, so they get their own state directory and port,
# and never inherit NEO4J_* (which could point them at a real database).
BENCH_ENV := env -u NEO4J_URI -u NEO4J_USER -u NEO4J_PASSWORD -u NEO4J_DATABASE \
	RINGWATCH_STATE=.ringwatch-bench RINGWATCH_BOLT_PORT=7787

bench: install
	$(BENCH_ENV) $(BIN)/python bench/run.py quality
	$(BENCH_ENV) $(BIN)/python bench/run.py scale
	$(BENCH_ENV) $(BIN)/ringwatch db reset --yes
	$(BENCH_ENV) $(BIN)/python bench/app_latency.py --accounts 100000 --prepare
	$(BENCH_ENV) $(BIN)/ringwatch db stop

clean:
	-$(BIN)/ringwatch db stop
	rm -rf $(VENV) server/target
