# minicontainer: the two commands are `make lab` and `make test` (as root, on Debian 12 / Ubuntu 22.04+).
# Every target installs what it needs first and can be run again safely.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
EX      ?= 01
export MC_LIB_DIR ?= /var/lib/minicontainer
export MC_RUN_DIR ?= /run/minicontainer

.PHONY: need-root lab test check exercises notebooks image deps venv bench clean reset distclean help test-vm vm-run vm-shell vm-base oci-validation

help:
	@echo "make lab        install what is missing, prepare the default image, start JupyterLab (127.0.0.1)"
	@echo "make test       install what is missing, run every test, notebook and exercise check"
	@echo "make check EX=01   check your exercises for one lesson (or EX=1.2 for one part)"
	@echo "make exercises  regenerate exercises/*.py from solutions/ (instructors; overwrites learners' work)"
	@echo "make notebooks  re-execute the lessons and store their outputs (authors)"
	@echo "make bench      run the benchmarks beside runc, skopeo and umoci"
	@echo "make oci-validation RUNTIME_TOOLS=DIR   the OCI runtime-tools suite against minicontainer-oci (lesson 10)"
	@echo "make clean      remove everything the course made on this machine (= minicontainer reset)"
	@echo "make test-vm    run the host-dependent tests and notebooks in a learner's Debian 12 VM (qemu;"
	@echo "                ALL=1 everything, TESTS='tests/test_x.py -k y' a subset, VM_DIRTY=1 uncommitted changes)"
	@echo "make vm-run CMD='uname -r'   boot that VM, run one command in the project there, print its output"
	@echo "make vm-shell   a root shell on the running VM (VM_STAY=1 keeps it up after its job)"

# The course creates namespaces, mounts and cgroups: say so at once instead of failing half-way.
need-root:
	@if [ "$$(id -u)" != 0 ]; then echo "make $(MAKECMDGOALS): this needs root (it installs packages and creates containers). Run: sudo make $(MAKECMDGOALS)" >&2; exit 1; fi

deps: need-root
	@bash scripts/host-deps.sh

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || bash scripts/host-deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || (rm -rf $(VENV) && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV))
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[lab,test]'
	$(PY) -m minicontainer.launcher $(VENV)/bin/minicontainer   # fast start-up for `run` (see launcher.py)
	$(PY) -m minicontainer.launcher $(VENV)/bin/minicontainer-oci oci   # the same for the OCI runtime binary
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

image: deps venv
	@$(PY) -m minicontainer prepare

lab: image
	@echo "Starting JupyterLab on 127.0.0.1 (open the URL with the token it prints)."
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser --allow-root --notebook-dir=notebooks \
	  --ServerApp.terminals_enabled=False

test: image
	@bash scripts/run-tests.sh

check: venv
	@$(PY) -m minicontainer.exercises check $(EX)

exercises: venv
	@$(PY) -m minicontainer.exercises generate

notebooks: image
	@bash scripts/build-notebooks.sh $(NB)

bench: image
	@$(PY) bench/run_all.py

# The OCI runtime-tools validation suite against minicontainer-oci (lesson 10); not part of `make test`:
# its Go sources come from a runtime-tools checkout you give (RUNTIME_TOOLS=DIR). RUNTIME=runc for comparison.
oci-validation: need-root venv
	@bash scripts/oci-validation.sh

clean reset: need-root
	@if [ -x $(PY) ]; then $(PY) -m minicontainer reset; else echo "nothing installed yet"; fi

# A learner's VM (Debian 12: kernel 6.1, systemd, cgroup v2, /run noexec) under qemu: scripts/test-vm.sh.
# Not part of `make test`. Its settings (ALL, TESTS, VM_DIRTY, VM_TIMEOUT, VM_STAY, VM_KEEP) reach the
# script through the environment; CMD and TESTS unexpanded, so `$` in them is the shell's.
test-vm: export MC_VM_TESTS := $(value TESTS)
vm-run: export MC_VM_CMD := $(value CMD)
test-vm: need-root
	@bash scripts/test-vm.sh test

vm-run: need-root
	@bash scripts/test-vm.sh run "$$MC_VM_CMD"

vm-shell:
	@python3 scripts/vm/shell

vm-base: need-root
	@bash scripts/test-vm.sh build

distclean: clean
	rm -rf $(VENV)
