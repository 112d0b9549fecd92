#  genbot — see README.md. `make run` and `make test` are all a newcomer needs.

CC       ?= cc
PKGS     := libczmq libzmq libcurl msgpack sqlite3 jansson libmicrohttpd
DEPS_DEB := libzmq3-dev libczmq-dev libcurl4-openssl-dev libmsgpack-dev \
            libsqlite3-dev libjansson-dev libmicrohttpd-dev libcmocka-dev \
            pkg-config cppcheck clang-format
BUILD    ?= build
CFLAGS   ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Iinclude -pthread \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
override LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread -lm
TEST_LDLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*.c src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC:= $(wildcard bench/*.c)
HDRS     := $(wildcard include/*.h src/*.h src/*/*.h tests/*.h)

#  keep object files of tests (make would delete them as intermediates)
.SECONDARY:

.PHONY: all deps run test asan tsan lint format bench clean check-deps
all: $(BUILD)/genbot $(BUILD)/genbot-bench $(TEST_BIN)

#  Installs whichever Debian packages are missing (apt lists refreshed first).
deps:
	@missing=""; for p in $(DEPS_DEB); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "make deps: missing:$$missing"; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq$$missing >/dev/null || \
	  { echo "make deps: apt-get install failed"; exit 1; }

$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libgenbot.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/genbot: $(BUILD)/src/main.o $(BUILD)/libgenbot.a
		@echo "LD $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/genbot-bench: $(BENCH_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libgenbot.a
		@echo "LD $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libgenbot.a
		@echo "LD $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LDLIBS)

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/genbot
	@$(BUILD)/genbot run

test: deps
	@$(MAKE) --no-print-directory all
	@tests/run.sh $(BUILD) $(TESTS)

#  AddressSanitizer + UndefinedBehaviorSanitizer over the same tests.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  GENBOT_TEST_SCALE=$${GENBOT_TEST_SCALE:-4} tests/run.sh build-asan $(TESTS)

tsan: deps
	@$(MAKE) --no-print-directory BUILD=build-tsan \
	  CFLAGS="-O1 -g -fsanitize=thread" all
	@GENBOT_TEST_SCALE=$${GENBOT_TEST_SCALE:-4} tests/run.sh build-tsan $(TESTS)

bench: $(BUILD)/genbot-bench $(BUILD)/genbot
	$(BUILD)/genbot-bench ledger
	$(BUILD)/genbot-bench interactive --users 400 --duration 10
	$(BUILD)/genbot-bench orders --duration 15
	$(BUILD)/genbot-bench fanout --users 400 --kie-task-ms 5000 --ramp 5 --duration 10
	$(BUILD)/genbot-bench faults --duration 15

lint: deps
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	  --inline-suppr --suppress=missingIncludeSystem -Iinclude src tests bench
	clang-format --dry-run -Werror $(wildcard src/*.c src/*/*.c include/*.h src/*.h tests/*.c tests/*.h bench/*.c)

format:
	clang-format -i $(wildcard src/*.c src/*/*.c include/*.h src/*.h tests/*.c tests/*.h bench/*.c)

clean:
	rm -rf build build-asan build-tsan
